"""Hidden tests of lab 05 (regression and classification: MSE and BCE gradients, learning rate, the
gradient-descent loop, softmax, CE).

Instructor only: never released. Fresh random cases per submission; references run in the grader
(autograd and SVD, independent of the formulas the students are asked to use).

Exercise 4 (fit_logistic, the training loop) is graded by behaviour, in parts: the answer's form, the costs
and the final weights against the reference loop's (autograd and torch.optim.SGD, float64, from the same
seeded inputs; tolerance rtol 1e-6), and an outcome. When the costs or the weights differ, the grader runs the
known wrong loops on the same inputs and names the one the student's answer matches (the gradient's sign, the
missing factor 1/m, a gradient computed once, b's gradient taken after W moved, no learning rate, costs
recorded after the update or summed). The outcome: on 200 points with 2 inputs whose labels follow a random
line, 20 of them flipped (so about 90 % is the best a line can do), 150 steps of lr 1.0 from W = 0, b = 0 must
reach a training accuracy of at least OUTCOME_ACCURACY = 0.75. The reference loop reached 0.835 to 0.90
(median 0.88) on the outcome probes of the grader's seeds 0-99, a margin of 0.085 below its worst case
(measured by ``.venv/bin/python tests/labkit/grading/test_lab05_training.py``); the wrong-sign loop reached
0.11 to 0.46 on seeds 0-19.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from labkit.grading.forbidden import AUTOGRAD, NUMERICAL, aten
from labkit.grading.spec import Call, Exercise, Part
from labkit.grading.verdict import as_array, compare, describe, kind

LAB = "05_regression_classification"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}


# Exercises 1 and 3 ask for the gradient by formula. Everything that differentiates for you: the autograd
# engine (whatever calls it: Tensor.backward, torch.autograd.grad and .functional, torch.func), forward-mode AD,
# ATen's backward kernels of the two losses, and numerical differentiation. (torch.autograd.grad and
# torch.func.grad are caught through the engine and functorch's grad_impl: the source check matches an entry's
# last name, and "grad" is a common variable name.)
GRADIENT_FORBIDDEN = AUTOGRAD + NUMERICAL + aten("mse_loss_backward", "binary_cross_entropy_backward",
                                                  "sigmoid_backward")
# Exercise 4: every softmax of the libraries, its log (exp(log_softmax) is the softmax), softmin (of -Z), and
# logsumexp (exp(Z - logsumexp(Z)) is the stable softmax the exercise asks to write).
SOFTMAX_FORBIDDEN = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.nn.Softmax",
                     "torch.log_softmax", "torch.Tensor.log_softmax", "torch.nn.functional.log_softmax",
                     "torch.nn.LogSoftmax", "torch.special.softmax", "torch.special.log_softmax",
                     "torch.nn.functional.softmin", "torch.nn.Softmin", "torch._softmax", "torch._log_softmax",
                     "torch.masked.softmax", "torch.masked.log_softmax", "torch.sparse.softmax",
                     "torch.sparse.log_softmax", "torch.logsumexp", "torch.Tensor.logsumexp",
                     "torch.special.logsumexp", "scipy.special.softmax", "scipy.special.log_softmax",
                     "scipy.special.logsumexp", "sklearn.utils.extmath.softmax") + aten(
                         "softmax", "_softmax", "log_softmax", "_log_softmax", "logsumexp")
# Exercise 5: the library losses that are the mean -ln P[i, y_i] (nll_loss of log P, a categorical
# distribution's log_prob, scikit-learn's log_loss) and the library error rates. F.cross_entropy is caught
# through the C function it calls: the source check matches an entry's last name, and the template's own
# variable is called cross_entropy.
CROSS_ENTROPY_FORBIDDEN = ("torch.nn.functional.nll_loss", "torch._C._nn.nll_loss", "torch._C._nn.nll_loss_nd",
                           "torch._C._nn.cross_entropy_loss", "torch.nn.NLLLoss",
                           "torch.nn.CrossEntropyLoss", "torch.distributions.Categorical.log_prob",
                           "torch.distributions.OneHotCategorical.log_prob", "sklearn.metrics.log_loss",
                           "sklearn.metrics.zero_one_loss", "sklearn.metrics.accuracy_score") + aten(
                               "nll_loss", "nll_loss_forward", "nll_loss_nd", "cross_entropy_loss")


def _sizes(rng):
    """(m, n): more points than inputs, a single point, and a single input."""
    return [(int(rng.integers(7, 30)), int(rng.integers(2, 6))), (1, int(rng.integers(2, 5))),
            (int(rng.integers(3, 10)), 1)]


def _pair_compare(got, want) -> str | None:
    """(dW, db): dW must have W's shape; db may be any one-number shape (as the public check allows)."""
    if kind(got) not in ("list", "tuple") or len(got["__seq__"]) != 2:
        return f"expected a tuple (dW, db), received {describe(got)}"
    (dW, db), (want_dW, want_db) = got["__seq__"], want["__seq__"]
    reason = compare(dW, want_dW, atol=1e-8, rtol=1e-6)
    if reason:
        return "dW: " + reason
    value = as_array(db)
    if value is None or value.size != 1:
        return f"db: expected one number, shape (1,), received {describe(db)}"
    return None if np.allclose(value.reshape(1), as_array(want_db), atol=1e-8, rtol=1e-6) else "db: wrong value"


