"""Self-checks for lab 05 (regression and classification from scratch): gradients, learning rate, softmax, CE.

Every check builds its own inputs (a private generator), computes the expected answer independently
(central differences, NumPy's eigenvalues, autograd or a plain loop), calls the student's function
through ``attempt`` and prints "expected / received". Hard-coded outputs therefore fail.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from labhelpers.checks import as_numpy, attempt, close, report

__all__ = ["check_mse_gradients", "check_max_stable_lr", "check_bce_gradients", "check_softmax",
           "check_error_rate_and_cross_entropy"]

# The slides' two models (Kuo, "Error Rate (1-Accuracy)"): rows = images, columns = Dog, Cat, Snake.
SLIDE_P1 = np.array([[0.3, 0.4, 0.3], [0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [0.3, 0.2, 0.5]])
SLIDE_P2 = np.array([[0.1, 0.8, 0.1], [0.9, 0.1, 0.0], [0.4, 0.3, 0.3], [0.2, 0.0, 0.8]])
SLIDE_Y = np.array([1, 0, 1, 2])  # Cat, Dog, Cat, Snake


def _pair(name: str, received: object) -> tuple[np.ndarray, np.ndarray] | None:
    """Unpack a (dW, db) answer into two arrays, reporting a failure (and returning None) if it is not one."""
    if not (isinstance(received, (tuple, list)) and len(received) == 2):
        report(name, False, expected="a tuple (dW, db)", received=type(received).__name__, hint="return dW, db")
        return None
    dW, db = (as_numpy(v) for v in received)
    if dW is None or db is None:
        report(name, False, expected="two arrays of numbers", received=repr(received)[:80])
        return None
    return dW, db


def _mse_cost(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((X @ W + b - y) ** 2))


def _central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """df/dx for every entry of x by (f(x + h) - f(x - h)) / 2h (x is not changed)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (f(plus) - f(minus)) / (2 * h)
    return grad


def check_mse_gradients(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(X, y, W, b)`` -> (dW (n,1), db (1,)) of mean((X W + b - y)^2), NumPy (lab 05, exercise 1)."""
    name = "mse_gradients"
    rng = np.random.default_rng(501)
    cases = [(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), np.array([[10.0], [20.0], [30.0]]),
              np.array([[0.5], [-0.3]]), np.array([0.1]))]  # the slides' data
    for m, n in [(5, 3), (8, 1)]:
        cases.append((rng.normal(size=(m, n)), rng.normal(size=(m, 1)), rng.normal(size=(n, 1)), rng.normal(size=1)))
    for X, y, W, b in cases:
        expected_dW = _central_difference(lambda w: _mse_cost(X, y, w, b), W)
        expected_db = _central_difference(lambda c: _mse_cost(X, y, W, c), b)
        ok, received = attempt(name, fn, X.copy(), y.copy(), W.copy(), b.copy())
        if not ok:
            return False
        pair = _pair(name, received)
        if pair is None:
            return False
        dW, db = pair
        if dW.shape != W.shape or db.reshape(-1).shape != (1,):
            return report(name, False, expected=f"shapes {W.shape} and (1,)", received=f"{dW.shape} and {db.shape}",
                          hint="dW has W's shape (n, 1); db has b's shape (1,) — sum over the m points")
        if not (close(dW, expected_dW, atol=1e-5, rtol=1e-5) and close(db.reshape(-1), expected_db, atol=1e-5)):
            return report(name, False, expected=(expected_dW.reshape(-1).round(5), expected_db.round(5)),
                          received=(dW.reshape(-1).round(5), db.reshape(-1).round(5)),
                          hint="error e = X @ W + b - y (m, 1); dW = 2/m X^T e; db = 2/m sum(e)")
    return report(name, True)


def check_max_stable_lr(fn: Callable[[np.ndarray], float]) -> bool:
    """Check ``fn(X)`` = 2 / largest eigenvalue of the MSE Hessian (2/m) [X 1]^T [X 1] (lab 05, exercise 2)."""
    name = "max_stable_lr"
    rng = np.random.default_rng(502)
    cases = [np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), np.array([[1.0], [2.0], [3.0]]),
             rng.normal(size=(10, 3)), rng.normal(loc=2.0, size=(6, 2))]
    for X in cases:
        X_tilde = np.hstack([X, np.ones((len(X), 1))])
        expected = 2.0 / np.linalg.eigvalsh(2.0 / len(X) * X_tilde.T @ X_tilde).max()
        ok, received = attempt(name, fn, X.copy())
        if not ok:
            return False
        value = as_numpy(received)
        if value is None or value.size != 1:
            return report(name, False, expected="one number", received=repr(received)[:80],
                          hint="return a float: 2 / (largest eigenvalue)")
        if not close(value.reshape(()), expected, rtol=1e-6):
            return report(name, False, expected=f"{expected:.6f}", received=f"{float(value.reshape(())):.6f}",
                          hint="append a column of ones to X (the bias), H = 2/m X~^T X~, "
                               "lr_max = 2 / max(np.linalg.eigvalsh(H))")
    return report(name, True)


def check_bce_gradients(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(X, y, W, b)`` -> (dW, db) of the mean binary cross-entropy of sigmoid(XW + b) (lab 05, ex. 3)."""
    name = "bce_gradients"
    generator = torch.Generator().manual_seed(503)
    X6 = torch.tensor([[1, 2], [2, 3], [3, 1], [4, 3], [5, 3], [6, 2]], dtype=torch.float64)
    cases = [(X6, torch.tensor([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]], dtype=torch.float64),
              torch.tensor([[0.5], [-0.2]], dtype=torch.float64), torch.tensor([0.3], dtype=torch.float64))]
    for m, n in [(7, 3), (4, 1)]:
        cases.append((torch.randn(m, n, generator=generator, dtype=torch.float64),
                      (torch.rand(m, 1, generator=generator) > 0.5).double(),
                      torch.randn(n, 1, generator=generator, dtype=torch.float64),
                      torch.randn(1, generator=generator, dtype=torch.float64)))
    for X, y, W, b in cases:
        W_ref, b_ref = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(X @ W_ref + b_ref), y).backward()
        ok, received = attempt(name, fn, X.clone(), y.clone(), W.clone(), b.clone())
        if not ok:
            return False
        pair = _pair(name, received)
        if pair is None:
            return False
        dW, db = pair
        if dW.shape != tuple(W.shape) or db.reshape(-1).shape != (1,):
            return report(name, False, expected=f"shapes {tuple(W.shape)} and (1,)",
                          received=f"{dW.shape} and {db.shape}", hint="dW like W (n, 1), db like b (1,)")
        if not (close(dW, W_ref.grad, atol=1e-8) and close(db.reshape(-1), b_ref.grad, atol=1e-8)):
            return report(name, False, expected=(W_ref.grad.numpy().reshape(-1).round(5), b_ref.grad.numpy().round(5)),
                          received=(dW.reshape(-1).round(5), db.reshape(-1).round(5)),
                          hint="p = sigmoid(X @ W + b); dW = X^T (p - y) / m; db = mean(p - y)")
    return report(name, True)


