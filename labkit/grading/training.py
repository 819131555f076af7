"""Grading code that trains or evaluates, by its behaviour (grading: the parts of training exercises).

A training probe (``Call(..., seed=S, collect=True)``) runs the student's loop and the reference loop on
identical inputs: seeded weights (``Model``/``Layers`` with ``watch=True``), the same digits (``Loader``),
a watched optimizer over the model (``Optim``), torch's RNG seeded alike. Both sides send back the same
record (:func:`labkit.grading.codec.collect`): what the function returned, the logs of the watched
arguments (every forward call: training mode, autograd on; every optimizer step: gradient and weight
norms; every zero_grad), and the models' weights after the call. The parts below compare the two records,
deterministically on a CPU, and name the mistake when it is a known one:

- :func:`returns_numbers`: the metrics are plain numbers (``loss.item()``, not the loss tensor);
- :func:`same_steps`: every optimizer step saw the reference's gradient (a missing ``zero_grad`` makes the
  gradients pile up from the second step; a summed loss makes them batch-size times too large);
- :func:`mode_and_grad`: the model ran in the mode the loop must put it in (``model.train()`` /
  ``model.eval()``) and with or without autograd (``torch.no_grad()`` for an evaluation);
- :func:`same_weights`: the weights after the call equal the reference's;
- :func:`same_values`: returned numbers equal the reference's (an average over images, not over batches).

Each part is a ``check(call, got, want)`` for :class:`labkit.grading.spec.Part`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .verdict import as_array, describe, kind

Check = Callable[[Any, Any, Any], "str | None"]


def _map(enc: Any) -> dict:
    """An encoded dict as {key: encoded value} (keys decoded when they are plain)."""
    return {k: v for k, v in enc["__map__"]} if kind(enc) == "dict" else {}


def _record(enc: Any) -> tuple[Any, list, list] | None:
    """(returned, logs, after) of an encoded collect() record, or None when the answer is not one."""
    record = _map(enc)
    if not {"returned", "logs", "after"} <= set(record):
        return None
    logs = [item for item in (record["logs"].get("__seq__", []) if isinstance(record["logs"], dict) else [])]
    after = [item for item in (record["after"].get("__seq__", []) if isinstance(record["after"], dict) else [])]
    return record["returned"], logs, after


def _entries(log: Any) -> list[dict]:
    """A watched log (encoded list of dicts) as a list of plain dicts of numbers/bools."""
    out = []
    for item in (log or {}).get("__seq__", []) if isinstance(log, dict) else []:
        out.append({k: (v if not isinstance(v, dict) else None) for k, v in _map(item).items()})
    return out


def returns_numbers(keys: tuple[str, ...]) -> Check:
    """Part: the function returns a dict whose ``keys`` are plain numbers (not tensors)."""
    def check(call, got, want):
        record = _record(got)
        if record is None:
            return "the answer could not be read"
        returned = _map(record[0])
        if kind(record[0]) != "dict":
            return f"return a dict with {', '.join(keys)}; received {describe(record[0])}"
        missing = [k for k in keys if k not in returned]
        if missing:
            return f"the returned dict lacks {', '.join(missing)}"
        tensors = [k for k in keys if kind(returned[k]) == "tensor"]
        if tensors:
            grad = any(returned[k].get("requires_grad") for k in tensors)
            return (f"{', '.join(tensors)} is a tensor{' that still carries its autograd graph' if grad else ''}: add up "
                    "loss.item() (a Python number), not the loss tensor")
        bad = [k for k in keys if kind(returned[k]) not in ("float", "int", "numpy-scalar")]
        return f"{', '.join(bad)} must be numbers" if bad else None
    return check


def same_values(keys: tuple[str, ...], rtol: float = 1e-4, hints: dict[str, str] | None = None) -> Check:
    """Part: the returned ``keys`` equal the reference's (``hints``: what to say when one differs)."""
    def check(call, got, want):
        g, w = _record(got), _record(want)
        if g is None:
            return "the answer could not be read"
        mine, theirs = _map(g[0]), _map(w[0])
        for key in keys:
            a, b = as_array(mine.get(key)), as_array(theirs.get(key))
            if a is None or a.size != 1:
                return f"{key}: expected one number, received {describe(mine.get(key))}"
            if not np.allclose(a.reshape(()), b.reshape(()), rtol=rtol, atol=1e-6):
                return f"{key} is {float(a.reshape(())):.6g}, expected {float(b.reshape(())):.6g}" + (
                    f": {hints[key]}" if hints and key in hints else "")
        return None
    return check