# ----------------------------------------------------------------------------- exercise 1
def _mse_probes(rng):
    calls = []
    for m, n in _sizes(rng):
        X = rng.normal(size=(m, n)) * rng.uniform(0.5, 3)
        y = X @ rng.normal(size=(n, 1)) + rng.normal(size=(m, 1))  # (m, 1)
        calls.append(Call((X, y, rng.normal(size=(n, 1)), rng.normal(size=1)), label=f"X ({m}, {n}), NumPy"))
    return calls


def _mse_reference(X, y, W, b):
    W_t, b_t = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((torch.from_numpy(X) @ W_t + b_t - torch.from_numpy(y)) ** 2).mean().backward()
    return W_t.grad.numpy(), b_t.grad.numpy()


# ----------------------------------------------------------------------------- exercise 2
def _lr_probes(rng):
    m, n = int(rng.integers(5, 40)), int(rng.integers(1, 5))
    cases = [(rng.normal(loc=rng.uniform(1, 3), size=(m, n)), f"X ({m}, {n}), mean far from 0"),
             (rng.normal(size=(m, 1)) * rng.uniform(2, 5), f"X ({m}, 1), spread out"),
             (rng.normal(size=(2, 4)) + 1, "X (2, 4): fewer points than parameters")]
    return [Call((X,), label=label) for X, label in cases]


def _lr_reference(X):
    X_tilde = np.hstack([X, np.ones((len(X), 1))])                # (m, n + 1)
    return float(len(X) / np.linalg.norm(X_tilde, 2) ** 2)     # 2 / (2/m sigma_max^2)


# ----------------------------------------------------------------------------- exercise 3
def _bce_probes(rng):
    calls = []
    for m, n in _sizes(rng):
        X = torch.from_numpy(rng.normal(size=(m, n)) * 2)
        y = torch.from_numpy((rng.random((m, 1)) < 0.5).astype(np.float64))
        W, b = torch.from_numpy(rng.normal(size=(n, 1)) * 2), torch.from_numpy(rng.normal(size=1))
        calls.append(Call((X, y, W, b), label=f"X ({m}, {n}), float64 tensors"))
    return calls


def _bce_reference(X, y, W, b):
    W_t, b_t = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(X @ W_t + b_t, y).backward()
    return W_t.grad, b_t.grad


# ----------------------------------------------------------------------------- exercise 4 (training loop)
OUTCOME_ACCURACY = 0.75   # see the module doc: the reference's worst over 100 seeds is 0.835
FIT_MISTAKES = {  # variant -> what the student is told when the answer matches it
    "wrong sign": "W and b moved along the gradient, so the cost grows: step AGAINST it (minus lr times it)",
    "summed gradient": "the steps are m times too large: the gradient of the MEAN cost carries the factor 1/m",
    "stale gradient": ("the gradient never changes: recompute the probabilities and both gradients from the current "
                       "W and b at every step, not once before the loop"),
    "stale b": ("b's gradient was taken after W had moved: compute both gradients from the weights the step starts "
                "from, then update both"),
    "no lr": "the step is the learning rate times the gradient: multiply by lr",
    "late cost": "the costs are one step late: record the cost of the weights a step starts from, before the update",
    "summed cost": "the costs are m times too large: record the MEAN cross-entropy over the m points, not its sum",
}


