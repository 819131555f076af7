"""Tests for labhelpers.checks.regression_classification: each check passes a correct answer and fails wrong ones.

Two checks compare with the solution's stored answers (labhelpers/checks/expected/05_regression_classification.json),
so these tests also prove that the stored file is current and right. (Not implemented, raising and None
answers, and skipping while graded: tests/labhelpers/checks/test_contract.py.)
"""
import numpy as np
import pytest
import torch

from labhelpers.checks.regression_classification import (check_bce_gradients, check_error_rate_and_cross_entropy,
                                                         check_fit_logistic, check_max_stable_lr, check_mse_gradients,
                                                         check_softmax)


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


def fit_logistic(X, y, W, b, lr, num_steps, mistake=None):
    costs = []
    first = bce_gradients(X, y, W, b)
    for _ in range(num_steps):
        p = torch.sigmoid(X @ W + b)
        cost = (-(y * torch.log(p) + (1 - y) * torch.log(1 - p))).mean()
        if mistake != "late cost":
            costs.append(cost.item() * (len(X) if mistake == "summed cost" else 1))
        dW, db = first if mistake == "stale gradient" else bce_gradients(X, y, W, b)
        if mistake == "summed gradient":
            dW, db = dW * len(X), db * len(X)
        step = {"wrong sign": -lr, "no lr": 1.0}.get(mistake, lr)
        W = W - step * dW
        b = b - step * (bce_gradients(X, y, W, b)[1] if mistake == "stale b" else db)
        if mistake == "late cost":
            p = torch.sigmoid(X @ W + b)
            costs.append((-(y * torch.log(p) + (1 - y) * torch.log(1 - p))).mean().item())
    return W, b, costs


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


