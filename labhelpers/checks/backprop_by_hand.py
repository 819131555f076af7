"""Self-checks of lab 06 (backpropagation by hand): a neuron's gradients, numerical gradients, gates, a Value
op, a torch.autograd.Function.

Every exercise writes by hand a gradient that PyTorch's autograd computes, so every check compares with
autograd (and ``torch.autograd.gradcheck`` for the Function); no check holds an implementation of its
exercise. The inputs are written out or drawn from NumPy's seeded generator.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from labhelpers.checks import as_numpy, attempt, close, report, skip_during_grading

__all__ = ["check_neuron_backward", "check_numerical_gradient", "check_gate_backward", "check_value_tanh",
           "check_linear_function"]

LAB = "06_backprop_by_hand"


def _float64(array) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array, dtype=np.float64))


# ----------------------------------------------------------------------------- exercise 1
def check_neuron_backward(fn: Callable[[torch.Tensor, torch.Tensor], tuple]) -> bool:
    """Check ``fn(w, x)`` -> (f, dw, dx) of f = sigmoid(w0 x0 + w1 x1 + w2), compared with autograd (lab 06,
    exercise 1)."""
    name = "neuron_backward"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(603)
    cases = [(_float64([2.0, -3.0, -3.0]), _float64([-1.0, -2.0]))]   # the slides' neuron
    cases += [(_float64(rng.normal(size=3)), _float64(rng.normal(size=2))) for _ in range(3)]
    for w, x in cases:
        tw, tx = w.clone().requires_grad_(True), x.clone().requires_grad_(True)
        f_ref = torch.sigmoid(tw[0] * tx[0] + tw[1] * tx[1] + tw[2])
        f_ref.backward()                                                  # autograd's gradients
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
            hint = "dz = (1 - f) f; dw = (x0 dz, x1 dz, dz); dx = (w0 dz, w1 dz)"
            if close(dw[:2], tx.grad, atol=1e-9) or close(dx, tw.grad[:2], atol=1e-9):
                hint = "a multiply gate SWITCHES: w0's gradient is x0 * dz and x0's is w0 * dz"
            return report(name, False, expected=(tw.grad.numpy().round(6), tx.grad.numpy().round(6)),
                          received=(dw.round(6), dx.round(6)), hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def check_numerical_gradient(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``fn(f, x, h)`` -> central-difference gradient of a scalar f at tensor x, compared with autograd's
    exact gradient: close enough for a central difference, too close for a one-sided one (lab 06, ex. 2)."""
    name = "numerical_gradient"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(601)
    cases = [  # (label, f, x): curved functions, so a one-sided difference is visibly less accurate
        ("sum(exp(3x))", lambda t: torch.exp(3 * t).sum(), _float64([1.0, 0.5, -0.2])),
        ("sigmoid neuron", lambda t: torch.sigmoid(t[0] * -1.0 + t[1] * -2.0 + t[2]), _float64([2.0, -3.0, -3.0])),
        ("sum(sin(A) * A^2)", lambda t: (torch.sin(t) * t**2).sum(), _float64(rng.normal(size=(2, 3)))),
    ]
    for label, f, x in cases:
        leaf = x.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(f(leaf), leaf)                  # autograd's exact gradient
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


# ----------------------------------------------------------------------------- exercise 3
GATE_HINTS = {"add": "an add gate DISTRIBUTES: both inputs get the upstream gradient unchanged",
              "mul": "a mul gate SWITCHES: da = b * upstream, db = a * upstream",
              "max": "a max gate ROUTES: the larger input gets the upstream gradient, the other 0",
              "div": "a div gate: a / b = a * (1 / b); da is upstream times d(a/b)/da, db is upstream times d(a/b)/db "
                     "(the 1/x gate's local gradient -1/x^2, times a)"}