def same_steps(arg: int, rtol: float = 1e-3) -> Check:
    """Part: as many optimizer steps as the reference, each on the reference's gradient."""
    def check(call, got, want):
        g, w = _record(got), _record(want)
        if g is None:
            return "the answer could not be read"
        mine = [e for e in _entries(g[1][arg]) if "step" in e]
        theirs = [e for e in _entries(w[1][arg]) if "step" in e]
        zeroed = sum(1 for e in _entries(g[1][arg]) if "zero_grad" in e)
        if len(mine) != len(theirs):
            return (f"{len(mine)} optimizer steps, expected {len(theirs)} (one optimizer.step() per batch)"
                    if mine else "the optimizer never stepped: call optimizer.step() after loss.backward()")
        for index, (a, b) in enumerate(zip(mine, theirs)):
            if np.isclose(a["grad_norm"], b["grad_norm"], rtol=rtol):
                continue
            ratio = a["grad_norm"] / b["grad_norm"] if b["grad_norm"] else float("inf")
            if index > 0 and zeroed == 0:
                return (f"from step {index + 1} on the gradients are larger than the reference's: they pile up; "
                        "clear them with optimizer.zero_grad() before each loss.backward()")
            if index == 0 and ratio > 1.5:
                return (f"the first step's gradient is {ratio:.3g} times the reference's: average the loss over the "
                        "batch (F.nll_loss's default reduction), not its sum")
            return f"step {index + 1} used another gradient than the reference (norm {a['grad_norm']:.4g}, expected {b['grad_norm']:.4g})"
        return None
    return check


def mode_and_grad(arg: int, training: bool, grad: bool) -> Check:
    """Part: every forward call of the watched model ran in ``training`` mode and with autograd ``grad``."""
    def check(call, got, want):
        g = _record(got)
        if g is None:
            return "the answer could not be read"
        calls = _entries(g[1][arg])
        if not calls:
            return "the model was never called"
        if any(c.get("training") != training for c in calls):
            return ("the model was not in training mode: call model.train() before the loop (dropout and batch "
                    "norm behave differently in evaluation mode)" if training else
                    "the model was still in training mode: call model.eval() before evaluating")
        if any(c.get("grad") != grad for c in calls):
            return ("autograd was off while training" if grad else
                    "autograd recorded the evaluation: wrap it in torch.no_grad() (faster, less memory)")
        return None
    return check


def same_weights(arg: int, atol: float = 1e-5, rtol: float = 1e-4) -> Check:
    """Part: the model's weights after the call equal the reference's."""
    def check(call, got, want):
        g, w = _record(got), _record(want)
        if g is None:
            return "the answer could not be read"
        mine, theirs = _map(g[2][arg]), _map(w[2][arg])
        if set(mine) != set(theirs):
            return "the model's layers changed"
        for name, value in theirs.items():
            a, b = as_array(mine[name]), as_array(value)
            if a is None or a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=rtol):
                return f"after your loop {name} differs from the reference's"
        return None
    return check


def all_of(*checks: Check) -> Check:
    """Part: every check passes (the first failure is the reason), e.g. weights kept only counts once the model ran."""
    def check(call, got, want):
        for one in checks:
            reason = one(call, got, want)
            if reason is not None:
                return reason
        return None
    return check
