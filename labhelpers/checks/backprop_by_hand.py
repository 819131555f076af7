"""Self-checks for lab 06 (backpropagation by hand): numerical gradients, gates, a neuron, a Value op, a Function.

Every check builds its own inputs (a private ``torch.Generator``), computes the expected gradients
with PyTorch's autograd, calls the student's code through ``attempt`` and prints "expected / received".
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from labhelpers.checks import as_numpy, attempt, close, report

__all__ = ["check_neuron_backward", "check_numerical_gradient", "check_gate_backward", "check_value_tanh",
           "check_linear_function"]


def reference_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """df/dx by autograd for a scalar function f of a float64 tensor x (the reference)."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x)
    return grad


def check_numerical_gradient(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``fn(f, x, h)`` -> central-difference gradient of a scalar f at tensor x (lab 06, exercise 2)."""
    name = "numerical_gradient"
    generator = torch.Generator().manual_seed(601)
    cases = [  # (label, f, x): curved functions, so a one-sided difference is visibly less accurate
        ("sum(exp(3x))", lambda t: torch.exp(3 * t).sum(), torch.tensor([1.0, 0.5, -0.2], dtype=torch.float64)),
        ("sigmoid neuron", lambda t: torch.sigmoid(t[0] * -1.0 + t[1] * -2.0 + t[2]),
         torch.tensor([2.0, -3.0, -3.0], dtype=torch.float64)),
        ("sum(sin(A) * A^2)", lambda t: (torch.sin(t) * t**2).sum(),
         torch.randn(2, 3, generator=generator, dtype=torch.float64)),
    ]
    for label, f, x in cases:
        expected = reference_gradient(f, x)
        x_before = x.clone()
        ok, received = attempt(name, fn, f, x, 1e-5)
        if not ok:
            return False
        value = as_numpy(received)
        if value is None or value.shape != tuple(x.shape):
            return report(name, False, expected=f"an array of shape {tuple(x.shape)} (like x)",
                          received=repr(received)[:80], hint="one partial derivative per entry of x")
        if not torch.equal(x, x_before):
            return report(name, False, expected="x unchanged after the call", received="x was modified",
                          hint="put every entry back after perturbing it (or work on copies of x)")
        if not close(value, expected, atol=1e-6, rtol=1e-6):
            return report(name, False, expected=f"{label}: {expected.numpy().round(6)}", received=value.round(6),
                          hint="(f(x + h e_i) - f(x - h e_i)) / (2 h) for every entry i: a CENTRAL difference")
    return report(name, True)


def reference_gate_backward(gate: str, a: float, b: float, upstream: float) -> tuple[float, float]:
    """(d out/da, d out/db) * upstream for out = a + b, a * b or max(a, b), by autograd."""
    ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    out = {"add": lambda: ta + tb, "mul": lambda: ta * tb, "max": lambda: torch.maximum(ta, tb)}[gate]()
    out.backward(torch.tensor(upstream, dtype=torch.float64))
    return ta.grad.item(), tb.grad.item()


def check_gate_backward(fn: Callable[[str, float, float, float], tuple]) -> bool:
    """Check ``fn(gate, a, b, upstream)`` -> (da, db) for the add, mul and max gates (lab 06, exercise 3)."""
    name = "gate_backward"
    rng = np.random.default_rng(602)
    cases = [("mul", 3.0, -4.0, 2.0), ("add", -12.0, 2.0, 2.0), ("max", 2.0, -1.0, 2.0), ("max", -5.0, 0.5, -1.5)]
    for gate in ["add", "mul", "max"] * 2:
        a, b = rng.normal(size=2).round(3) * 3
        cases.append((gate, float(a), float(b), round(float(rng.normal()), 3)))
    hints = {"add": "an add gate DISTRIBUTES: both inputs get the upstream gradient unchanged",
             "mul": "a mul gate SWITCHES: da = b * upstream, db = a * upstream",
             "max": "a max gate ROUTES: the larger input gets the upstream gradient, the other 0"}
    for gate, a, b, upstream in cases:
        expected = reference_gate_backward(gate, a, b, upstream)
        ok, received = attempt(name, fn, gate, a, b, upstream)
        if not ok:
            return False
        value = as_numpy(received) if isinstance(received, (tuple, list)) else None
        if value is None or value.shape != (2,):
            return report(name, False, expected="a pair (da, db)", received=repr(received)[:80], hint="return da, db")
        if not close(value, expected, atol=1e-9):
            return report(name, False, expected=f"{gate}({a}, {b}) with upstream {upstream}: {expected}",
                          received=tuple(value.tolist()), hint=hints[gate])
    return report(name, True)


def check_neuron_backward(fn: Callable[[torch.Tensor, torch.Tensor], tuple]) -> bool:
    """Check ``fn(w, x)`` -> (f, dw, dx) of f = sigmoid(w0 x0 + w1 x1 + w2) (lab 06, exercise 1)."""
    name = "neuron_backward"
    generator = torch.Generator().manual_seed(603)
    cases = [(torch.tensor([2.0, -3.0, -3.0], dtype=torch.float64), torch.tensor([-1.0, -2.0], dtype=torch.float64))]
    cases += [(torch.randn(3, generator=generator, dtype=torch.float64),
               torch.randn(2, generator=generator, dtype=torch.float64)) for _ in range(3)]
    for w, x in cases:
        tw, tx = w.clone().requires_grad_(True), x.clone().requires_grad_(True)
        f_ref = torch.sigmoid(tw[0] * tx[0] + tw[1] * tx[1] + tw[2])
        f_ref.backward()
        ok, received = attempt(name, fn, w.clone(), x.clone())
        if not ok:
            return False
        if not (isinstance(received, (tuple, list)) and len(received) == 3):
            return report(name, False, expected="a tuple (f, dw, dx)", received=type(received).__name__,
                          hint="return f, dw, dx")
        f, dw, dx = (as_numpy(v) for v in received)
        if f is None or dw is None or dx is None or f.size != 1 or dw.shape != (3,) or dx.shape != (2,):
            return report(name, False, expected="f a number, dw shape (3,), dx shape (2,)",
                          received=repr(received)[:100])
        if not close(f.reshape(()), f_ref.item(), atol=1e-9):
            return report(name, False, expected=f"f = {f_ref.item():.6f}", received=f"f = {float(f.reshape(())):.6f}",
                          hint="f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))")
        if not (close(dw, tw.grad, atol=1e-9) and close(dx, tx.grad, atol=1e-9)):
            return report(name, False, expected=(tw.grad.numpy().round(6), tx.grad.numpy().round(6)),
                          received=(dw.round(6), dx.round(6)),
                          hint="dz = (1 - f) f; dw = (x0 dz, x1 dz, dz); dx = (w0 dz, w1 dz)")
    return report(name, True)


def check_value_tanh(fn: Callable, value_cls: type) -> bool:
    """Check ``fn(v)`` -> tanh node of a micrograd-style ``value_cls`` (.data, .grad, +, *, .backward()) (ex. 4)."""
    name = "value_tanh"
    rng = np.random.default_rng(604)
    graphs = [  # (label, build(a, b, c, tanh) -> output), run on Values and on torch tensors
        ("tanh(a * b + c)", lambda a, b, c, tanh: tanh(a * b + c)),
        ("t * t with t = tanh(a)", lambda a, b, c, tanh: (lambda t: t * t)(tanh(a))),
        ("tanh(a) + tanh(a * c) + b", lambda a, b, c, tanh: tanh(a) + tanh(a * c) + b)]
    for _ in range(2):
        a0, b0, c0 = (float(v) for v in rng.normal(size=3).round(3))
        for label, build in graphs:
            tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a0, b0, c0)]
            out_ref = build(*tensors, torch.tanh)
            out_ref.backward()
            expected = [t.grad.item() if t.grad is not None else 0.0 for t in tensors]

            def run() -> tuple[float, list[float]]:
                values = [value_cls(v) for v in (a0, b0, c0)]
                out = build(*values, fn)
                out.backward()
                return out.data, [v.grad for v in values]

            ok, received = attempt(name, run)
            if not ok:
                return False
            data, grads = received
            if not close(data, out_ref.item(), atol=1e-9):
                return report(name, False, expected=f"{label} = {out_ref.item():.6f}", received=f"{data:.6f}",
                              hint="the new node's data is math.tanh(v.data)")
            if not close(grads, expected, atol=1e-9):
                return report(name, False, expected=f"{label}: grads of a, b, c = {np.round(expected, 6)}",
                              received=np.round(np.asarray(grads, dtype=float), 6),
                              hint="in _backward: v.grad += (1 - t**2) * out.grad (ADD: a node can feed several)")
    return report(name, True)


def check_linear_function(function_cls: type) -> bool:
    """Check a torch.autograd.Function computing X @ W.T + b with a hand-written backward (lab 06, exercise 5)."""
    name = "LinearFunction"
    generator = torch.Generator().manual_seed(605)
    for n, d_in, d_out in [(4, 3, 2), (1, 5, 3)]:
        X = torch.randn(n, d_in, generator=generator, dtype=torch.float64)      # (n, d_in)
        W = torch.randn(d_out, d_in, generator=generator, dtype=torch.float64)  # (d_out, d_in), like nn.Linear
        b = torch.randn(d_out, generator=generator, dtype=torch.float64)        # (d_out,)
        G = torch.randn(n, d_out, generator=generator, dtype=torch.float64)     # upstream gradient (n, d_out)
        refs = [t.clone().requires_grad_(True) for t in (X, W, b)]
        torch.nn.functional.linear(*refs).backward(G)

        def run() -> list:
            inputs = [t.clone().requires_grad_(True) for t in (X, W, b)]
            grads = function_cls.apply(*inputs).grad_fn.apply(G)   # what backward returns, before autograd
            return list(grads) if isinstance(grads, (tuple, list)) else [grads]  # reshapes (sums) anything

        ok, grads = attempt(name, run)
        if not ok:
            return False
        if len(grads) != 3:
            return report(name, False, expected="backward returns 3 gradients (grad_X, grad_W, grad_b)",
                          received=f"{len(grads)} value(s)", hint="one gradient per input of forward, in order")
        for label, got, ref in zip(["grad_X", "grad_W", "grad_b"], grads, refs):
            if got is None or tuple(got.shape) != tuple(ref.shape):
                return report(name, False, expected=f"{label} of shape {tuple(ref.shape)}",
                              received="None" if got is None else f"shape {tuple(got.shape)}",
                              hint="a gradient has the shape of its input: (n, d_in), (d_out, d_in), (d_out,)")
            if not close(got, ref.grad, atol=1e-9):
                return report(name, False, expected=f"{label} = {ref.grad.numpy().round(4)}",
                              received=got.detach().numpy().round(4),
                              hint="grad_X = grad_Y @ W, grad_W = grad_Y.T @ X, grad_b = grad_Y summed over the batch")
        inputs = tuple(t.clone().requires_grad_(True) for t in (X, W, b))
        ok, passed = attempt(name, torch.autograd.gradcheck, function_cls.apply, inputs, raise_exception=False)
        if not ok:
            return False
        if not passed:
            return report(name, False, expected="torch.autograd.gradcheck passes", received="it fails",
                          hint="the backward must match numerical derivatives of the forward")
    return report(name, True)