def _fit_probes(rng):
    calls = []
    for m, n, steps, label in [(int(rng.integers(5, 15)), int(rng.integers(2, 4)), 1, "one step"),
                               (1, int(rng.integers(2, 4)), int(rng.integers(3, 8)), "a single point"),
                               (int(rng.integers(10, 30)), int(rng.integers(2, 5)), int(rng.integers(20, 60)),
                                "several steps")]:
        X = torch.from_numpy(rng.normal(size=(m, n)))
        y = torch.from_numpy((rng.random((m, 1)) < 0.5).astype(np.float64))
        W, b = torch.from_numpy(rng.normal(size=(n, 1))), torch.from_numpy(rng.normal(size=1))
        lr = round(float(rng.uniform(0.05, 0.5)), 3)
        calls.append(Call((X, y, W, b, lr, steps), label=f"{label}: X ({m}, {n}), {steps} step(s), lr={lr}"))
    calls.append(_outcome_call(rng))
    return calls


def _outcome_call(rng) -> Call:
    """200 points, 2 inputs, labels from a random line, 20 of them flipped; 150 steps of lr 1.0 from zeros."""
    X = rng.normal(size=(200, 2)) * rng.uniform(0.5, 2.0)                   # (200, 2)
    angle = rng.uniform(0, 2 * np.pi)
    y = (X @ np.array([[np.cos(angle)], [np.sin(angle)]]) + rng.uniform(-0.3, 0.3) > 0).astype(np.float64)
    flipped = rng.choice(200, size=20, replace=False)                         # exactly 10 % wrong labels
    y[flipped] = 1 - y[flipped]
    return Call((torch.from_numpy(X), torch.from_numpy(y), torch.zeros(2, 1, dtype=torch.float64),
                 torch.zeros(1, dtype=torch.float64), 1.0, 150),
                label="outcome: 200 noisy points, 150 steps of lr 1.0 from W = 0, b = 0")


def _fit_reference(X, y, W, b, lr, num_steps):
    """The loop with autograd and torch.optim.SGD (independent of the formulas)."""
    W, b = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([W, b], lr=lr)
    costs = []
    for _ in range(num_steps):
        optimizer.zero_grad()
        cost = F.binary_cross_entropy_with_logits(X @ W + b, y)
        cost.backward()
        optimizer.step()
        costs.append(cost.item())
    return W.detach(), b.detach(), costs


def fit_variant(X, y, W, b, lr, num_steps, mistake: str):
    """A known wrong loop (a key of FIT_MISTAKES), with the formula gradients, on the same inputs."""
    m = len(X)
    cost = lambda W, b: float(F.binary_cross_entropy_with_logits(X @ W + b, y)) * (m if mistake == "summed cost" else 1)  # noqa: E731
    gradients = lambda W, b: (X.T @ (torch.sigmoid(X @ W + b) - y) / m, (torch.sigmoid(X @ W + b) - y).mean(dim=0))  # noqa: E731
    first, costs = gradients(W, b), []
    for _ in range(num_steps):
        if mistake != "late cost":
            costs.append(cost(W, b))
        dW, db = first if mistake == "stale gradient" else gradients(W, b)
        scale = {"wrong sign": -lr, "summed gradient": lr * m, "no lr": 1.0}.get(mistake, lr)
        W = W - scale * dW
        b = b - scale * (gradients(W, b)[1] if mistake == "stale b" else db)
        if mistake == "late cost":
            costs.append(cost(W, b))
    return W, b, costs


def _fit_read(got) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """(W, b, costs) of an encoded answer, or why it cannot be read."""
    if kind(got) not in ("list", "tuple") or len(got["__seq__"]) != 3:
        return f"return a tuple (W, b, costs); received {describe(got)}"
    W, b, costs = got["__seq__"]
    values = [as_array(v) for v in (W, b, costs)]
    if any(v is None for v in values):
        return f"W, b must be tensors and costs a list of numbers; received {describe(W)}, {describe(b)}, {describe(costs)}"
    return values[0], values[1].reshape(-1), values[2].reshape(-1)


def _fit_matches(call: Call, got: tuple, which: str) -> str | None:
    """The named mistake whose variant gives ``got``'s costs (which="costs") or weights (which="weights")."""
    for mistake, message in FIT_MISTAKES.items():
        W, b, costs = fit_variant(*call.args, mistake=mistake)
        if which == "costs" and len(costs) == len(got[2]) and np.allclose(got[2], costs, rtol=1e-6, atol=1e-12):
            return message
        if which == "weights" and np.allclose(got[0], W.numpy(), rtol=1e-6, atol=1e-12) and \
                np.allclose(got[1], b.numpy(), rtol=1e-6, atol=1e-12):
            return message
    return None


