"""Compare a student's encoded answers with the reference's and score one exercise (grading, all labs).

Both sides are plain JSON data made by :mod:`codec` (the student's in the sandbox, the reference's in
the grading process), so the comparison only ever sees numbers, strings and lists.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .spec import Call, Exercise


def is_integer(enc: Any) -> bool:
    """True for an encoded int: a Python int, or a NumPy/0-d torch integer (not bool, not float)."""
    if kind(enc) == "int":
        return True
    return (kind(enc) in ("numpy-scalar", "tensor", "ndarray") and not enc["shape"]
            and "int" in enc["dtype"] and "bool" not in enc["dtype"])


def kind(enc: Any) -> str:
    """The kind of an encoded value: tensor, ndarray, numpy-scalar, int, float, bool, str, None, list..."""
    if isinstance(enc, dict):
        if "__nd__" in enc:
            return enc.get("kind", "ndarray")
        if "__seq__" in enc:
            return enc.get("type", "list")
        if "__map__" in enc:
            return "dict"
        return "object"
    return {bool: "bool", int: "int", float: "float", str: "str", type(None): "None"}.get(type(enc), "object")


def describe(enc: Any) -> str:
    """A short description of an encoded value, e.g. 'a torch tensor (torch.float32) of shape (2, 8)'."""
    k = kind(enc)
    if k in ("tensor", "ndarray", "numpy-scalar"):
        name = {"tensor": "a torch tensor", "ndarray": "a NumPy array", "numpy-scalar": "a NumPy number"}[k]
        shape = f" of shape {tuple(enc['shape'])}" if enc["shape"] else ""
        return f"{name} ({enc['dtype']}){shape}"
    if k in ("list", "tuple"):
        return f"a {k} of {len(enc['__seq__'])} items"
    if k == "dict":
        return f"a dict of {len(enc['__map__'])} items"
    if k == "object":
        return f"an object of type {enc.get('__opaque__', '?')} ({enc.get('repr', '')})" if isinstance(enc, dict) \
            else "a value"
    return {"None": "None", "int": "an int", "float": "a float", "bool": "a bool", "str": "a str"}[k]


def as_array(enc: Any) -> np.ndarray | None:
    """Numbers of an encoded value as a float64 array (nested lists of numbers too), else None."""
    k = kind(enc)
    if k in ("tensor", "ndarray", "numpy-scalar"):
        return np.array(enc["__nd__"], dtype=np.float64).reshape(enc["shape"])
    if k in ("int", "float"):
        return np.array(float(enc))
    if k in ("list", "tuple"):
        items = [as_array(item) for item in enc["__seq__"]]
        if any(item is None for item in items) or len({item.shape for item in items}) > 1:
            return None
        return np.stack(items) if items else np.zeros((0,))
    return None


def _numbers(got: Any, want: Any, atol: float, rtol: float) -> str | None:
    g, w = as_array(got), as_array(want)
    if g is None:
        return f"expected {describe(want)}, received {describe(got)}"
    if g.shape != w.shape and not (w.ndim == 0 and g.size == 1):
        return f"expected shape {tuple(w.shape)}, received shape {tuple(g.shape)}"
    g = g.reshape(w.shape)
    if np.allclose(g, w, atol=atol, rtol=rtol, equal_nan=False):
        return None
    if w.ndim == 0:
        return f"wrong value (received {got if isinstance(got, (int, float)) else float(g)})"
    diff = np.where(np.isfinite(g), np.abs(g - w), np.inf)
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    return f"wrong values ({int(np.sum(~np.isclose(g, w, atol=atol, rtol=rtol)))} of {w.size} differ, e.g. at {where})"


def compare(got: Any, want: Any, atol: float = 1e-6, rtol: float = 1e-5, strict: bool = False) -> str | None:
    """None when ``got`` matches ``want`` (encoded values), else a short reason for the student."""
    k_got, k_want = kind(got), kind(want)
    if strict and k_got != k_want and not {k_got, k_want} <= {"list", "tuple"}:
        return f"expected {describe(want)}, received {describe(got)}"
    if k_want in ("tensor", "ndarray", "numpy-scalar", "int", "float"):
        if strict and k_want in ("tensor", "ndarray") and got.get("dtype") != want.get("dtype"):
            return f"expected dtype {want['dtype']}, received {got['dtype']}"
        return _numbers(got, want, atol, rtol)
    if k_want in ("bool", "None", "str"):
        if k_got == "numpy-scalar" and k_want == "bool" and got["dtype"] == "bool":
            got = bool(got["__nd__"][0])
        if type(got) is not type(want) or got != want:
            shown = f" {got!r}" if isinstance(got, (bool, type(None))) else ""
            return f"expected {describe(want)}, received {describe(got)}{shown}" if type(got) is not type(want) \
                else "wrong value"
        return None
    if k_want in ("list", "tuple"):
        if k_got not in ("list", "tuple"):
            if as_array(want) is not None and as_array(got) is not None:
                return _numbers(got, want, atol, rtol)
            return f"expected {describe(want)}, received {describe(got)}"
        items_got, items_want = got["__seq__"], want["__seq__"]
        if len(items_got) != len(items_want):
            return f"expected {len(items_want)} items, received {len(items_got)}"
        for index, (g, w) in enumerate(zip(items_got, items_want)):
            reason = compare(g, w, atol, rtol, strict)
            if reason:
                return f"item {index}: {reason}"
        return None
    if k_want == "dict":
        if k_got != "dict":
            return f"expected {describe(want)}, received {describe(got)}"
        g_map = {repr(k): v for k, v in got["__map__"]}
        w_map = {repr(k): v for k, v in want["__map__"]}
        if set(g_map) != set(w_map):
            missing, extra = len(set(w_map) - set(g_map)), len(set(g_map) - set(w_map))
            return f"wrong keys ({missing} missing, {extra} unexpected)"
        for key, w in w_map.items():
            reason = compare(g_map[key], w, atol, rtol, strict)
            if reason:
                return f"key {key}: {reason}"
        return None
    return "the reference answer cannot be compared (instructor: fix the hidden test)"


def score_exercise(exercise: Exercise, calls: list[Call], expected: list[Any], responses: list[dict] | None,
                   failure: dict | None = None) -> dict:
    """Score one exercise from the sandbox's per-call responses (or the failure that prevented them).

    All or nothing by default; ``exercise.split == "probes"`` or ``exercise.parts`` give partial credit, and
    the result then lists each part with what it earned (``parts``)."""
    result = {"function": exercise.function, "points": 0.0, "max_points": float(exercise.points),
              "status": "passed", "detail": ""}
    if failure is None and (responses is None or len(responses) != len(calls)):
        failure = {"status": "error", "detail": "the sandbox sent no usable answer"}
    if failure is not None:
        result.update(status=failure["status"], detail=failure["detail"], message=exercise.message)
        return result
    judged = [_judge(exercise, call, want, r if isinstance(r, dict) else {})
              for call, want, r in zip(calls, expected, responses)]
    blocking = next(((status, detail) for status, detail in judged
                     if status not in ("passed", "wrong")), None)  # raised, missing, forbidden: nothing earned
    if exercise.parts or exercise.split == "probes":
        parts = [] if blocking else _parts(exercise, calls, expected, responses, judged)
        result["parts"] = parts
        result["points"] = round(sum(part["points"] for part in parts), 6)
    elif not any(status != "passed" for status, _ in judged):
        result["points"] = float(exercise.points)
    failed = blocking or next(((status, detail) for status, detail in judged if status != "passed"), None)
    if result["points"] >= exercise.points - 1e-9:
        result.update(points=float(exercise.points), status="passed")
    else:
        status, detail = failed if failed else ("wrong", "")
        if result["points"] > 0:
            status = "partial"
            detail = "; ".join(f"{p['name']}: {p['detail']}" for p in result.get("parts", []) if p["detail"])
        result.update(status=status, detail=detail[:1000], message=exercise.message)
    return result


def _parts(exercise: Exercise, calls: list[Call], expected: list[Any], responses: list[dict],
           judged: list[tuple[str, str]]) -> list[dict]:
    """What each part (or each probe, with split="probes") earned: [{"name", "points", "max_points", "detail"}]."""
    if not exercise.parts:
        share = exercise.points / max(1, len(calls))
        return [{"name": call.label or f"case {i + 1}", "points": share if status == "passed" else 0.0,
                 "max_points": share, "detail": "" if status == "passed" else detail}
                for i, (call, (status, detail)) in enumerate(zip(calls, judged))]
    out = []
    for part in exercise.parts:
        reason = None
        for call, want, response in zip(calls, expected, responses):
            if part.cases and not any(case in call.label for case in part.cases):
                continue
            try:
                reason = part.check(call, response.get("value"), want)
            except Exception as err:  # noqa: BLE001 - an odd answer costs this part only
                reason = f"the answer could not be read ({type(err).__name__})"
            if reason:
                reason += f" (case: {call.label})" if call.label else ""
                break
        out.append({"name": part.name, "points": 0.0 if reason else float(part.points),
                    "max_points": float(part.points), "detail": reason or ""})
    return out


def _judge(exercise: Exercise, call: Call, want: Any, response: dict) -> tuple[str, str]:
    case = f" (case: {call.label})" if call.label else ""
    if "missing" in response:
        return "missing", str(response["missing"])
    if "forbidden" in response:
        return "forbidden", (f"your function called {response['forbidden']}, which this exercise asks you to "
                             "write yourself")[:500] + case
    if "error" in response:
        error = response["error"] if isinstance(response["error"], dict) else {}
        if error.get("type") == "NotImplementedError":
            return "not implemented", "your function still raises NotImplementedError"
        return "error", f"your function raised {error.get('type')}: {error.get('message', '')}"[:500] + case
    if "value" not in response:
        return "error", "the sandbox sent no answer" + case
    try:  # an answer of an unexpected form must cost this exercise, never the whole submission
        if exercise.compare is not None:
            reason = exercise.compare(response["value"], want)
        else:
            reason = compare(response["value"], want, exercise.atol, exercise.rtol, exercise.strict_types)
        if reason is None and exercise.verify is not None:
            reason = exercise.verify(call, response)
    except Exception as err:  # noqa: BLE001 - whatever the answer's shape made the comparison trip over
        reason = f"the answer could not be read ({type(err).__name__}); expected {describe(want)}"
    return ("wrong", reason + case) if reason else ("passed", "")


def evaluate_in_process(tests, namespace: dict, rng: np.random.Generator, guarded: bool = True) -> list[dict]:
    """Score ``namespace``'s functions in this process, as the sandbox would (checks hidden tests themselves).

    Used by the tests of the hidden tests: the references must pass (``guarded=False``: a reference may
    use what students may not), wrong answers and forbidden shortcuts must fail.
    """
    import tempfile
    from types import SimpleNamespace

    from .spec import prepare
    from .sandbox_runner import call_function
    from .guard import Forbidden, install_audit_hook, package_codes
    install_audit_hook()
    shell = SimpleNamespace(user_ns=namespace)
    results, codes = [], package_codes("labhelpers")
    with tempfile.TemporaryDirectory(prefix="labkit-local-") as files_dir:
        for exercise, calls, wired, expected in prepare(tests, rng):
            rules = Forbidden(list(exercise.forbidden), list(exercise.allowed), codes) if guarded else None
            responses = [call_function(shell, exercise.function, call, files_dir, rules) for call in wired]
            results.append(score_exercise(exercise, calls, expected, responses))
    return results


def ignore_answer(got: Any, want: Any) -> str | None:
    """A ``compare`` for exercises that work by their side effect (on a layer): what they return is not graded."""
    return None


def layer_states(call, response: dict) -> tuple[dict, dict] | str:
    """For a call whose first argument is a ``Layers`` input sent with ``report_args``: (seeded state
    before the call, state sent back after it) as float64 arrays by name, or a reason for the student."""
    from .codec import build_layers
    after = (response.get("args_after") or [None])[0]
    if kind(after) != "dict":
        return "the layer could not be read back after your function ran"
    layers = call.args[0]
    before = build_layers([list(layer) for layer in layers.spec], layers.seed).state_dict()
    state = {k: as_array(v) for k, v in after["__map__"]}
    for name, tensor in before.items():
        if state.get(name) is None or state[name].shape != tuple(tensor.shape):
            return (f"the layer's {name} is missing or changed its shape (expected {tuple(tensor.shape)}): "
                    "fill the existing tensors in place")
    return {k: t.double().numpy() for k, t in before.items()}, state