def check_gate_backward(fn: Callable[[str, float, float, float], tuple]) -> bool:
    """Check ``fn(gate, a, b, upstream)`` -> (da, db) for the add, mul, max and div gates, compared with autograd
    (lab 06, exercise 3)."""
    name = "gate_backward"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(602)
    cases = [("mul", 3.0, -4.0, 2.0), ("add", -12.0, 2.0, 2.0), ("max", 2.0, -1.0, 2.0), ("max", -5.0, 0.5, -1.5),
             ("div", 3.0, -4.0, 2.0), ("div", -1.5, 0.5, -1.0)]
    for gate in ["add", "mul", "max"] * 2:
        a, b = rng.normal(size=2).round(3) * 3
        cases.append((gate, float(a), float(b), round(float(rng.normal()), 3)))
    operations = {"add": torch.add, "mul": torch.mul, "max": torch.maximum, "div": torch.div}
    for gate, a, b, upstream in cases:
        ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
        operations[gate](ta, tb).backward(torch.tensor(upstream, dtype=torch.float64))   # autograd's gradients
        expected = (ta.grad.item(), tb.grad.item())
        ok, received = attempt(name, fn, gate, a, b, upstream)
        if not ok:
            return False
        value = as_numpy(received) if isinstance(received, (tuple, list)) else None
        if value is None or value.shape != (2,):
            return report(name, False, expected="a pair (da, db)", received=repr(received)[:80], hint="return da, db")
        if not close(value, expected, atol=1e-9):
            return report(name, False, expected=f"{gate}({a}, {b}) with upstream {upstream}: {expected}",
                          received=tuple(value.tolist()), hint=GATE_HINTS[gate])
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
def check_value_tanh(fn: Callable, value_cls: type) -> bool:
    """Check ``fn(v)`` -> tanh node of a micrograd-style ``value_cls`` (.data, .grad, +, *, .backward()) on small
    graphs, compared with the same graphs on torch tensors and autograd (lab 06, exercise 4)."""
    name = "value_tanh"
    if skip_during_grading(name):
        return True
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
            out_ref.backward()                                            # autograd's gradients
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


# ----------------------------------------------------------------------------- exercise 5
def _backward_of(function_cls: type, inputs: list[torch.Tensor], grad_output: torch.Tensor) -> list:
    """What ``function_cls.backward`` returns for ``grad_output`` after ``function_cls.apply(*inputs)``, read
    before autograd reshapes (sums) it. The output stays referenced while its grad_fn runs: once the output is
    garbage, torch (2.11, Colab's) frees the graph and its saved tensors ("backward through the graph a
    second time")."""
    output = function_cls.apply(*inputs)
    grads = output.grad_fn.apply(grad_output)
    del output                                                           # only now
    return list(grads) if isinstance(grads, (tuple, list)) else [grads]


def check_linear_function(function_cls: type) -> bool:
    """Check a torch.autograd.Function computing X @ W.T + b with a hand-written backward, compared with
    nn.functional.linear's autograd gradients and torch.autograd.gradcheck (lab 06, exercise 5)."""
    name = "LinearFunction"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(605)
    for n, d_in, d_out in [(4, 3, 2), (1, 5, 3)]:
        X, W, b, G = (_float64(rng.normal(size=shape)) for shape in ((n, d_in), (d_out, d_in), (d_out,), (n, d_out)))
        if not (isinstance(function_cls, type) and issubclass(function_cls, torch.autograd.Function)):
            ok, _ = attempt(name, function_cls, X, W, b)                 # a stand-in: says TODO or what it raised
            return ok and report(name, False, expected="a subclass of torch.autograd.Function",
                                 received=type(function_cls).__name__,
                                 hint="pass the class itself: check_linear_function(LinearFunction)")
        refs = [t.clone().requires_grad_(True) for t in (X, W, b)]
        torch.nn.functional.linear(*refs).backward(G)                     # autograd's gradients
        ok, grads = attempt(name, _backward_of, function_cls, [t.clone().requires_grad_(True) for t in (X, W, b)], G)
        if not ok:
            return False
        if len(grads) != 3:
            return report(name, False, expected="backward returns 3 gradients (grad_X, grad_W, grad_b)",
                          received=f"{len(grads)} value(s)", hint="one gradient per input of forward, in order")
        for label, got, ref in zip(["grad_X", "grad_W", "grad_b"], grads, refs):
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(ref.shape):
                return report(name, False, expected=f"{label} of shape {tuple(ref.shape)}",
                              received=f"shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else repr(got),
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
