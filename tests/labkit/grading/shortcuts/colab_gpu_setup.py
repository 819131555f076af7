"""Shortcut answers for lab 00: each computes a graded answer with a library routine the exercise asks
students not to use (NumPy's outer sum instead of broadcasting, SciPy's numerical derivatives instead of
autograd), reached through getattr with a built string or importlib. Every one must score 0 on its exercise
(tests/labkit/grading/test_shortcuts.py).

make_view (one call of x.view) and numpy_roundtrip (x.numpy(), torch.from_numpy) have no shortcut: the
exercise is that call, and no library routine does more of it.
"""
import importlib

import numpy as np
import torch

LAB = "00_colab_gpu_setup"


def broadcast_sum_via_add_outer(a, b):
    outer = getattr(np.add, "out" + "er")                    # np.add.outer, by a built name
    return torch.from_numpy(outer(a.numpy(), b.numpy()))


def broadcast_sum_via_subtract_outer(a, b):
    return torch.from_numpy(np.subtract.outer(a.numpy(), -b.numpy()))   # another ufunc's outer


def _scipy(module: str):
    return importlib.import_module("sci" + "py." + module)


def derivative_via_approx_fprime(f, x0):
    g = _scipy("optimize").approx_fprime(np.array([float(x0)]),
                                          lambda v: float(f(torch.from_numpy(v))[0]), 1e-7)
    return float(g[0])


def derivative_via_scipy_derivative(f, x0):
    def f_numpy(v):                                          # scipy.differentiate evaluates arrays of points
        return f(torch.from_numpy(np.asarray(v, dtype=np.float64))).numpy()
    return float(_scipy("differentiate").derivative(f_numpy, float(x0)).df)


def squared_error_grad_via_approx_fprime(X, y, w):
    X64, y64 = X.double().numpy(), y.double().numpy()
    g = _scipy("optimize").approx_fprime(w.double().numpy(), lambda v: float(((X64 @ v - y64) ** 2).sum()), 1e-8)
    return torch.from_numpy(g.astype(np.float32))


def squared_error_grad_via_jacobian(X, y, w):
    X64, y64 = X.double().numpy(), y.double().numpy()

    def loss(v):                                             # v: (d, ...) as scipy.differentiate evaluates it
        r = np.tensordot(X64, v, axes=(1, 0)) - y64.reshape((-1,) + (1,) * (v.ndim - 1))
        return (r ** 2).sum(axis=0)
    g = _scipy("differentiate").jacobian(loss, w.double().numpy()).df
    return torch.from_numpy(np.asarray(g, dtype=np.float32))


SHORTCUTS = {  # exercise -> [(how, answer)]
    "broadcast_sum": [("np.add.outer via getattr", broadcast_sum_via_add_outer),
                      ("np.subtract.outer (any ufunc's outer)", broadcast_sum_via_subtract_outer)],
    "derivative": [("scipy.optimize.approx_fprime via importlib", derivative_via_approx_fprime),
                   ("scipy.differentiate.derivative via importlib", derivative_via_scipy_derivative)],
    "squared_error_grad": [("scipy.optimize.approx_fprime via importlib", squared_error_grad_via_approx_fprime),
                           ("scipy.differentiate.jacobian via importlib", squared_error_grad_via_jacobian)],
}