def _fit_form(call, got, want) -> str | None:
    """Part: a tuple (W, b, costs), W and b in their shapes, num_steps plain numbers."""
    found = _fit_read(got)
    if isinstance(found, str):
        return found
    W, b, costs = found
    num_steps = call.args[5]
    items = got["__seq__"][2]
    if kind(items) not in ("list", "tuple") or any(kind(c) not in ("float", "int") for c in items["__seq__"]):
        return (f"costs must be a list of Python numbers; received {describe(items)}"
                + (" of tensors: append cost.item(), not the cost tensor" if kind(items) in ("list", "tuple") and any(
                    kind(c) == "tensor" for c in items["__seq__"]) else ""))
    if W.shape != tuple(call.args[2].shape) or b.shape != (1,):
        return f"W must keep its shape {tuple(call.args[2].shape)} and b (1,); received {W.shape} and {b.shape}"
    if costs.shape != (num_steps,):
        return (f"{costs.size} costs for num_steps = {num_steps}: one per update"
                + (" (range(num_steps), not range(num_steps + 1))" if costs.size == num_steps + 1 else ""))
    return None


def _fit_costs(call, got, want) -> str | None:
    """Part: the cost trajectory equals the reference's (rtol 1e-6)."""
    found, (_, _, theirs) = _fit_read(got), _fit_read(want)
    if isinstance(found, str):
        return found
    if found[2].shape == theirs.shape and np.allclose(found[2], theirs, rtol=1e-6, atol=1e-12):
        return None
    if found[2].shape != theirs.shape:
        return f"{found[2].size} costs, expected {theirs.size}: one per update, before it"
    step = int(np.argmax(~np.isclose(found[2], theirs, rtol=1e-6, atol=1e-12)))
    return _fit_matches(call, found, "costs") or (
        f"the costs differ from the reference's from step {step + 1} on: each is the mean binary cross-entropy of "
        "the weights that step starts from")


def _fit_weights(call, got, want) -> str | None:
    """Part: the final W and b equal the reference's (rtol 1e-6)."""
    found, (W, b, _) = _fit_read(got), _fit_read(want)
    if isinstance(found, str):
        return found
    if found[0].shape == W.shape and np.allclose(found[0], W, rtol=1e-6, atol=1e-12) and \
            np.allclose(found[1], b, rtol=1e-6, atol=1e-12):
        return None
    if np.array_equal(found[0], call.args[2].numpy()) and np.array_equal(found[1], call.args[3].numpy()):
        return "W and b never changed: assign the updated values (W = W - ..., b = b - ...) inside the loop"
    return _fit_matches(call, found, "weights") or (
        f"after {call.args[5]} step(s) W and b differ from the reference's: each step takes the gradients of the "
        "mean cross-entropy at the current W and b and moves lr times them against the gradient")


def _fit_outcome(call, got, want) -> str | None:
    """Part (outcome probe): the trained W, b classify at least OUTCOME_ACCURACY of the training points."""
    found = _fit_read(got)
    if isinstance(found, str):
        return found
    X, y = call.args[0].numpy(), call.args[1].numpy()
    accuracy = float((((X @ found[0]).reshape(-1, 1) + found[1] > 0) == (y > 0.5)).mean())
    return None if accuracy >= OUTCOME_ACCURACY else (
        f"after {call.args[5]} steps your W, b classify {accuracy:.1%} of the training points; "
        f"at least {OUTCOME_ACCURACY:.0%} expected")


FIT_PARTS = (Part("returns (W, b, costs)", 0.5, _fit_form),
             Part("same costs", 1.0, _fit_costs),
             Part("same weights", 1.5, _fit_weights),
             Part("outcome: training accuracy", 1.0, _fit_outcome, cases=("outcome",)))


# ----------------------------------------------------------------------------- exercise 5
def _softmax_probes(rng):
    N, K = int(rng.integers(3, 12)), int(rng.integers(2, 8))
    N = N + 1 if N == K else N
    huge = rng.normal(size=(2, K)) * 3 + np.array([[1000.0], [-1000.0]])  # one row near +1000, one near -1000
    cases = [(rng.normal(size=(N, K)) * 4, f"Z ({N}, {K})"), (rng.normal(size=(1, K)), f"Z (1, {K}), one row"),
             (huge, f"Z (2, {K}): one row near +1000, one near -1000 (exp overflows / underflows)"),
             (rng.normal(size=(N, K)).astype(np.float32) * 5 + 500, f"Z ({N}, {K}) near 500, float32")]
    return [Call((torch.from_numpy(Z),), label=label) for Z, label in cases]


