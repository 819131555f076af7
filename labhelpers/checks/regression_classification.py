"""Self-checks of lab 05 (regression and classification from scratch): gradients, learning rate, the
gradient-descent loop, softmax, CE.

No check holds an implementation of its exercise. The hand-written gradients are compared with PyTorch's
autograd and the softmax with ``torch.softmax`` (the library routines they re-derive); the largest stable
learning rate, the training loop's weights and costs, and the error rate / cross-entropy pair are compared
with the answers the solution notebook gave to the same fixed public cases
(``expected/05_regression_classification.json``). Every input is written out or drawn from NumPy's seeded
generator, so it is the same on every machine. A matrix product whose shapes do not fit (a transposed
weight, a missing ``.T``) gets a hint with the case's shapes next to the library's own message.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import torch

from labhelpers.checks import Case, as_numpy, attempt, close, report, run_cases, skip_during_grading, stored

__all__ = ["check_mse_gradients", "check_max_stable_lr", "check_bce_gradients", "check_fit_logistic",
           "check_softmax", "check_error_rate_and_cross_entropy"]

LAB = "05_regression_classification"
# The slides' two models (Kuo, "Error Rate (1-Accuracy)"): rows = images, columns = Dog, Cat, Snake.
SLIDE_P1 = np.array([[0.3, 0.4, 0.3], [0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [0.3, 0.2, 0.5]])
SLIDE_P2 = np.array([[0.1, 0.8, 0.1], [0.9, 0.1, 0.0], [0.4, 0.3, 0.3], [0.2, 0.0, 0.8]])
SLIDE_Y = np.array([1, 0, 1, 2])  # Cat, Dog, Cat, Snake


SHAPE_ERRORS = ("shapes cannot be multiplied", "mismatch in its core dimension", "could not be broadcast",
                "must match the size of tensor", "size mismatch")


def _with_shape_hint(fn: Callable, shapes: str) -> Callable:
    """``fn``, whose matrix-shape errors also print ``shapes`` (the case's shapes) and the usual cause."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, ValueError) as exc:
            if not any(words in str(exc) for words in SHAPE_ERRORS):
                raise
            try:
                hinted = type(exc)(f"{exc}\n  hint: {shapes}; the inner sizes of a matrix product must agree: "
                                   "a transposed weight or a missing (or extra) .T gives this error")
            except Exception:  # noqa: BLE001 - an error type that wants other arguments: keep the original
                raise exc from None
            raise hinted from None
    return call


def _shapes(X: Any, y: Any, W: Any, b: Any) -> str:
    """'X is (m, n), y (m, 1), W (n, 1), b (1,)' with the case's numbers."""
    return (f"X is {tuple(X.shape)}, y {tuple(y.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)}, so the scores "
            f"X @ W + b are ({len(X)}, 1) and a gradient shaped like W comes from X transposed")


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


def _scale_hint(got: np.ndarray, want: np.ndarray, m: int, default: str) -> str:
    """What a gradient that is a multiple of the right one (``want``) got wrong; ``default`` otherwise."""
    for factor, hint in ((0.5, "a factor 2 is missing: d/de of e^2 is 2e"),
                         (float(m), "divide by m: the cost is the MEAN over the m points, not the sum"),
                         (-1.0, "wrong sign: the gradient points uphill; use e = prediction - y")):
        if close(got, factor * want, atol=1e-8, rtol=1e-6):
            return hint
    return default


def _mse_hint(dW: np.ndarray, db: np.ndarray, want_dW: np.ndarray, want_db: np.ndarray, m: int) -> str:
    """Name what is wrong in dW and/or db (a missing factor 2, a sum, a sign) when each is a multiple of its
    right value; the two can be wrong in different ways."""
    default = "the residuals e = X @ W + b - y (m, 1) give both: dW from X^T e, db from the sum of e, each times 2/m"
    ok_W = close(dW, want_dW, atol=1e-8, rtol=1e-6)
    ok_b = close(db.reshape(-1), want_db, atol=1e-8, rtol=1e-6)
    if not ok_W and not ok_b:
        both = _scale_hint(np.concatenate([dW.reshape(-1), db.reshape(-1)]),
                           np.concatenate([want_dW.reshape(-1), want_db]), m, "")
        if both:
            return f"dW and db: {both}"
    for label, ok, got, want in (("dW", ok_W, dW.reshape(-1), want_dW.reshape(-1)), ("db", ok_b, db.reshape(-1), want_db)):
        if ok:
            continue
        hint = _scale_hint(got, want, m, "")
        if hint:
            other = "db" if label == "dW" else "dW"
            right = (ok_b if label == "dW" else ok_W)
            return f"{label} is {'half' if 'factor 2' in hint else 'a multiple of'} the right value: {hint}" + (
                f" ({other} is right)" if right else "")
    return default


# ----------------------------------------------------------------------------- exercise 1
def check_mse_gradients(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(X, y, W, b)`` -> (dW (n,1), db (1,)) of mean((X W + b - y)^2), NumPy, compared with
    autograd (lab 05, exercise 1)."""
    name = "mse_gradients"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(501)
    cases = [(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), np.array([[10.0], [20.0], [30.0]]),
              np.array([[0.5], [-0.3]]), np.array([0.1]), "the slides' data")]
    for m, n in [(5, 3), (8, 1)]:
        cases.append((rng.normal(size=(m, n)), rng.normal(size=(m, 1)), rng.normal(size=(n, 1)), rng.normal(size=1),
                      f"X ({m}, {n})"))
    for X, y, W, b, label in cases:
        W_t, b_t = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
        ((torch.from_numpy(X) @ W_t + b_t - torch.from_numpy(y)) ** 2).mean().backward()  # autograd's gradients
        want_dW, want_db = W_t.grad.numpy(), b_t.grad.numpy()
        ok, received = attempt(name, _with_shape_hint(fn, f"{label}: {_shapes(X, y, W, b)}"), X.copy(), y.copy(),
                               W.copy(), b.copy())
        if not ok:
            return False
        pair = _pair(name, received)
        if pair is None:
            return False
        dW, db = pair
        if dW.shape != W.shape or db.reshape(-1).shape != (1,):
            return report(name, False, expected=f"shapes {W.shape} and (1,)", received=f"{dW.shape} and {db.shape}",
                          hint="dW has W's shape (n, 1); db has b's shape (1,): sum over the m points")
        if not (close(dW, want_dW, atol=1e-8, rtol=1e-6) and close(db.reshape(-1), want_db, atol=1e-8, rtol=1e-6)):
            hint = _mse_hint(dW, db, want_dW, want_db, len(X))
            return report(name, False, expected=(want_dW.reshape(-1).round(5), want_db.round(5)),
                          received=(dW.reshape(-1).round(5), db.reshape(-1).round(5)), hint=f"{label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def _lr_cases() -> list[Case]:
    rng = np.random.default_rng(502)
    return [Case((np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]),), "the slides' X (3, 2)"),
            Case((np.array([[1.0], [2.0], [3.0]]),), "X = [[1], [2], [3]]"),
            Case((rng.normal(size=(10, 3)),), "X (10, 3), random"),
            Case((rng.normal(loc=2.0, size=(6, 2)),), "X (6, 2), mean far from 0")]


def check_max_stable_lr(fn: Callable[[np.ndarray], float]) -> bool:
    """Check ``fn(X)`` = 2 / largest eigenvalue of the MSE Hessian (2/m) [X 1]^T [X 1] (lab 05, exercise 2)."""
    name = "max_stable_lr"
    if skip_during_grading(name):
        return True
    cases = _lr_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    values = []
    for received in answers:
        value = as_numpy(received)
        if value is None or value.size != 1:
            return report(name, False, expected="one number", received=repr(received)[:80],
                          hint="return a float: 2 / (largest eigenvalue)")
        values.append(float(value.reshape(())))
    expected = stored(LAB, name, values, cases)
    if expected is None:
        return False
    for case, got, want in zip(cases, values, expected):
        if close(got, want, atol=0, rtol=1e-6):
            continue
        X = case.args[0]
        hint = "append a column of ones to X (the bias), H = 2/m X~^T X~, lr_max = 2 / max(np.linalg.eigvalsh(H))"
        if close(got, want / 2, atol=0, rtol=1e-6):
            hint = "the limit is 2 / lambda_max, not 1 / lambda_max"
        elif close(got * want, 2.0, atol=0, rtol=1e-6):
            hint = "you returned lambda_max itself: the learning rate is 2 / lambda_max"
        elif close(got, want * 2 / len(X), atol=0, rtol=1e-6):
            hint = "the Hessian of the MEAN squared error has the factor 2/m: H = 2/m X~^T X~"
        elif close(got, 2.0 / np.linalg.eigvalsh(2.0 / len(X) * X.T @ X).max(), atol=0, rtol=1e-6):  # a wrong variant
            hint = "the bias is a parameter too: append a column of ones to X before building H"
        return report(name, False, expected=f"{want:.6f}", received=f"{got:.6f}", hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 3
def check_bce_gradients(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(X, y, W, b)`` -> (dW, db) of the mean binary cross-entropy of sigmoid(XW + b), compared with
    autograd (lab 05, exercise 3)."""
    name = "bce_gradients"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(503)
    cases = [(np.array([[1, 2], [2, 3], [3, 1], [4, 3], [5, 3], [6, 2]], dtype=np.float64),
              np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]]), np.array([[0.5], [-0.2]]), np.array([0.3]),
              "the slides' six points")]
    for m, n in [(7, 3), (4, 1)]:
        cases.append((rng.normal(size=(m, n)), (rng.random((m, 1)) > 0.5).astype(np.float64),
                      rng.normal(size=(n, 1)), rng.normal(size=1), f"X ({m}, {n})"))
    for X, y, W, b, label in cases:
        X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
        W_t, b_t = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(X_t @ W_t + b_t), y_t).backward()  # autograd's
        want_dW, want_db = W_t.grad.numpy(), b_t.grad.numpy()
        ok, received = attempt(name, _with_shape_hint(fn, f"{label}: {_shapes(X, y, W, b)}"), X_t.clone(), y_t.clone(),
                               torch.from_numpy(W.copy()), torch.from_numpy(b.copy()))
        if not ok:
            return False
        pair = _pair(name, received)
        if pair is None:
            return False
        dW, db = pair
        if dW.shape != W.shape or db.reshape(-1).shape != (1,):
            return report(name, False, expected=f"shapes {W.shape} and (1,)",
                          received=f"{dW.shape} and {db.shape}", hint="dW like W (n, 1), db like b (1,)")
        if not (close(dW, want_dW, atol=1e-8) and close(db.reshape(-1), want_db, atol=1e-8)):
            got, want = np.concatenate([dW.reshape(-1), db.reshape(-1)]), np.concatenate([want_dW.reshape(-1), want_db])
            hint = "p = sigmoid(X @ W + b); dW = X^T (p - y) / m; db = mean(p - y)"
            if close(got, -want, atol=1e-8):
                hint = "wrong sign: the gradient is X^T (p - y) / m, with p - y, not y - p"
            elif close(got, len(X) * want, atol=1e-8):
                hint = "divide by m: the cost is the MEAN cross-entropy; dW = X^T (p - y) / m"
            return report(name, False, expected=(want_dW.reshape(-1).round(5), want_db.round(5)),
                          received=(dW.reshape(-1).round(5), db.reshape(-1).round(5)), hint=f"{label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
SLIDE_X_BIN = np.array([[1, 2], [2, 3], [3, 1], [4, 3], [5, 3], [6, 2]], dtype=np.float64)  # (6, 2)
SLIDE_Y_BIN = np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]])                          # (6, 1)


