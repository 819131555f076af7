"""Forbidden-name lists that several hidden specs share: what differentiates for the student.

The run-time guard fails any call into these while a student's function runs; the source check matches an
entry's last name. torch.autograd.grad and torch.func.grad are caught through the engine
(_engine_run_backward) and functorch's grad_impl rather than by name: "grad" is a common variable name.
"""
from __future__ import annotations

import importlib.util

import torch

# The autograd engine (whatever calls it: Tensor.backward, torch.autograd.grad and .functional, torch.func)
# and forward-mode AD.
AUTOGRAD = ("torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.graph._engine_run_backward",
            "torch.autograd.variable.Variable._execution_engine.run_backward",
            "torch.autograd.functional.jacobian", "torch.autograd.functional.hessian",
            "torch.autograd.functional.vjp", "torch.autograd.functional.jvp", "torch.autograd.functional.vhp",
            "torch.autograd.functional.hvp", "torch.func.vjp", "torch.func.jacrev", "torch.func.jacfwd",
            "torch.func.jvp", "torch.func.hessian", "torch.func.linearize", "torch.func.grad_and_value",
            "torch._functorch.eager_transforms.grad_impl", "torch.autograd.forward_ad.make_dual",
            "torch.autograd.forward_ad.unpack_dual")
# Numerical differentiation: central differences of SciPy and of torch's gradcheck (away from kinks they are
# within any gradient exercise's tolerance).
NUMERICAL = ("scipy.optimize.approx_fprime", "scipy.optimize._numdiff.approx_derivative",
             "torch.autograd.gradcheck._compute_numerical_gradient") + (
    ("scipy.differentiate.jacobian",) if importlib.util.find_spec("scipy.differentiate") else ())  # SciPy >= 1.15


def aten(*names: str) -> tuple[str, ...]:
    """ATen operators, called as torch.ops.aten.NAME(...) or through their .default overload. (Other overloads,
    e.g. aten.softmax.int, are left out: the source check would then refuse every name `int`, `out`, ...)"""
    return tuple(path for name in names for path in (f"torch.ops.aten.{name}", f"torch.ops.aten.{name}.default")
                 if not path.endswith(".default") or "default" in getattr(torch.ops.aten, name).overloads())