def _softmax_compare(got, want) -> str | None:
    values = as_array(got)
    if values is not None and not np.isfinite(values).all():
        return "your probabilities contain inf or nan (exp overflowed or every exp of a row underflowed to 0)"
    return compare(got, want, atol=1e-7, rtol=1e-5)


# ----------------------------------------------------------------------------- exercise 6
def reference_error_and_ce(P: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Error rate and mean -ln p(true class) with plain loops."""
    wrong = sum(int(np.argmax(row) != label) for row, label in zip(P, y))
    ce = sum(-math.log(row[label]) for row, label in zip(P, y))
    return wrong / len(y), ce / len(y)


def _ce_probes(rng):
    calls = []
    for N, K in [(int(rng.integers(5, 40)), int(rng.integers(2, 6))), (1, int(rng.integers(2, 6))),
                 (int(rng.integers(2, 5)), int(rng.integers(6, 10)))]:
        P = torch.softmax(torch.from_numpy(rng.normal(size=(N, K)) * 2), dim=1)   # (N, K) float64
        y = torch.from_numpy(rng.integers(0, K, size=N))                        # (N,) int64
        right = rng.random(N) < 0.5
        y[torch.from_numpy(right)] = P.argmax(dim=1)[torch.from_numpy(right)]  # some predictions right, some wrong
        calls.append(Call((P, y), label=f"P ({N}, {K}), y ({N},)"))
    return calls


def _ce_compare(got, want) -> str | None:
    reason = compare(got, want)
    return reason and reason.replace("item 0:", "error rate:").replace("item 1:", "cross-entropy:")


EXERCISES = [
    Exercise("mse_gradients", 2, "With the residuals e = XW + b - y (one per point): dW is 2/m times X transposed "
             "times e, shaped like W (n, 1); db is 2/m times the sum of e, shape (1,). m is the number of points "
             "(rows of X), not of inputs. Use the formula, not autograd.", _mse_probes, _mse_reference,
             compare=_pair_compare, forbidden=GRADIENT_FORBIDDEN),
    Exercise("max_stable_lr", 2, "Append a column of ones to X (the bias), build the Hessian 2/m X~^T X~ with m the "
             "number of rows, and return 2 divided by its largest eigenvalue as one float.",
             _lr_probes, _lr_reference, atol=0, rtol=1e-6),
    Exercise("bce_gradients", 2, "With p the sigmoid of the scores XW + b: dW is X transposed times (p - y), divided "
             "by m, shaped like W; db is the mean of (p - y), shaped like b. The sigmoid's derivative cancels: no "
             "extra factor. Use the formula, not autograd.", _bce_probes, _bce_reference, compare=_pair_compare,
             forbidden=GRADIENT_FORBIDDEN),
    Exercise("fit_logistic", 4, "Each of the num_steps steps: note the mean cross-entropy of the weights the step "
             "starts from (a Python number), take both gradients of exercise 3 at those same weights, and move W and "
             "b by lr times them, against the gradient. Return (W, b, costs). No autograd.", _fit_probes,
             _fit_reference, parts=FIT_PARTS, forbidden=GRADIENT_FORBIDDEN),
    Exercise("softmax", 2, "Row by row (dim 1): subtract each row's own largest logit, exponentiate, divide by that "
             "row's sum. The result has Z's shape and stays finite for logits around +-1000.",
             _softmax_probes, lambda Z: torch.softmax(Z, dim=1), compare=_softmax_compare,
             forbidden=SOFTMAX_FORBIDDEN),
    Exercise("error_rate_and_cross_entropy", 2, "A row is predicted right when its largest probability sits in the "
             "true class; the error rate is the fraction of wrong rows. The cross-entropy is the mean over the "
             "rows of minus the natural log of each row's true-class probability (one entry per row). Return two "
             "floats.", _ce_probes, lambda P, y: reference_error_and_ce(P.numpy(), y.numpy()), compare=_ce_compare,
             forbidden=CROSS_ENTROPY_FORBIDDEN),
]
