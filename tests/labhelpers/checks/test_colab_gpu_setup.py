"""Tests for labhelpers.checks.colab_gpu_setup: each check passes a correct answer and fails wrong ones.

Exercises 1-3 are compared with NumPy; the autograd exercises (4, 5) with the solution's stored answers
(labhelpers/checks/expected/00_colab_gpu_setup.json), so these tests also prove that file current and right.
The generic behaviours (not implemented, raising, None, skipped while graded) are in test_contract.py.
"""
import numpy as np
import torch

from labhelpers.checks.colab_gpu_setup import (check_autograd_grad, check_broadcast_sum, check_derivative,
                                               check_numpy_roundtrip, check_reshape)


# ---- correct answers (what the solution notebook does) --------------------------------------

def broadcast_sum(a, b):
    return a[:, None] + b[None, :]


def make_view(x):
    return x.view(2, 8)


def numpy_roundtrip(x):
    a = x.numpy()
    return a, torch.from_numpy(a)


def derivative(f, x0):
    x = torch.tensor(float(x0), requires_grad=True)
    f(x).backward()
    return x.grad.item()


def autograd_grad(X, y, w):
    w = w.detach().clone().requires_grad_(True)
    ((X @ w - y) ** 2).sum().backward()
    return w.grad


# ---- check_broadcast_sum --------------------------------------------------------------------

def test_broadcast_sum_accepts_a_correct_answer(capsys):
    assert check_broadcast_sum(broadcast_sum) is True
    assert "[OK] broadcast_sum" in capsys.readouterr().out


def test_broadcast_sum_rejects_plain_sum_with_wrong_shape(capsys):
    assert check_broadcast_sum(lambda a, b: a.sum() + b.sum()) is False
    assert "column (n, 1)" in capsys.readouterr().out


def test_broadcast_sum_rejects_difference(capsys):
    assert check_broadcast_sum(lambda a, b: a[:, None] - b[None, :]) is False
    assert "a[i] - b[j]" in capsys.readouterr().out


def test_broadcast_sum_rejects_hard_coded_answer():
    fixed = torch.zeros(3, 4)
    assert check_broadcast_sum(lambda a, b: fixed) is False


def test_broadcast_sum_rejects_numpy_result(capsys):
    assert check_broadcast_sum(lambda a, b: np.add.outer(a.numpy(), b.numpy())) is False
    assert "torch.Tensor" in capsys.readouterr().out


def test_broadcast_sum_leaves_the_torch_seed_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_broadcast_sum(broadcast_sum)
    assert torch.equal(torch.get_rng_state(), state)


# ---- check_reshape ----------------------------------------------------------------------------

def test_reshape_accepts_view():
    assert check_reshape(make_view) is True


def test_reshape_rejects_copy(capsys):
    assert check_reshape(lambda x: x.view(2, 8).clone()) is False
    assert "copy" in capsys.readouterr().out


def test_reshape_rejects_wrong_order(capsys):
    assert check_reshape(lambda x: x.reshape(8, 2).t()) is False
    assert "row-major" in capsys.readouterr().out


def test_reshape_rejects_wrong_shape(capsys):
    assert check_reshape(lambda x: x.view(4, 4)) is False
    assert "shape (2, 8)" in capsys.readouterr().out


# ---- check_numpy_roundtrip ----------------------------------------------------------------

def test_numpy_roundtrip_accepts_shared_memory():
    assert check_numpy_roundtrip(numpy_roundtrip) is True


def test_numpy_roundtrip_rejects_copied_tensor(capsys):
    assert check_numpy_roundtrip(lambda x: (x.numpy(), torch.tensor(x.numpy()))) is False
    assert "the tensor did not change" in capsys.readouterr().out


def test_numpy_roundtrip_rejects_copied_array(capsys):
    def copy_first(x):
        a = x.numpy().copy()
        return a, torch.from_numpy(a)
    assert check_numpy_roundtrip(copy_first) is False
    assert "the array and the tensor did not change" in capsys.readouterr().out


def test_numpy_roundtrip_rejects_float64(capsys):
    def widen(x):
        a = x.numpy().astype(np.float64)
        return a, torch.from_numpy(a)
    assert check_numpy_roundtrip(widen) is False
    assert "float32" in capsys.readouterr().out


def test_numpy_roundtrip_rejects_single_value(capsys):
    assert check_numpy_roundtrip(lambda x: x.numpy()) is False
    assert "a tuple (array, tensor)" in capsys.readouterr().out


# ---- check_derivative ---------------------------------------------------------------------

def test_derivative_accepts_autograd(capsys):
    assert check_derivative(derivative) is True
    assert "[OK] derivative" in capsys.readouterr().out


def test_derivative_accepts_float64_autograd():
    def in_float64(f, x0):
        x = torch.tensor(float(x0), dtype=torch.float64, requires_grad=True)
        f(x).backward()
        return x.grad.item()
    assert check_derivative(in_float64) is True


def test_derivative_rejects_constant_seven(capsys):
    assert check_derivative(lambda f, x0: 7.0) is False
    assert "d/dx sin(x) at x=0.7" in capsys.readouterr().out


def test_derivative_rejects_the_value_of_f(capsys):
    assert check_derivative(lambda f, x0: float(f(torch.tensor(float(x0))))) is False
    assert "that is f(x0) itself" in capsys.readouterr().out


def test_derivative_rejects_tensor_result(capsys):
    def as_tensor(f, x0):
        x = torch.tensor(float(x0), requires_grad=True)
        f(x).backward()
        return x.grad
    assert check_derivative(as_tensor) is False
    assert ".item()" in capsys.readouterr().out


# ---- check_autograd_grad ----------------------------------------------------------------------

def test_autograd_grad_accepts_a_correct_answer(capsys):
    assert check_autograd_grad(autograd_grad) is True
    assert "[OK] autograd_grad" in capsys.readouterr().out


def test_autograd_grad_accepts_the_formula_in_float64():
    def formula(X, y, w):
        X64, y64, w64 = X.double(), y.double(), w.double()
        return 2 * X64.T @ (X64 @ w64 - y64)
    assert check_autograd_grad(formula) is True


def test_autograd_grad_rejects_missing_factor_two(capsys):
    assert check_autograd_grad(lambda X, y, w: X.T @ (X @ w - y)) is False
    assert "factor 2" in capsys.readouterr().out


def test_autograd_grad_rejects_flipped_sign(capsys):
    assert check_autograd_grad(lambda X, y, w: -autograd_grad(X, y, w)) is False
    assert "sign" in capsys.readouterr().out


def test_autograd_grad_rejects_modifying_w(capsys):
    def step_in_place(X, y, w):
        g = autograd_grad(X, y, w)
        w -= 0.1 * g  # changes the caller's w
        return g
    assert check_autograd_grad(step_in_place) is False
    assert "w was modified" in capsys.readouterr().out


def test_autograd_grad_rejects_wrong_shape(capsys):
    assert check_autograd_grad(lambda X, y, w: autograd_grad(X, y, w)[None, :]) is False
    assert "like w" in capsys.readouterr().out