def _fit_cases() -> list[Case]:
    """(X, y, W, b, lr, num_steps) float64 tensors: one step, a single point (where a mean is a sum), many steps
    on the slides' six points, and 20 random points with 3 inputs."""
    rng = np.random.default_rng(506)
    t = torch.from_numpy
    W0, b0 = np.array([[0.5], [-0.2]]), np.array([0.3])
    X1, y1 = np.array([[1.5, -0.5]]), np.array([[1.0]])
    Xr = rng.normal(size=(20, 3))
    yr = (Xr @ np.array([[1.0], [-2.0], [0.5]]) + 0.7 * rng.normal(size=(20, 1)) > 0).astype(np.float64)
    return [Case((t(SLIDE_X_BIN), t(SLIDE_Y_BIN), t(W0), t(b0), 0.1, 1), "the slides' six points, 1 step, lr=0.1"),
            Case((t(X1), t(y1), t(W0), t(b0), 0.5, 5), "a single point, 5 steps, lr=0.5"),
            Case((t(SLIDE_X_BIN), t(SLIDE_Y_BIN), t(W0), t(b0), 0.01, 50), "the slides' six points, 50 steps, lr=0.01"),
            Case((t(Xr), t(yr), t(rng.normal(size=(3, 1))), t(rng.normal(size=1)), 0.3, 30),
                 "20 points with 3 inputs, 30 steps, lr=0.3")]