def check_softmax(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(Z)`` -> row-wise softmax of logits Z (N, K), also for huge logits (lab 05, exercise 4)."""
    name = "softmax"
    generator = torch.Generator().manual_seed(504)
    cases = [torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64),
             torch.randn(5, 3, generator=generator, dtype=torch.float64) * 4,
             torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 5.0]], dtype=torch.float64)]  # exp overflows
    for Z in cases:
        expected = torch.softmax(Z, dim=1)
        ok, received = attempt(name, fn, Z.clone())
        if not ok:
            return False
        value = as_numpy(received)
        if value is None or value.shape != tuple(Z.shape):
            return report(name, False, expected=f"shape {tuple(Z.shape)}", received=repr(received)[:80],
                          hint="one probability per logit; normalise each row (dim=1)")
        if not np.all(np.isfinite(value)):
            return report(name, False, expected=expected.numpy(), received=value,
                          hint="exp(1000) overflows to inf: subtract each row's maximum first "
                               "(softmax(z) = softmax(z - max z))")
        if not close(value, expected, atol=1e-10):
            return report(name, False, expected=expected.numpy(), received=value,
                          hint="exp of each logit divided by the sum of the exps of its row")
    return report(name, True)


def reference_error_and_ce(P: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Error rate and mean -ln p(true class) with plain loops (the reference)."""
    wrong = sum(int(np.argmax(row) != label) for row, label in zip(P, y))
    ce = sum(-math.log(row[label]) for row, label in zip(P, y))
    return wrong / len(y), ce / len(y)


def check_error_rate_and_cross_entropy(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(P, y)`` -> (error rate, mean -ln P[i, y_i]) for probabilities P (N, K) (lab 05, exercise 5)."""
    name = "error_rate_and_cross_entropy"
    generator = torch.Generator().manual_seed(505)
    random_P = torch.softmax(torch.randn(9, 4, generator=generator, dtype=torch.float64) * 2, dim=1)
    random_y = torch.randint(0, 4, (9,), generator=generator)
    cases = [(torch.tensor(SLIDE_P1), torch.tensor(SLIDE_Y)), (torch.tensor(SLIDE_P2), torch.tensor(SLIDE_Y)),
             (random_P, random_y)]
    for P, y in cases:
        expected = reference_error_and_ce(P.numpy(), y.numpy())
        ok, received = attempt(name, fn, P.clone(), y.clone())
        if not ok:
            return False
        if not (isinstance(received, (tuple, list)) and len(received) == 2):
            return report(name, False, expected="a tuple (error_rate, cross_entropy)", received=type(received).__name__)
        values = [as_numpy(v) for v in received]
        if any(v is None or v.size != 1 for v in values):
            return report(name, False, expected="two numbers", received=repr(received)[:80],
                          hint="use .item() or float(...) to turn one-element tensors into numbers")
        error_rate, ce = (float(v.reshape(())) for v in values)
        if not close(error_rate, expected[0]):
            return report(name, False, expected=f"error rate {expected[0]:.4f}", received=f"{error_rate:.4f}",
                          hint="a prediction is the column with the largest probability (argmax over dim=1)")
        if not close(ce, expected[1], atol=1e-8):
            return report(name, False, expected=f"cross-entropy {expected[1]:.4f}", received=f"{ce:.4f}",
                          hint="mean over the images of -ln(probability of the TRUE class), natural log")
    return report(name, True)