def test_mse_gradients_rejects_missing_factor_two(capsys):
    def half(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return dW / 2, db / 2
    assert check_mse_gradients(half) is False
    assert "factor 2" in capsys.readouterr().out


def test_mse_gradients_rejects_sum_instead_of_mean(capsys):
    def summed(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return dW * len(X), db * len(X)
    assert check_mse_gradients(summed) is False
    assert "MEAN" in capsys.readouterr().out


def test_mse_gradients_rejects_y_minus_prediction(capsys):
    def flipped(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return -dW, -db
    assert check_mse_gradients(flipped) is False
    assert "wrong sign" in capsys.readouterr().out


def test_mse_gradients_rejects_flat_dW(capsys):
    def flat(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return dW.ravel(), db
    assert check_mse_gradients(flat) is False
    assert "shapes" in capsys.readouterr().out


@pytest.mark.parametrize("which,words", [("dW", "dW is half the right value: a factor 2 is missing"),
                                         ("db", "db is half the right value: a factor 2 is missing")])
def test_mse_gradients_names_a_missing_factor_two_in_one_of_the_gradients(which, words, capsys):
    def half_one(X, y, W, b):
        dW, db = mse_gradients(X, y, W, b)
        return (dW / 2, db) if which == "dW" else (dW, db / 2)
    assert check_mse_gradients(half_one) is False
    out = capsys.readouterr().out
    assert words in out and ("db is right" if which == "dW" else "dW is right") in out, out


def test_mse_gradients_explains_a_transposed_weight(capsys):
    def transposed(X, y, W, b):
        error = X @ W.T + b - y
        return 2.0 / len(X) * X.T @ error, 2.0 / len(X) * error.sum(axis=0)
    assert check_mse_gradients(transposed) is False
    out = capsys.readouterr().out
    assert "mismatch" in out and "X is (3, 2), y (3, 1), W (2, 1)" in out and "transposed weight" in out, out


def test_mse_gradients_rejects_single_value():
    assert check_mse_gradients(lambda X, y, W, b: mse_gradients(X, y, W, b)[0]) is False


# ---- check_max_stable_lr -----------------------------------------------------------------------

def test_max_stable_lr_accepts_reference():
    assert check_max_stable_lr(max_stable_lr) is True


def test_max_stable_lr_rejects_missing_bias_column(capsys):
    assert check_max_stable_lr(lambda X: 2.0 / np.linalg.eigvalsh(2.0 / len(X) * X.T @ X).max()) is False
    assert "column of ones" in capsys.readouterr().out


def test_max_stable_lr_rejects_one_over_lambda(capsys):
    assert check_max_stable_lr(lambda X: max_stable_lr(X) / 2) is False
    assert "not 1 / lambda_max" in capsys.readouterr().out


def test_max_stable_lr_rejects_lambda_itself(capsys):
    assert check_max_stable_lr(lambda X: 2.0 / max_stable_lr(X)) is False
    assert "lambda_max itself" in capsys.readouterr().out


def test_max_stable_lr_rejects_a_hessian_without_2_over_m(capsys):
    def no_factor(X):
        X_tilde = np.hstack([X, np.ones((len(X), 1))])
        return 2.0 / np.linalg.eigvalsh(X_tilde.T @ X_tilde).max()
    assert check_max_stable_lr(no_factor) is False
    assert "2/m" in capsys.readouterr().out


def test_max_stable_lr_rejects_array_answer():
    assert check_max_stable_lr(lambda X: np.full(3, max_stable_lr(X))) is False


# ---- check_bce_gradients -----------------------------------------------------------------------

def test_bce_gradients_accepts_reference():
    assert check_bce_gradients(bce_gradients) is True


def test_bce_gradients_rejects_mse_gradient():
    def mse_style(X, y, W, b):
        p = torch.sigmoid(X @ W + b)
        delta = 2 * (p - y) * p * (1 - p)
        return X.T @ delta / len(X), delta.mean(dim=0)
    assert check_bce_gradients(mse_style) is False


def test_bce_gradients_rejects_wrong_sign(capsys):
    assert check_bce_gradients(lambda X, y, W, b: tuple(-g for g in bce_gradients(X, y, W, b))) is False
    assert "p - y" in capsys.readouterr().out


def test_bce_gradients_explains_a_missing_transpose(capsys):
    def no_transpose(X, y, W, b):
        p = torch.sigmoid(X @ W + b)
        return X @ (p - y) / len(X), (p - y).mean(dim=0)
    assert check_bce_gradients(no_transpose) is False
    out = capsys.readouterr().out
    assert "mat1 and mat2 shapes cannot be multiplied" in out and "missing (or extra) .T" in out, out


# ---- check_fit_logistic ------------------------------------------------------------------------

def test_fit_logistic_accepts_reference(capsys):
    assert check_fit_logistic(fit_logistic) is True, capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [
    ("wrong sign", "wrong sign"),
    ("summed gradient", "factor 1/m"),
    ("stale gradient", "not once, before the loop"),
    ("stale b", "W is right but b is not"),
    ("no lr", "multiply by the learning rate"),
    ("late cost", "one step late"),
    ("summed cost", "MEAN cross-entropy"),
])
def test_fit_logistic_names_each_mistake(mistake, words, capsys):
    assert check_fit_logistic(lambda *args: fit_logistic(*args, mistake=mistake)) is False
    out = capsys.readouterr().out
    assert words in out, out


def test_fit_logistic_wants_num_steps_float_costs(capsys):
    def extra(X, y, W, b, lr, num_steps):
        return fit_logistic(X, y, W, b, lr, num_steps + 1)
    assert check_fit_logistic(extra) is False
    assert "range(num_steps)" in capsys.readouterr().out

    def tensors(X, y, W, b, lr, num_steps):
        W, b, costs = fit_logistic(X, y, W, b, lr, num_steps)
        return W, b, [torch.tensor(c) for c in costs]
    assert check_fit_logistic(tensors) is False
    assert "cost.item()" in capsys.readouterr().out


def test_fit_logistic_rejects_weights_that_never_move(capsys):
    def frozen(X, y, W, b, lr, num_steps):
        _, _, costs = fit_logistic(X, y, W, b, lr, num_steps)
        return W, b, costs
    assert check_fit_logistic(frozen) is False
    assert "never changed" in capsys.readouterr().out


# ---- check_softmax ---------------------------------------------------------------------------

def test_softmax_accepts_reference():
    assert check_softmax(softmax) is True


def test_softmax_rejects_unstable_version(capsys):
    assert check_softmax(lambda Z: torch.exp(Z) / torch.exp(Z).sum(dim=1, keepdim=True)) is False
    assert "maximum" in capsys.readouterr().out


def test_softmax_rejects_wrong_axis(capsys):
    def by_column(Z):
        E = torch.exp(Z - Z.max())
        return E / E.sum(dim=0, keepdim=True)
    assert check_softmax(by_column) is False
    assert "ROW" in capsys.readouterr().out


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


def test_error_rate_and_cross_entropy_rejects_accuracy(capsys):
    def accuracy(P, y):
        error_rate, ce = error_rate_and_cross_entropy(P, y)
        return 1 - error_rate, ce
    assert check_error_rate_and_cross_entropy(accuracy) is False
    assert "accuracy" in capsys.readouterr().out


def test_error_rate_and_cross_entropy_rejects_predicted_class_probability(capsys):
    def max_prob(P, y):
        error_rate, _ = error_rate_and_cross_entropy(P, y)
        return error_rate, -torch.log(P.max(dim=1).values).mean().item()
    assert check_error_rate_and_cross_entropy(max_prob) is False
    assert "TRUE class" in capsys.readouterr().out


def test_error_rate_and_cross_entropy_rejects_a_sum(capsys):
    def summed(P, y):
        error_rate, ce = error_rate_and_cross_entropy(P, y)
        return error_rate, ce * len(y)
    assert check_error_rate_and_cross_entropy(summed) is False
    assert "MEAN" in capsys.readouterr().out


def test_error_rate_and_cross_entropy_cannot_be_hard_coded():
    assert check_error_rate_and_cross_entropy(lambda P, y: (0.25, 0.8)) is False
