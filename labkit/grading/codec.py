"""Plain-JSON encoding of probe inputs and answers between the grader and the sandbox (grading, all labs).

Nothing is pickled: arrays and tensors travel as a flat list of float64 numbers with their shape and
dtype, sequences and dicts as tagged lists, and any other object only as its type name and a short
repr. So an answer whose ``__eq__`` always returns True, or a monkeypatched ``torch.allclose`` in the
student's process, cannot reach the grader's comparison. numpy/torch are imported only when needed.
"""
from __future__ import annotations

import base64
import math
import os
import sys
from typing import Any

MAX_DEPTH = 12           # nesting of lists/dicts in an answer
MAX_NUMBERS = 2_000_000  # numbers in one encoded answer
MAX_TEXT = 10_000        # characters of a string answer


class Budget:
    """How many numbers an answer may still use (shared over one encode call)."""

    def __init__(self, numbers: int = MAX_NUMBERS):
        self.numbers = numbers


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


def _safe_repr(value: Any, limit: int = 200) -> str:
    try:
        text = repr(value)
    except BaseException:  # a student's __repr__ may raise anything
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + "..."


def encode(value: Any, depth: int = 0, budget: Budget | None = None) -> Any:
    """``value`` as JSON-able data: None/bool/int/float/str, or a tagged dict (see module doc)."""
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
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")  # loaded by the student's code, if at all
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        try:
            array = tensor.numpy()
        except TypeError:  # bfloat16 and other dtypes NumPy lacks
            array = tensor.float().numpy()
        out = _array(array, "tensor", str(tensor.dtype), budget)
        out["requires_grad"] = bool(value.requires_grad)
        return out
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        kind = "ndarray" if isinstance(value, np.ndarray) else "numpy-scalar"
        return _array(value, kind, str(value.dtype), budget)
    if isinstance(value, (list, tuple)):
        items = [encode(item, depth + 1, budget) for item in list(value)[:100_000]]
        return {"__seq__": items, "type": "tuple" if isinstance(value, tuple) else "list"}
    if isinstance(value, dict):
        pairs = [[encode(k, depth + 1, budget), encode(v, depth + 1, budget)] for k, v in list(value.items())[:10_000]]
        return {"__map__": pairs}
    if torch is not None and isinstance(value, torch.nn.Module):  # its weights: a dict name -> tensor
        try:
            state = list(torch.nn.Module.state_dict(value, keep_vars=True).items())[:10_000]  # keeps requires_grad
        except Exception:  # noqa: BLE001 - a student's module may break anything
            return {"__opaque__": type(value).__name__, "repr": "an nn.Module whose state_dict() fails"}
        return {"__map__": [[name, encode(t, depth + 1, budget)] for name, t in state], "module": type(value).__name__}
    return {"__opaque__": type(value).__name__, "repr": _safe_repr(value)}


# ----------------------------------------------------------------------------- decoding (inputs)
def _poly_trig(spec: dict):
    """f(x) = sum_k poly[k] x**k + a sin(b x) + d exp(e x), written with torch operations."""
    import torch
    poly = [float(c) for c in spec.get("poly", [])]
    a, b = (float(v) for v in spec.get("sin", (0.0, 0.0)))
    d, e = (float(v) for v in spec.get("exp", (0.0, 0.0)))

    def f(x):
        total = x * 0.0
        for k, c in enumerate(poly):
            total = total + c * x**k
        return total + a * torch.sin(b * x) + d * torch.exp(e * x)
    return f


FUNCTIONS = {"poly_trig": _poly_trig}
MODELS = ("NetFF", "NetCNN", "LeNet", "LeNetModified")   # labhelpers.models
ARCHITECTURES = ("EfficientNetLiteTiny",)                # built by _architecture (lab 10)
LAYERS = ("Linear", "Conv1d", "Conv2d", "BatchNorm1d", "BatchNorm2d", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
          "ELU", "Flatten", "Dropout", "MaxPool2d")  # torch.nn classes a __layers__ input may use


def build_layers(spec: list, seed: int, stale_grads: bool = False):
    """``spec`` [[name, *numbers], ...] as torch.nn layers (one alone, more in nn.Sequential), weights from ``seed``.

    ``stale_grads``: every parameter's ``.grad`` already holds noise, as after an earlier backward pass
    (a function that should start from zero gradients must clear them).
    """
    import torch
    from torch import nn
    layers = []
    for name, *args in spec:
        if name not in LAYERS or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise ValueError(f"unknown layer {name!r} or non-numeric arguments; known: {LAYERS}")
        layers.append(getattr(nn, name)(*args))
    model = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
    model = fill_weights(model, seed).train()
    if stale_grads:
        generator = torch.Generator().manual_seed(seed + 1)
        for parameter in model.parameters():
            parameter.grad = torch.randn(tuple(parameter.shape), generator=generator).to(parameter.dtype)
    return model


