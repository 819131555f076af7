"""Plain-JSON values: numbers, arrays, tensors, sequences and maps as data (self-checks, the grader's wire).

The self-checks store the solution's answers to their public cases in this form
(``labhelpers/checks/expected/<lab>.json``), and the grader's sandbox sends answers back in it. Nothing
is pickled: an array or a tensor is a flat list of float64 numbers with its shape and dtype, a sequence
or a dict a tagged list, anything else only its type name and a short repr, so an answer whose
``__eq__`` always returns True cannot pass a comparison made on the decoded data.
"""
from __future__ import annotations

import sys
from typing import Any

MAX_DEPTH = 12           # nesting of lists/dicts in one value
MAX_NUMBERS = 2_000_000  # numbers in one encoded value
MAX_TEXT = 10_000        # characters of a string
MAX_ITEMS = 100_000      # items of one list or dict


class Budget:
    """How many numbers one encoded value may still use (shared over one ``encode`` call)."""

    def __init__(self, numbers: int = MAX_NUMBERS):
        self.numbers = numbers


def safe_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` shortened, or a placeholder when the object's ``__repr__`` raises."""
    try:
        text = repr(value)
    except BaseException:  # a student's __repr__ may raise anything
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + "..."


def _array(value: Any, kind: str, dtype: str, budget: Budget) -> dict:
    import numpy as np
    data = np.asarray(value)
    if data.size > budget.numbers:
        return {"__opaque__": kind, "repr": f"too large: {data.size} numbers"}
    budget.numbers -= data.size
    if data.dtype.kind == "c":
        return {"__opaque__": kind, "repr": f"complex {dtype} values"}
    try:
        values = data.astype(np.float64).ravel().tolist()
    except (TypeError, ValueError):
        return {"__opaque__": kind, "repr": f"non-numeric {dtype} values"}
    return {"__nd__": values, "shape": [int(n) for n in data.shape], "dtype": dtype, "kind": kind}


def to_numpy(value: Any):
    """A tensor (detached, on the CPU; bfloat16 widened to float32) or array-like as a NumPy array."""
    import numpy as np
    if hasattr(value, "detach"):
        tensor = value.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError:  # bfloat16 and other dtypes NumPy lacks
            return tensor.float().numpy()
    return np.asarray(value)


def encode(value: Any, depth: int = 0, budget: Budget | None = None) -> Any:
    """``value`` as JSON-able data: None/bool/int/float/str, or a tagged dict (see the module doc)."""
    budget = budget or Budget()
    if depth > MAX_DEPTH:
        return {"__opaque__": type(value).__name__, "repr": "nested too deeply"}
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)[:MAX_TEXT]
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")  # loaded by the caller's code, if at all
    if torch is not None and isinstance(value, torch.Tensor):
        out = _array(to_numpy(value), "tensor", str(value.dtype), budget)
        out["requires_grad"] = bool(value.requires_grad)
        return out
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        kind = "ndarray" if isinstance(value, np.ndarray) else "numpy-scalar"
        return _array(value, kind, str(value.dtype), budget)
    if isinstance(value, (list, tuple)):
        items = [encode(item, depth + 1, budget) for item in list(value)[:MAX_ITEMS]]
        return {"__seq__": items, "type": "tuple" if isinstance(value, tuple) else "list"}
    if isinstance(value, dict):
        pairs = [[encode(k, depth + 1, budget), encode(v, depth + 1, budget)]
                 for k, v in list(value.items())[:MAX_ITEMS]]
        return {"__map__": pairs}
    if torch is not None and isinstance(value, torch.nn.Module):  # its weights: a dict name -> tensor
        try:
            state = list(torch.nn.Module.state_dict(value, keep_vars=True).items())[:MAX_ITEMS]  # keeps requires_grad
        except Exception:  # noqa: BLE001 - a student's module may break anything
            return {"__opaque__": type(value).__name__, "repr": "an nn.Module whose state_dict() fails"}
        return {"__map__": [[name, encode(t, depth + 1, budget)] for name, t in state], "module": type(value).__name__}
    return {"__opaque__": type(value).__name__, "repr": safe_repr(value)}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def decode(data: Any) -> Any:
    """Rebuild the value :func:`encode` described (arrays, tensors, tuples, lists, dicts; opaque stays data)."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    if "__nd__" in data:
        import numpy as np
        dtype = str(data["dtype"]).replace("torch.", "")
        array = np.array(data["__nd__"], dtype=np.float64).reshape(data["shape"])
        array = array.astype("float32" if dtype == "bfloat16" else dtype)
        if data.get("kind") != "tensor":
            return array if data.get("kind") == "ndarray" else array[()]
        import torch
        tensor = torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape)).clone()  # keeps 0-d
        if dtype == "bfloat16":
            tensor = tensor.to(torch.bfloat16)
        return tensor.requires_grad_(True) if data.get("requires_grad") else tensor
    if "__seq__" in data:
        items = [decode(item) for item in data["__seq__"]]
        return tuple(items) if data.get("type") == "tuple" else items
    if "__map__" in data:
        return {_hashable(decode(k)): decode(v) for k, v in data["__map__"]}
    return data
