"""Self-checks for lab 00 (Colab, GPU and PyTorch tensors): broadcasting, views, NumPy bridge, autograd.

Every check builds its own random inputs (a private ``torch.Generator``), computes the expected
answer independently with NumPy, calls the student's function through ``attempt`` and prints
"expected / received". Hard-coded outputs therefore fail, and so do copies where a view or shared
memory is asked for.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from labhelpers.checks import attempt, close, report

__all__ = ["check_broadcast_sum", "check_reshape", "check_numpy_roundtrip", "check_derivative",
           "check_autograd_grad"]


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Float32 normal noise from ``generator`` (so the check never touches the global seed)."""
    return torch.randn(*shape, generator=generator)


def _is_tensor(name: str, value: object) -> bool:
    """Report a failure and return False unless ``value`` is a torch tensor."""
    if isinstance(value, torch.Tensor):
        return True
    return report(name, False, expected="a torch.Tensor", received=type(value).__name__,
                  hint="return a tensor (torch.Tensor), not a list or NumPy array")


def check_broadcast_sum(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(a, b)`` -> table (len(a), len(b)) with ``table[i, j] == a[i] + b[j]`` (lab 00, ex. 1)."""
    name = "broadcast_sum"
    generator = torch.Generator().manual_seed(1234)
    for n, m in [(3, 4), (5, 2), (1, 6)]:
        a, b = _randn(generator, n), _randn(generator, m)  # (n,), (m,)
        expected = np.add.outer(a.numpy(), b.numpy())  # (n, m), NumPy's own outer sum
        ok, received = attempt(name, fn, a.clone(), b.clone())
        if not ok:
            return False
        if not _is_tensor(name, received):
            return False
        if tuple(received.shape) != (n, m):
            return report(name, False, expected=f"shape {(n, m)}", received=f"shape {tuple(received.shape)}",
                          hint="turn a into a column (n, 1) and b into a row (1, m); then a + b broadcasts")
        if not close(received, expected):
            return report(name, False, expected=expected, received=received.detach().cpu().numpy(),
                          hint="table[i, j] must be a[i] + b[j]")
    return report(name, True)


def check_reshape(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x)`` returns a (2, 8) *view* of a 16-element tensor ``x`` (lab 00, exercise 2)."""
    name = "reshape"
    generator = torch.Generator().manual_seed(4321)
    for shape in [(16,), (4, 4), (2, 2, 4)]:
        x = _randn(generator, *shape)
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


def check_numpy_roundtrip(fn: Callable[[torch.Tensor], tuple[np.ndarray, torch.Tensor]]) -> bool:
    """Check ``fn(x)`` -> (array, tensor), both sharing ``x``'s memory (lab 00, exercise 3)."""
    name = "numpy_roundtrip"
    generator = torch.Generator().manual_seed(2024)
    for shape in [(5,), (2, 3)]:
        x = _randn(generator, *shape)
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


def check_derivative(fn: Callable[[Callable[[torch.Tensor], torch.Tensor], float], float]) -> bool:
    """Check ``fn(f, x0)`` -> df/dx at x0 as a Python float for several scalar ``f`` (lab 00, exercise 4)."""
    name = "derivative"
    cases = [  # (function, point, derivative written by hand)
        ("x**2 + 3*x", lambda x: x**2 + 3 * x, 2.0, lambda x: 2 * x + 3),
        ("sin(x)", torch.sin, 0.7, math.cos),
        ("exp(x) * x", lambda x: torch.exp(x) * x, -0.3, lambda x: math.exp(x) * (x + 1)),
        ("1 / (1 + exp(-x))", torch.sigmoid, 1.5,
         lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2),
    ]
    for label, f, x0, dfdx in cases:
        expected = dfdx(x0)
        ok, received = attempt(name, fn, f, x0)
        if not ok:
            return False
        if isinstance(received, torch.Tensor) or not isinstance(received, (float, int)) or isinstance(received, bool):
            return report(name, False, expected="a Python float", received=type(received).__name__,
                          hint="use .item() to turn the one-element gradient into a float")
        if not close(received, expected, atol=1e-5, rtol=1e-4):
            return report(name, False, expected=f"d/dx {label} at x={x0}: {expected:.6f}",
                          received=f"{float(received):.6f}",
                          hint="make x a tensor with requires_grad=True, call .backward() on f(x), read x.grad")
    return report(name, True)


def check_autograd_grad(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(X, y, w)`` = gradient of sum((X @ w - y)**2) in w, vs 2 X^T (X w - y) (lab 00, ex. 5)."""
    name = "autograd_grad"
    generator = torch.Generator().manual_seed(7)
    for n, d in [(6, 3), (10, 4)]:
        X, y, w = _randn(generator, n, d), _randn(generator, n), _randn(generator, d)  # (n, d), (n,), (d,)
        Xn, yn, wn = (t.numpy().astype(np.float64) for t in (X, y, w))
        expected = 2 * Xn.T @ (Xn @ wn - yn)  # (d,), the analytic gradient in float64
        w_before = w.clone()
        ok, received = attempt(name, fn, X, y, w)
        if not ok:
            return False
        if not _is_tensor(name, received):
            return False
        if tuple(received.shape) != (d,):
            return report(name, False, expected=f"shape {(d,)} (like w)", received=f"shape {tuple(received.shape)}",
                          hint="return w.grad, which has w's shape")
        if not close(received, expected, atol=1e-4, rtol=1e-4):
            return report(name, False, expected=expected, received=received.detach().cpu().numpy(),
                          hint="build the loss from a copy of w with requires_grad=True, call .backward(), "
                               "return that copy's .grad")
        if not torch.equal(w, w_before):
            return report(name, False, expected="w unchanged", received="w was modified",
                          hint="work on w.detach().clone().requires_grad_(True), not on w itself")
    return report(name, True)
