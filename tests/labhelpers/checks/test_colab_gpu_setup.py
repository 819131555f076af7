"""Tests for labhelpers.checks.colab_gpu_setup: each check passes the reference answer and fails wrong ones."""
import numpy as np
import torch

from labhelpers.checks.colab_gpu_setup import (check_autograd_grad, check_broadcast_sum, check_derivative,
                                       check_numpy_roundtrip, check_reshape)


def _todo(*args):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

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

def test_broadcast_sum_accepts_reference(capsys):
    assert check_broadcast_sum(broadcast_sum) is True
    assert "[OK] broadcast_sum" in capsys.readouterr().out


def test_broadcast_sum_rejects_plain_sum_with_wrong_shape():
    assert check_broadcast_sum(lambda a, b: a.sum() + b.sum()) is False


def test_broadcast_sum_rejects_difference(capsys):
    assert check_broadcast_sum(lambda a, b: a[:, None] - b[None, :]) is False
    assert "expected" in capsys.readouterr().out


def test_broadcast_sum_rejects_hard_coded_answer():
    fixed = torch.zeros(3, 4)
    assert check_broadcast_sum(lambda a, b: fixed) is False


def test_broadcast_sum_rejects_numpy_result():
    assert check_broadcast_sum(lambda a, b: np.add.outer(a.numpy(), b.numpy())) is False


# ---- check_reshape ----------------------------------------------------------------------------

def test_reshape_accepts_view():
    assert check_reshape(make_view) is True


def test_reshape_rejects_copy(capsys):
    assert check_reshape(lambda x: x.view(2, 8).clone()) is False
    assert "copy" in capsys.readouterr().out


def test_reshape_rejects_wrong_order():
    assert check_reshape(lambda x: x.reshape(8, 2).t()) is False


def test_reshape_rejects_wrong_shape():
    assert check_reshape(lambda x: x.view(4, 4)) is False


# ---- check_numpy_roundtrip ----------------------------------------------------------------

def test_numpy_roundtrip_accepts_shared_memory():
    assert check_numpy_roundtrip(numpy_roundtrip) is True


def test_numpy_roundtrip_rejects_copied_tensor(capsys):
    assert check_numpy_roundtrip(lambda x: (x.numpy(), torch.tensor(x.numpy()))) is False
    assert "the tensor did not change" in capsys.readouterr().out


def test_numpy_roundtrip_rejects_copied_array():
    def copy_first(x):
        a = x.numpy().copy()
        return a, torch.from_numpy(a)
    assert check_numpy_roundtrip(copy_first) is False


def test_numpy_roundtrip_rejects_float64():
    def widen(x):
        a = x.numpy().astype(np.float64)
        return a, torch.from_numpy(a)
    assert check_numpy_roundtrip(widen) is False


def test_numpy_roundtrip_rejects_single_value():
    assert check_numpy_roundtrip(lambda x: x.numpy()) is False


# ---- check_derivative ---------------------------------------------------------------------

def test_derivative_accepts_autograd():
    assert check_derivative(derivative) is True


def test_derivative_rejects_constant_seven():
    assert check_derivative(lambda f, x0: 7.0) is False


def test_derivative_rejects_tensor_result(capsys):
    def as_tensor(f, x0):
        x = torch.tensor(float(x0), requires_grad=True)
        f(x).backward()
        return x.grad
    assert check_derivative(as_tensor) is False
    assert ".item()" in capsys.readouterr().out


# ---- check_autograd_grad ----------------------------------------------------------------------

def test_autograd_grad_accepts_reference():
    assert check_autograd_grad(autograd_grad) is True


def test_autograd_grad_rejects_missing_factor_two():
    assert check_autograd_grad(lambda X, y, w: X.T @ (X @ w - y)) is False


def test_autograd_grad_rejects_modifying_w(capsys):
    def step_in_place(X, y, w):
        g = autograd_grad(X, y, w)
        w -= 0.1 * g  # changes the caller's w
        return g
    assert check_autograd_grad(step_in_place) is False
    assert "w was modified" in capsys.readouterr().out


def test_autograd_grad_rejects_wrong_shape():
    assert check_autograd_grad(lambda X, y, w: autograd_grad(X, y, w)[None, :]) is False


# ---- every check: not implemented / raising code -------------------------------------------

def test_checks_report_not_implemented_without_raising(capsys):
    results = [check_broadcast_sum(_todo), check_reshape(_todo), check_numpy_roundtrip(_todo),
               check_derivative(_todo), check_autograd_grad(_todo)]
    assert results == [False] * 5
    assert capsys.readouterr().out.count("not implemented yet") == 5


def test_checks_report_student_exception(capsys):
    def broken(*args):
        raise RuntimeError("shape mismatch")
    assert check_reshape(broken) is False
    assert "RuntimeError" in capsys.readouterr().out