def fill_weights(model, seed: int, scaled: bool = False):
    """Overwrite every float tensor of ``model``'s state with uniform noise from ``seed`` (same in any process).

    ``scaled`` (deep networks): weights of variance 1/fan_in and BatchNorm scales in [0.5, 1.5], so
    activations neither vanish nor wash out the input over 16 blocks; otherwise noise in [-0.2, 0.2].
    """
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            if tensor.is_floating_point():
                noise = torch.rand(tuple(tensor.shape), generator=generator, dtype=torch.float64)
                if name.endswith("running_var") or (scaled and tensor.dim() == 1 and name.endswith("weight")):
                    value = noise + 0.5
                elif scaled and tensor.dim() >= 2:
                    value = (noise * 2 - 1) * math.sqrt(3 / tensor[0].numel())   # variance 1 / fan_in
                else:
                    value = (noise * 2 - 1) * 0.2
                tensor.copy_(value.to(tensor.dtype))
    return model.eval()


def module_probe(model, spec: dict) -> dict:
    """Fill ``model``'s weights from ``spec["seed"]``, run it on ``spec["input"]``; output and state shapes."""
    import torch
    if not (hasattr(model, "state_dict") and callable(model)):
        return {"__opaque__": type(model).__name__, "repr": "not a torch model (nn.Module)"}
    state = [[name, list(tensor.shape)] for name, tensor in sorted(model.state_dict().items())]
    fill_weights(model, int(spec["seed"]))
    with torch.no_grad():
        output = model(spec["input"])
    return {"__map__": [["output", encode(output)], ["state", encode(state)]]}


def decode(data: Any, files_dir: str | None = None) -> Any:
    """Rebuild a probe input from :func:`encode`'s output (plus ``__fn__`` and ``__file__`` specs)."""
    if isinstance(data, list):
        return [decode(item, files_dir) for item in data]
    if not isinstance(data, dict):
        return data
    if "__nd__" in data:
        import numpy as np
        dtype = data["dtype"].replace("torch.", "")
        array = np.array(data["__nd__"], dtype=np.float64).reshape(data["shape"]).astype(dtype)
        if data.get("kind") != "tensor":
            return array if data.get("kind") == "ndarray" else array[()]
        import torch
        tensor = torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape)).clone()  # keeps 0-d
        return tensor.requires_grad_(True) if data.get("requires_grad") else tensor
    if "__seq__" in data:
        items = [decode(item, files_dir) for item in data["__seq__"]]
        return tuple(items) if data.get("type") == "tuple" else items
    if "__map__" in data:
        return {_hashable(decode(k, files_dir)): decode(v, files_dir) for k, v in data["__map__"]}
    if "__fn__" in data:
        return FUNCTIONS[data["__fn__"]](data)
    if "__file__" in data:
        if files_dir is None:
            raise ValueError("a __file__ input needs a folder to write into")
        path = os.path.join(files_dir, os.path.basename(data["__file__"]))
        content = base64.b64decode(data["base64"]) if "base64" in data else data["text"].encode("utf-8")
        with open(path, "wb") as fp:
            fp.write(content)
        return path
    if "__layers__" in data:
        return build_layers(data["__layers__"], int(data["seed"]), bool(data.get("stale_grads")))
    if "__module__" in data:
        name = data["__module__"]
        if name in MODELS:
            from labhelpers import models
            model = getattr(models, name)()
        elif name in ARCHITECTURES:
            model = _architecture(name)
        else:
            raise ValueError(f"unknown model {name!r}; known: {MODELS + ARCHITECTURES}")
        model = fill_weights(model, int(data["seed"]), scaled=name in ARCHITECTURES)
        return model.train() if data.get("train") else model
    return {key: decode(value, files_dir) for key, value in data.items()}


def _architecture(name: str):
    """EfficientNetLiteTiny: EfficientNet-Lite0's anatomy (_blocks, _conv_head, _bn1, _fc, extract_features)
    at a quarter of its width with 10 classes: 0.37M weights instead of 4.7M, so answers stay small."""
    from efficientnet_lite_pytorch import EfficientNet
    return EfficientNet.from_name("efficientnet-lite0", width_coefficient=0.25, num_classes=10)


def resolve_attrs(args: list) -> list:
    """Replace each ``{"__attr__": path, "arg": i}`` by ``args[i].get_submodule(path)``: a layer of another argument."""
    out = list(args)
    for index, arg in enumerate(out):
        if isinstance(arg, dict) and set(arg) == {"__attr__", "arg"}:
            out[index] = out[int(arg["arg"])].get_submodule(str(arg["__attr__"]))
    return out


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def is_finite_number(value: Any) -> bool:
    """True for an int or a finite float (not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
