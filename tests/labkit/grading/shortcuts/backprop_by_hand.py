"""Shortcut answers for lab 06: each computes a graded gradient through a library that differentiates (the
autograd engine, functorch, ATen's backward kernels, SciPy's or torch.autograd.gradcheck's numerical
derivatives), reached through getattr with a built string, importlib, sys.modules or functools.partial, also
inside value_tanh's _backward and LinearFunction.backward. Every one must score 0 on its exercise
(tests/labkit/grading/test_shortcuts.py).

The driven exercises run on the hidden tests' model answers: value_tanh on their Value class (the notebook's),
LinearFunction as a torch.autograd.Function (the driver refuses anything else, e.g. a plain function that
autograd would differentiate for free).
"""
import functools
import importlib
import math
import sys

import numpy as np
import torch

LAB = "06_backprop_by_hand"


def _numdiff():
    return importlib.import_module("scipy.optimize._num" + "diff")


def _neuron(w, x):
    return torch.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])


# ----------------------------------------------------------------------------- neuron_backward
def neuron_via_backward_alias(w, x):
    backward = getattr(torch.Tensor, "back" + "ward")
    w, x = w.clone().requires_grad_(True), x.clone().requires_grad_(True)
    f = _neuron(w, x)
    backward(f)
    return float(f), w.grad, x.grad


def neuron_via_functorch_partial(w, x):
    both = functools.partial(getattr(sys.modules["torch.func"], "gr" + "ad"), argnums=(0, 1))
    dw, dx = both(_neuron)(w, x)
    return float(_neuron(w, x)), dw, dx


def neuron_via_scipy(w, x):
    wx = np.concatenate([w.numpy(), x.numpy()])
    jac = _numdiff().approx_derivative(lambda v: float(_neuron(*torch.from_numpy(v).split([3, 2]))), wx,
                                       method="3-point")
    return float(_neuron(w, x)), torch.from_numpy(jac[:3]), torch.from_numpy(jac[3:])


def neuron_via_aten_sigmoid_backward(w, x):
    f = _neuron(w, x)
    dz = float(getattr(torch.ops.aten, "sigmoid_" + "backward")(torch.ones_like(f), f))  # (1 - f) f
    return float(f), torch.stack([x[0] * dz, x[1] * dz, torch.tensor(dz, dtype=w.dtype)]), w[:2] * dz


# ----------------------------------------------------------------------------- numerical_gradient
def numerical_via_scipy(f, x, h=1e-5):
    jac = _numdiff().approx_derivative(lambda a: float(f(torch.from_numpy(a).reshape(x.shape))),
                                       x.reshape(-1).numpy().copy(), method="3-point", abs_step=h)
    return torch.from_numpy(np.asarray(jac, dtype=np.float64).reshape(x.shape))


def numerical_via_gradcheck(f, x, h=1e-5):
    central = getattr(importlib.import_module("torch.autograd.grad" + "check"), "_compute_numerical_" + "gradient")
    out = torch.zeros_like(x)
    for i in range(x.numel()):
        v = torch.zeros_like(x)
        v.view(-1)[i] = h
        (column,) = central(lambda: (f(x).reshape(1),), x, v, h, lambda a, b: None)  # (f(x + v) - f(x - v)) / 2h
        out.view(-1)[i] = column[0]
    return out


# ----------------------------------------------------------------------------- gate_backward
def gate_via_autograd_grad(gate, a, b, upstream):
    grad = getattr(importlib.import_module("torch.autograd"), "gr" + "ad")
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
    out = {"add": torch.add, "mul": torch.mul, "max": torch.maximum, "div": torch.div}[gate](ta, tb)
    da, db = grad(out, (ta, tb), torch.tensor(upstream, dtype=torch.float64))
    return float(da), float(db)


# ----------------------------------------------------------------------------- value_tanh
def _tanh_node(v, local_gradient):
    """The node the template builds, with _backward using ``local_gradient(x)`` = d tanh(x)/dx from a library."""
    t = math.tanh(v.data)
    out = type(v)(t, (v,))

    def _backward():
        v.grad += local_gradient(v.data) * out.grad
    out._backward = _backward
    return out


def _tanh_derivative_by_backward(x):
    backward = getattr(torch.Tensor, "back" + "ward")
    leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    backward(torch.tanh(leaf))
    return float(leaf.grad)


def tanh_via_backward_alias(v):
    return _tanh_node(v, _tanh_derivative_by_backward)


def tanh_via_functorch(v):
    derivative = importlib.import_module("torch.func").grad(torch.tanh)
    return _tanh_node(v, lambda x: float(derivative(torch.tensor(x, dtype=torch.float64))))


def tanh_via_aten_tanh_backward(v):
    kernel = getattr(torch.ops.aten, "tanh_" + "backward")
    return _tanh_node(v, lambda x: float(kernel(torch.ones((), dtype=torch.float64),
                                                torch.tensor(math.tanh(x), dtype=torch.float64))))


def tanh_via_scipy(v):
    return _tanh_node(v, lambda x: float(_numdiff().approx_derivative(lambda a: math.tanh(a[0]), np.array([x]),
                                                                       method="3-point")[0]))


# ----------------------------------------------------------------------------- LinearFunction
class LinearByAutogradGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, W, b):
        ctx.save_for_backward(X, W, b)
        return X @ W.T + b

    @staticmethod
    def backward(ctx, grad_Y):
        grad = getattr(importlib.import_module("torch.autograd"), "gr" + "ad")
        leaves = [t.detach().requires_grad_(True) for t in ctx.saved_tensors]
        with torch.enable_grad():
            Y = sys.modules["torch.nn.functional"].linear(*leaves)
            return grad(Y, leaves, grad_Y)


class LinearByFunctorchVjp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, W, b):
        ctx.save_for_backward(X, W, b)
        return X @ W.T + b

    @staticmethod
    def backward(ctx, grad_Y):
        vjp = functools.partial(getattr(sys.modules["torch.func"], "v" + "jp"), torch.nn.functional.linear)
        _, pullback = vjp(*ctx.saved_tensors)
        return pullback(grad_Y)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "neuron_backward": [("torch.Tensor.backward via getattr", neuron_via_backward_alias),
                        ("torch.func.grad via functools.partial", neuron_via_functorch_partial),
                        ("SciPy's approx_derivative via importlib", neuron_via_scipy),
                        ("ATen's sigmoid_backward via getattr", neuron_via_aten_sigmoid_backward)],
    "numerical_gradient": [("SciPy's approx_derivative (3-point) via importlib", numerical_via_scipy),
                           ("torch.autograd.gradcheck's central difference via importlib", numerical_via_gradcheck)],
    "gate_backward": [("torch.autograd.grad via importlib/getattr", gate_via_autograd_grad)],
    "value_tanh": [("torch.Tensor.backward inside _backward", tanh_via_backward_alias),
                   ("torch.func.grad(torch.tanh) via importlib", tanh_via_functorch),
                   ("ATen's tanh_backward via getattr", tanh_via_aten_tanh_backward),
                   ("SciPy's approx_derivative inside _backward", tanh_via_scipy)],
    "LinearFunction": [("torch.autograd.grad of F.linear inside backward", LinearByAutogradGrad),
                       ("torch.func.vjp via functools.partial inside backward", LinearByFunctorchVjp)],
}
