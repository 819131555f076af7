"""Tests for labhelpers.checks.regression_classification: each check passes the reference answer and fails wrong ones."""
import numpy as np
import torch

from labhelpers.checks.regression_classification import (check_bce_gradients, check_error_rate_and_cross_entropy,
                                          check_max_stable_lr, check_mse_gradients, check_softmax)


def _todo(*args):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def mse_gradients(X, y, W, b):
    error = X @ W + b - y
    return 2.0 / len(X) * X.T @ error, 2.0 / len(X) * error.sum(axis=0)


def max_stable_lr(X):
    X_tilde = np.hstack([X, np.ones((len(X), 1))])
    return 2.0 / np.linalg.eigvalsh(2.0 / len(X) * X_tilde.T @ X_tilde).max()


def bce_gradients(X, y, W, b):
    p = torch.sigmoid(X @ W + b)
    return X.T @ (p - y) / len(X), (p - y).mean(dim=0)


def softmax(Z):
    E = torch.exp(Z - Z.max(dim=1, keepdim=True).values)
    return E / E.sum(dim=1, keepdim=True)


def error_rate_and_cross_entropy(P, y):
    error_rate = (P.argmax(dim=1) != y).double().mean().item()
    ce = -torch.log(P[torch.arange(len(y)), y]).mean().item()
    return error_rate, ce


# ---- check_mse_gradients ---------------------------------------------------------------------

def test_mse_gradients_accepts_reference(capsys):
    assert check_mse_gradients(mse_gradients) is True
    assert "[OK] mse_gradients" in capsys.readouterr().out


def test_mse_gradients_rejects_missing_factor_two():
    def half(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return dW / 2, db / 2
    assert check_mse_gradients(half) is False


def test_mse_gradients_rejects_sum_instead_of_mean():
    def summed(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return dW * len(X), db * len(X)
    assert check_mse_gradients(summed) is False


def test_mse_gradients_rejects_flat_dW(capsys):
    def flat(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return dW.ravel(), db
    assert check_mse_gradients(flat) is False
    assert "shapes" in capsys.readouterr().out


def test_mse_gradients_rejects_single_value():
    assert check_mse_gradients(lambda X, y, W, b: mse_gradients(X, y, W, b)[0]) is False


# ---- check_max_stable_lr -----------------------------------------------------------------------

def test_max_stable_lr_accepts_reference():
    assert check_max_stable_lr(max_stable_lr) is True


def test_max_stable_lr_rejects_missing_bias_column():
    assert check_max_stable_lr(lambda X: 2.0 / np.linalg.eigvalsh(2.0 / len(X) * X.T @ X).max()) is False


def test_max_stable_lr_rejects_one_over_lambda():
    assert check_max_stable_lr(lambda X: max_stable_lr(X) / 2) is False


def test_max_stable_lr_rejects_array_answer():
    assert check_max_stable_lr(lambda X: np.full(3, max_stable_lr(X))) is False


# ---- check_bce_gradients -----------------------------------------------------------------------

def test_bce_gradients_accepts_reference():
    assert check_bce_gradients(bce_gradients) is True


def test_bce_gradients_accepts_autograd_answer():
    def by_autograd(X, y, W, b):
        W, b = W.requires_grad_(True), b.requires_grad_(True)
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(X @ W + b), y).backward()
        return W.grad, b.grad
    assert check_bce_gradients(by_autograd) is True


def test_bce_gradients_rejects_mse_gradient():
    def mse_style(X, y, W, b):
        p = torch.sigmoid(X @ W + b)
        delta = 2 * (p - y) * p * (1 - p)
        return X.T @ delta / len(X), delta.mean(dim=0)
    assert check_bce_gradients(mse_style) is False


def test_bce_gradients_rejects_wrong_sign(capsys):
    assert check_bce_gradients(lambda X, y, W, b: tuple(-g for g in bce_gradients(X, y, W, b))) is False
    assert "p - y" in capsys.readouterr().out


# ---- check_softmax ---------------------------------------------------------------------------

def test_softmax_accepts_reference():
    assert check_softmax(softmax) is True


def test_softmax_rejects_unstable_version(capsys):
    assert check_softmax(lambda Z: torch.exp(Z) / torch.exp(Z).sum(dim=1, keepdim=True)) is False
    assert "maximum" in capsys.readouterr().out


def test_softmax_rejects_wrong_axis():
    def by_column(Z):
        E = torch.exp(Z - Z.max())
        return E / E.sum(dim=0, keepdim=True)
    assert check_softmax(by_column) is False


def test_softmax_rejects_sigmoid():
    assert check_softmax(torch.sigmoid) is False


# ---- check_error_rate_and_cross_entropy --------------------------------------------------------

def test_error_rate_and_cross_entropy_accepts_reference():
    assert check_error_rate_and_cross_entropy(error_rate_and_cross_entropy) is True


def test_error_rate_and_cross_entropy_rejects_log10(capsys):
    def log10(P, y):
        error_rate, _ = error_rate_and_cross_entropy(P, y)
        return error_rate, -torch.log10(P[torch.arange(len(y)), y]).mean().item()
    assert check_error_rate_and_cross_entropy(log10) is False
    assert "natural log" in capsys.readouterr().out


def test_error_rate_and_cross_entropy_rejects_accuracy():
    def accuracy(P, y):
        error_rate, ce = error_rate_and_cross_entropy(P, y)
        return 1 - error_rate, ce
    assert check_error_rate_and_cross_entropy(accuracy) is False


def test_error_rate_and_cross_entropy_rejects_predicted_class_probability():
    def max_prob(P, y):
        error_rate, _ = error_rate_and_cross_entropy(P, y)
        return error_rate, -torch.log(P.max(dim=1).values).mean().item()
    assert check_error_rate_and_cross_entropy(max_prob) is False


# ---- every check: not implemented / raising code -------------------------------------------

def test_checks_report_not_implemented_without_raising(capsys):
    results = [check_mse_gradients(_todo), check_max_stable_lr(_todo), check_bce_gradients(_todo),
               check_softmax(_todo), check_error_rate_and_cross_entropy(_todo)]
    assert results == [False] * 5
    assert capsys.readouterr().out.count("not implemented yet") == 5


def test_checks_report_student_exception(capsys):
    def broken(*args):
        raise RuntimeError("shape mismatch")
    assert check_softmax(broken) is False
    assert "RuntimeError" in capsys.readouterr().out
