"""Self-checks of lab 00 (Colab, GPU and PyTorch tensors): broadcasting, views, the NumPy bridge, autograd.

No check holds an implementation of its exercise. The broadcasting table is compared with NumPy's own
outer sum (``np.add.outer``), the view with NumPy's ``reshape``, the NumPy bridge with the input's
values; the two autograd exercises with the answers the solution notebook gave to the same fixed
cases (``expected/00_colab_gpu_setup.json``). Inputs come from NumPy's seeded generator, so they are
the same on every machine; hard-coded outputs fail, and so do copies where a view or shared memory is
asked for.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from labhelpers.checks import Case, attempt, close, report, run_cases, skip_during_grading, stored

__all__ = ["check_broadcast_sum", "check_reshape", "check_numpy_roundtrip", "check_derivative",
           "check_autograd_grad"]

LAB = "00_colab_gpu_setup"


def _tensor(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    """Float32 normal noise from a NumPy generator (the same on every machine; the torch seed is untouched)."""
    return torch.from_numpy(rng.normal(size=shape).astype(np.float32))


def _is_tensor(name: str, value: object) -> bool:
    """Report a failure and return False unless ``value`` is a torch tensor."""
    if isinstance(value, torch.Tensor):
        return True
    return report(name, False, expected="a torch.Tensor", received=type(value).__name__,
                  hint="return a tensor (torch.Tensor), not a list or NumPy array")


# ----------------------------------------------------------------------------- exercise 1
def check_broadcast_sum(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(a, b)`` -> table (len(a), len(b)) with ``table[i, j] == a[i] + b[j]``, compared with
    NumPy's ``np.add.outer`` (lab 00, exercise 1)."""
    name = "broadcast_sum"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1234)
    for n, m in [(3, 4), (5, 2), (1, 6)]:
        a, b = _tensor(rng, n), _tensor(rng, m)                  # (n,), (m,)
        expected = np.add.outer(a.numpy(), b.numpy())            # (n, m), NumPy's own outer sum
        ok, received = attempt(name, fn, a.clone(), b.clone())
        if not ok:
            return False
        if not _is_tensor(name, received):
            return False
        if tuple(received.shape) != (n, m):
            return report(name, False, expected=f"shape {(n, m)}", received=f"shape {tuple(received.shape)}",
                          hint="turn a into a column (n, 1) and b into a row (1, m); then a + b broadcasts")
        if not close(received, expected):
            hint = "table[i, j] must be a[i] + b[j]"
            if close(received, np.subtract.outer(a.numpy(), b.numpy())):
                hint = "that is a[i] - b[j]: add the column and the row"
            return report(name, False, expected=expected, received=received.detach().cpu().numpy(), hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def check_reshape(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)`` returns a (2, 8) *view* of a 16-element tensor ``x``, in NumPy's row-major order
    (lab 00, exercise 2)."""
    name = "reshape"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(4321)
    for shape in [(16,), (4, 4), (2, 2, 4)]:
        x = _tensor(rng, *shape)
        expected = x.numpy().copy().reshape(2, 8)  # row-major reshape, computed by NumPy
        ok, received = attempt(name, fn, x)
        if not ok:
            return False
        if not _is_tensor(name, received):
            return False
        if tuple(received.shape) != (2, 8):
            return report(name, False, expected="shape (2, 8)", received=f"shape {tuple(received.shape)}",
                          hint="ask .view(...) for 2 rows of 8 (-1 lets PyTorch work out one size)")
        if not close(received, expected):
            return report(name, False, expected=expected, received=received.detach().cpu().numpy(),
                          hint="keep the elements in their row-major order (no transpose, no sorting)")
        with torch.no_grad():
            x.view(-1)[0] = 1000.0  # a view sees a change of its base tensor
        if received.device.type != "cpu" or float(received.reshape(-1)[0]) != 1000.0:
            return report(name, False, expected="a view sharing memory with x",
                          received="a copy (changing x did not change your result)",
                          hint="use .view(...): no .clone(), .contiguous() copy or torch.tensor(...)")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 3
def check_numpy_roundtrip(fn: Callable[[torch.Tensor], tuple[np.ndarray, torch.Tensor]]) -> bool:
    """Check ``fn(x)`` -> (array, tensor), both holding x's values and sharing ``x``'s memory (lab 00, ex. 3)."""
    name = "numpy_roundtrip"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(2024)
    for shape in [(5,), (2, 3)]:
        x = _tensor(rng, *shape)
        expected = x.numpy().copy()  # values before any change
        ok, received = attempt(name, fn, x)
        if not ok:
            return False
        if not (isinstance(received, tuple) and len(received) == 2):
            return report(name, False, expected="a tuple (array, tensor)", received=type(received).__name__,
                          hint="return a, t")
        array, tensor = received
        if not isinstance(array, np.ndarray):
            return report(name, False, expected="first item a numpy.ndarray", received=type(array).__name__,
                          hint="x.numpy() gives a NumPy array")
        if not _is_tensor(name, tensor):
            return False
        if array.dtype != np.float32 or tensor.dtype != torch.float32:
            return report(name, False, expected="dtypes float32 / torch.float32",
                          received=f"{array.dtype} / {tensor.dtype}",
                          hint="x.numpy() and torch.from_numpy(...) keep the dtype; np.array(..., dtype=...) "
                               "or .double() change it")
        if not (close(array, expected) and close(tensor, expected)):
            return report(name, False, expected=expected, received=(array, tensor.detach().cpu().numpy()),
                          hint="both must hold x's values, in x's shape")
        with torch.no_grad():
            x.view(-1)[0] = -777.0  # every object sharing x's memory sees this
        shared_a = float(array.reshape(-1)[0]) == -777.0
        shared_t = tensor.device.type == "cpu" and float(tensor.reshape(-1)[0]) == -777.0
        if not (shared_a and shared_t):
            which = " and ".join(w for w, s in [("the array", shared_a), ("the tensor", shared_t)] if not s)
            return report(name, False, expected="array and tensor share memory with x",
                          received=f"{which} did not change when x changed (a copy)",
                          hint="x.numpy() then torch.from_numpy(a): no np.array(...), torch.tensor(...) "
                               "or .copy()")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
_FUNCTIONS = {  # label -> f, the public cases' functions (written with torch operations)
    "x**2 + 3*x": lambda x: x**2 + 3 * x,
    "sin(x)": torch.sin,
    "exp(x) * x": lambda x: torch.exp(x) * x,
    "1 / (1 + exp(-x))": torch.sigmoid,
}
_POINTS = {"x**2 + 3*x": 2.0, "sin(x)": 0.7, "exp(x) * x": -0.3, "1 / (1 + exp(-x))": 1.5}


def _value_at(f: Callable, x0: float) -> float:
    """f(x0) itself (a wrong answer the diagnosis recognises)."""
    with torch.no_grad():
        return float(f(torch.tensor(float(x0))))


def check_derivative(fn: Callable[[Callable[[torch.Tensor], torch.Tensor], float], float]) -> bool:
    """Check ``fn(f, x0)`` -> df/dx at x0 as a Python float for several scalar ``f`` (lab 00, exercise 4),
    against the solution's stored answers."""
    name = "derivative"
    if skip_during_grading(name):
        return True
    cases = [Case((_FUNCTIONS[label], x0), f"d/dx {label} at x={x0}") for label, x0 in _POINTS.items()]
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if isinstance(received, (bool, torch.Tensor)) or not isinstance(received, (float, int)):
            return report(name, False, expected="a Python float", received=type(received).__name__,
                          hint="use .item() to turn the one-element gradient into a float")
    expected = stored(LAB, name, [float(a) for a in answers], list(_POINTS.items()))
    if expected is None:
        return False
    for case, received, want in zip(cases, answers, expected):
        if not close(received, want, atol=1e-5, rtol=1e-4):
            hint = "make x a tensor with requires_grad=True, call .backward() on f(x), read x.grad"
            if math.isclose(float(received), _value_at(*case.args), rel_tol=1e-4, abs_tol=1e-5):
                hint = "that is f(x0) itself; the derivative is in x.grad after f(x).backward()"
            return report(name, False, expected=f"{case.label}: {want:.6f}", received=f"{float(received):.6f}",
                          hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
def _grad_cases() -> list[Case]:
    rng = np.random.default_rng(7)
    return [Case((_tensor(rng, n, d), _tensor(rng, n), _tensor(rng, d)), f"X of shape ({n}, {d})")
            for n, d in [(6, 3), (10, 4)]]


def check_autograd_grad(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(X, y, w)`` = gradient of sum((X @ w - y)**2) in w, against the solution's stored answers,
    and that ``w`` is left unchanged (lab 00, exercise 5)."""
    name = "autograd_grad"
    if skip_during_grading(name):
        return True
    cases = _grad_cases()
    answers = []
    for case in cases:
        X, y, w = (t.clone() for t in case.args)
        ok, received = attempt(name, fn, X, y, w)
        if not ok:
            return False
        if not _is_tensor(name, received):
            return False
        d = len(w)
        if tuple(received.shape) != (d,):
            return report(name, False, expected=f"shape {(d,)} (like w)", received=f"shape {tuple(received.shape)}",
                          hint="return w.grad, which has w's shape")
        if not torch.equal(w, case.args[2]):
            return report(name, False, expected="w unchanged", received="w was modified",
                          hint="work on w.detach().clone().requires_grad_(True), not on w itself")
        answers.append(received.detach().cpu().float())
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    for case, got, want in zip(cases, answers, expected):
        if not close(got, want, atol=1e-4, rtol=1e-4):
            hint = ("build the loss from a copy of w with requires_grad=True, call .backward(), "
                    "return that copy's .grad")
            if close(2 * got, want, atol=1e-4, rtol=1e-4):
                hint = "half the gradient: differentiate the sum of squares, not half of it (the factor 2)"
            elif close(-got, want, atol=1e-4, rtol=1e-4):
                hint = "the sign is flipped: the loss is sum((X @ w - y)**2)"
            return report(name, False, expected=np.asarray(want), received=got.numpy(), hint=f"{case.label}: {hint}")
    return report(name, True)
