"""Hidden tests of lab 00 (Colab, GPU and PyTorch tensors). Instructor only: never released.

Each exercise gets fresh random inputs per submission; the references below run in the grader.
Exercises 2 and 3 ask for one PyTorch call each (view; numpy / from_numpy): no library routine does
more of their work, so nothing is forbidden there besides labhelpers (the guard's default).
"""
import importlib.util

import numpy as np
import torch

from labkit.grading.codec import encode
from labkit.grading.spec import Call, Exercise, Fn
from labkit.grading.verdict import compare

LAB = "00_colab_gpu_setup"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}


def _tensor(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.normal(size=shape).astype(np.float32))  # float32, like torch.randn


# ----------------------------------------------------------------------------- exercise 1
def _broadcast_probes(rng):
    sizes = [(int(rng.integers(2, 8)), int(rng.integers(2, 8))), (1, int(rng.integers(2, 6))), (int(rng.integers(2, 6)), 1)]
    return [Call((_tensor(rng, n), _tensor(rng, m)), label=f"a of shape ({n},), b of shape ({m},)") for n, m in sizes]


def _broadcast_reference(a, b):
    return a[:, None] + b[None, :]


# ----------------------------------------------------------------------------- exercise 2
def _view_probes(rng):
    shapes = [(16,), (4, 4), (2, 2, 4), (8, 2)]
    return [Call((_tensor(rng, *shape),), label=f"x of shape {shape}", mutate=True) for shape in shapes]


def _shares_memory(call: Call, response: dict) -> str | None:
    """The answer(s) must see a change written into x afterwards (a view, not a copy)."""
    after = response.get("after_mutation")
    arrays = after["__seq__"] if isinstance(after, dict) and "__seq__" in after else [after]
    for array in arrays:
        if not (isinstance(array, dict) and array.get("__nd__") and array["__nd__"][0] == 1000.0):
            return "a copy: changing x afterwards did not change your result (it must share x's memory)"
    return None


# ----------------------------------------------------------------------------- exercise 3
def _roundtrip_probes(rng):
    shapes = [(int(rng.integers(2, 9)),), (int(rng.integers(2, 5)), int(rng.integers(2, 5)))]
    return [Call((_tensor(rng, *shape),), label=f"x of shape {shape}", mutate=True) for shape in shapes]


def _roundtrip_reference(x):
    array = x.numpy()
    return array, torch.from_numpy(array)


# ----------------------------------------------------------------------------- exercise 4
def _derivative_probes(rng):
    calls = []
    for _ in range(4):
        fn = Fn(poly=tuple(float(c) for c in rng.uniform(-2, 2, size=int(rng.integers(2, 4)))),
                sin=(float(rng.uniform(-1, 1)), float(rng.uniform(0.5, 2))),
                exp=(float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-1, 1))))
        x0 = float(np.round(rng.uniform(-1.5, 1.5), 3))
        calls.append(Call((fn, x0), label=f"a polynomial plus sin and exp terms at x0 = {x0}"))
    return calls


def _derivative_reference(f, x0):
    x = torch.tensor(float(x0), dtype=torch.float64, requires_grad=True)
    f(x).backward()
    return float(x.grad.item())


# ----------------------------------------------------------------------------- exercise 5
def _grad_probes(rng):
    calls = []
    for _ in range(2):
        n, d = int(rng.integers(4, 12)), int(rng.integers(2, 6))
        calls.append(Call((_tensor(rng, n, d), _tensor(rng, n), _tensor(rng, d)), report_args=True,
                          label=f"X of shape ({n}, {d})"))
    return calls


def _grad_reference(X, y, w):
    X64, y64, w64 = X.double(), y.double(), w.double()
    return (2 * X64.T @ (X64 @ w64 - y64)).float()  # (d,), float32 like the student's


def _w_unchanged(call: Call, response: dict) -> str | None:
    after = response.get("args_after") or [None, None, None]
    if compare(after[2], encode(call.args[2]), atol=0, rtol=0) is not None:
        return "w was modified: work on a copy (w.detach().clone().requires_grad_(True))"
    return None


# What an exercise asks students to do themselves (the run-time guard fails any call into these).
OUTER_SUM = ("numpy.ufunc.outer", "numpy.add.outer")      # np.add.outer(a, b) is the whole table
# numerical differentiation: exercises 4 and 5 ask for autograd, not an approximation by a library.
# scipy.differentiate.derivative only where it is the exercise's own name (the source check skips that name;
# elsewhere a local variable called `derivative` would count as a forbidden use).
_NEW_SCIPY = importlib.util.find_spec("scipy.differentiate") is not None                          # SciPy >= 1.15
NUMERICAL_GRADIENT = ("scipy.optimize.approx_fprime",) + (("scipy.differentiate.jacobian",) if _NEW_SCIPY else ())
NUMERICAL_DERIVATIVE = NUMERICAL_GRADIENT + (("scipy.differentiate.derivative",) if _NEW_SCIPY else ())

EXERCISES = [
    Exercise("broadcast_sum", 2, "table[i, j] must be a[i] + b[j]: make a a column (n, 1) and b a row (1, m)",
             _broadcast_probes, _broadcast_reference, strict_types=True, forbidden=OUTER_SUM),
    Exercise("make_view", 2, "return x.view(2, 8): a (2, 8) view sharing x's memory, elements in row-major order",
             _view_probes, lambda x: x.reshape(2, 8), strict_types=True, verify=_shares_memory),
    Exercise("numpy_roundtrip", 2, "return (x.numpy(), torch.from_numpy(that array)): float32, sharing x's memory",
             _roundtrip_probes, _roundtrip_reference, strict_types=True, verify=_shares_memory),
    Exercise("derivative", 2, "f'(x0) by autograd, returned as a Python float (.item())",
             _derivative_probes, _derivative_reference, atol=1e-4, rtol=1e-4, strict_types=True,
             forbidden=NUMERICAL_DERIVATIVE),
    Exercise("squared_error_grad", 2, "the gradient 2 X^T (X w - y) by autograd on a copy of w, shape (d,)",
             _grad_probes, _grad_reference, atol=1e-4, rtol=1e-4, strict_types=True, verify=_w_unchanged,
             forbidden=NUMERICAL_GRADIENT),
]