def _fit_answer(name: str, case: Case, received: object) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(W, b, costs) of one answer as arrays, or None after reporting what is wrong with its form."""
    X, _, W0, _, _, num_steps = case.args
    if not (isinstance(received, (tuple, list)) and len(received) == 3):
        report(name, False, expected="a tuple (W, b, costs)", received=repr(received)[:80],
               hint="end with `return W, b, costs`")
        return None
    W, b, costs = received
    if any(isinstance(c, torch.Tensor) for c in (costs if isinstance(costs, (list, tuple)) else [])):
        report(name, False, expected="costs as Python floats", received="a list of tensors",
               hint=f"{case.label}: append cost.item() (a number), not the cost tensor (which keeps its graph)")
        return None
    W, b, costs = as_numpy(W), as_numpy(b), as_numpy(costs)
    if W is None or b is None or costs is None:
        report(name, False, expected="W, b as tensors and costs as a list of floats", received=repr(received)[:80])
        return None
    if W.shape != tuple(W0.shape) or b.reshape(-1).shape != (1,):
        report(name, False, expected=f"W of shape {tuple(W0.shape)} and b of shape (1,)",
               received=f"{W.shape} and {b.shape}", hint=f"{case.label}: the step keeps W's and b's shapes")
        return None
    if costs.shape != (num_steps,):
        hint = "one cost per update: loop `for _ in range(num_steps)` and record the cost once in each step"
        if costs.size == num_steps + 1:
            hint = f"{num_steps + 1} costs for num_steps = {num_steps}: make exactly num_steps updates, range(num_steps)"
        report(name, False, expected=f"{num_steps} costs", received=f"{costs.size}", hint=f"{case.label}: {hint}")
        return None
    return W, b.reshape(-1), costs


def _fit_hint(cases: list[Case], answers: list, expected: list, index: int) -> str:
    """What the first wrong case (``index``) says about the loop, read together with the other cases."""
    (X, y, W0, b0, lr, num_steps), (W, b, costs), (want_W, want_b, want_costs) = \
        cases[index].args, answers[index], expected[index]
    m = len(X)
    right = [close(a[0], e[0], atol=1e-9, rtol=1e-7) and close(a[1], e[1], atol=1e-9, rtol=1e-7)
             for a, e in zip(answers, expected)]
    start = float(torch.nn.functional.binary_cross_entropy_with_logits(X @ W0 + b0, y))  # the library's BCE
    if right[index]:  # the weights are right: only the costs differ
        if close(costs[0], m * start, rtol=1e-7):
            return "the cost is the MEAN cross-entropy over the m points, not its sum"
        end = float(torch.nn.functional.binary_cross_entropy_with_logits(X @ torch.from_numpy(W) + torch.from_numpy(b), y))
        if close(costs[-1], end, rtol=1e-7) or (num_steps > 1 and close(costs[:-1], want_costs[1:], rtol=1e-7)):
            return "your costs are one step late: record the cost of the weights a step starts from, before the update"
        return "record, at each step, the mean binary cross-entropy of the current W and b (as a float)"
    if np.array_equal(W, W0.numpy()) and np.array_equal(b, b0.numpy()):
        return "W and b never changed: assign the updated values (W = W - ..., b = b - ...) inside the loop"
    if close(W - W0.numpy(), -(want_W - W0.numpy()), atol=1e-9, rtol=1e-6) and num_steps == 1:
        return "wrong sign: the step went uphill; move W and b AGAINST the gradient"
    if close(W - W0.numpy(), m * (want_W - W0.numpy()), atol=1e-9, rtol=1e-6) and num_steps == 1:
        return f"the step is {m} = m times too large: the gradient of the MEAN cost carries the factor 1/m"
    if num_steps == 1 and close(W, want_W, atol=1e-9, rtol=1e-7):
        return ("W is right but b is not: compute both gradients from the same W and b (the weights the step starts "
                "from) before changing either")
    if num_steps == 1 and close(W - W0.numpy(), (want_W - W0.numpy()) / lr, atol=1e-9, rtol=1e-6):
        return "the step is lr times the gradient: multiply by the learning rate"
    if right[1] and m > 1 and not right[0]:
        return "right for a single point, wrong for several: the gradient of the MEAN cost has the factor 1/m"
    if right[0] and num_steps > 1:
        return ("the first step is right, later ones are not: recompute the probabilities and both gradients from "
                "the current W and b at every step (not once, before the loop)")
    return "one step: record the cost, take the gradients of exercise 3 at the current W and b, step against them"


def check_fit_logistic(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(X, y, W, b, lr, num_steps)`` -> (W, b, costs): gradient descent on the mean binary
    cross-entropy, compared with the solution's weights and costs on fixed cases (lab 05, exercise 4)."""
    name = "fit_logistic"
    if skip_during_grading(name):
        return True
    cases = _fit_cases()
    answers = []
    for case in cases:
        X, y, W, b = case.args[:4]
        ok, received = attempt(name, _with_shape_hint(fn, f"{case.label}: {_shapes(X, y, W, b)}"),
                               *copy.deepcopy(case.args))
        if not ok:
            return False
        answer = _fit_answer(name, case, received)
        if answer is None:
            return False
        answers.append(answer)
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    expected = [tuple(as_numpy(v) for v in e) for e in expected]
    for index, (case, (W, b, costs), (want_W, want_b, want_costs)) in enumerate(zip(cases, answers, expected)):
        if close(W, want_W, atol=1e-9, rtol=1e-7) and close(b, want_b, atol=1e-9, rtol=1e-7) and \
                close(costs, want_costs, atol=1e-12, rtol=1e-7):
            continue
        shown = lambda W, b, c: f"W {W.reshape(-1).round(5)}, b {b.round(5)}, costs {c[:3].round(5)}{' ...' * (len(c) > 3)}"  # noqa: E731
        return report(name, False, expected=shown(want_W, want_b, want_costs), received=shown(W, b, costs),
                      hint=f"{case.label}: {_fit_hint(cases, answers, expected, index)}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
def check_softmax(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(Z)`` -> row-wise softmax of logits Z (N, K), also for huge logits, compared with
    torch.softmax (lab 05, exercise 5)."""
    name = "softmax"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(504)
    cases = [np.array([[1.0, 2.0, 3.0]]), rng.normal(size=(5, 3)) * 4,
             np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 5.0]])]  # exp(1000) overflows
    for Z in (torch.from_numpy(Z) for Z in cases):
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
            hint = "exp of each logit divided by the sum of the exps of its row"
            if close(value.sum(axis=0), np.ones(Z.shape[1]), atol=1e-8):
                hint = "normalise each ROW (dim=1, keepdim=True): your columns sum to 1"
            return report(name, False, expected=expected.numpy(), received=value, hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 6
def _ce_cases() -> list[Case]:
    """The slides' two models, and 9 random rows of 4 probabilities (ratios of integers: exact everywhere)."""
    rng = np.random.default_rng(505)
    counts = rng.integers(1, 20, size=(9, 4)).astype(np.float64)
    labels = rng.integers(0, 4, size=9)
    return [Case((torch.from_numpy(SLIDE_P1), torch.from_numpy(SLIDE_Y)), "the slides' Model 1"),
            Case((torch.from_numpy(SLIDE_P2), torch.from_numpy(SLIDE_Y)), "the slides' Model 2"),
            Case((torch.from_numpy(counts / counts.sum(axis=1, keepdims=True)), torch.from_numpy(labels)),
                 "P (9, 4), y (9,)")]


def check_error_rate_and_cross_entropy(fn: Callable[..., tuple]) -> bool:
    """Check ``fn(P, y)`` -> (error rate, mean -ln P[i, y_i]) for probabilities P (N, K) (lab 05, exercise 6)."""
    name = "error_rate_and_cross_entropy"
    if skip_during_grading(name):
        return True
    cases = _ce_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    pairs = []
    for received in answers:
        if not (isinstance(received, (tuple, list)) and len(received) == 2):
            return report(name, False, expected="a tuple (error_rate, cross_entropy)", received=type(received).__name__)
        values = [as_numpy(v) for v in received]
        if any(v is None or v.size != 1 for v in values):
            return report(name, False, expected="two numbers", received=repr(received)[:80],
                          hint="use .item() or float(...) to turn one-element tensors into numbers")
        pairs.append(tuple(float(v.reshape(())) for v in values))
    expected = stored(LAB, name, pairs, cases)
    if expected is None:
        return False
    for case, (error_rate, ce), (want_error, want_ce) in zip(cases, pairs, expected):
        if not close(error_rate, want_error):
            hint = "a prediction is the column with the largest probability (argmax over dim=1)"
            if close(error_rate, 1 - want_error):
                hint = "that is the accuracy: the error rate is the fraction of WRONG predictions (1 - accuracy)"
            return report(name, False, expected=f"error rate {want_error:.4f}", received=f"{error_rate:.4f}",
                          hint=f"{case.label}: {hint}")
        if not close(ce, want_ce, atol=1e-8):
            P = case.args[0].numpy()
            hint = "mean over the images of -ln(probability of the TRUE class), natural log"
            if close(ce * math.log(10), want_ce, atol=1e-8) or close(ce * math.log(2), want_ce, atol=1e-8):
                hint = "use the natural log (torch.log), not log10 or log2"
            elif close(ce, -want_ce, atol=1e-8):
                hint = "the cross-entropy is MINUS the mean log-probability: it is >= 0"
            elif close(ce, want_ce * len(P), atol=1e-8):
                hint = "the MEAN over the images, not the sum"
            elif close(ce, float(-np.log(P.max(axis=1)).mean()), atol=1e-8):  # a wrong variant
                hint = "take the probability of the TRUE class y_i in each row, not the largest one"
            return report(name, False, expected=f"cross-entropy {want_ce:.4f}", received=f"{ce:.4f}",
                          hint=f"{case.label}: {hint}")
    return report(name, True)
