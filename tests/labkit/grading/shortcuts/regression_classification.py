"""Shortcut answers for lab 05: each computes a graded answer through something the student already has (a
public labhelpers helper, autograd, a numerical derivative, a library softmax or loss), reached through an
alias, getattr with a built string, importlib, sys.modules, functools.partial or map. Every one must score 0 on
its exercise (tests/labkit/grading/test_shortcuts.py).

No shortcut exists for max_stable_lr: no library routine returns 2 / lambda_max of the MSE Hessian (the
eigenvalue routine it needs is the exercise's own tool).
"""
import functools
import importlib
import sys

import numpy as np
import torch

LAB = "05_regression_classification"
SOFTMAX = torch.softmax  # an alias made at module level


def _lh():
    return importlib.import_module("labh" + "elpers")


# ----------------------------------------------------------------------------- mse_gradients, bce_gradients
def mse_via_autograd_grad(X, y, W, b):
    grad = getattr(importlib.import_module("torch.autograd"), "gr" + "ad")
    W_t, b_t = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    cost = ((torch.from_numpy(X) @ W_t + b_t - torch.from_numpy(y)) ** 2).mean()
    dW, db = grad(cost, (W_t, b_t))
    return dW.numpy(), db.numpy()


def mse_via_scipy_numdiff(X, y, W, b):
    numdiff = importlib.import_module("scipy.optimize._num" + "diff")
    n = W.shape[0]

    def cost(theta):
        return float(np.mean((X @ theta[:n].reshape(n, 1) + theta[n:] - y) ** 2))

    gradient = numdiff.approx_derivative(cost, np.concatenate([W.reshape(-1), b]), method="3-point")
    return gradient[:n].reshape(n, 1), gradient[n:]


def bce_via_functorch_partial(X, y, W, b):
    F = sys.modules["torch.nn.functional"]
    func = importlib.import_module("torch.func")
    both = functools.partial(getattr(func, "gr" + "ad"), argnums=(0, 1))
    return both(lambda W, b: F.binary_cross_entropy_with_logits(X @ W + b, y))(W, b)


def bce_via_backward_alias(X, y, W, b):
    backward = getattr(torch.Tensor, "back" + "ward")
    W, b = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    backward(torch.nn.functional.binary_cross_entropy(torch.sigmoid(X @ W + b), y))
    return W.grad, b.grad


# ----------------------------------------------------------------------------- fit_logistic
def fit_via_autograd_and_sgd(X, y, W, b, lr, num_steps):
    """The loop with autograd's gradients (Tensor.backward reached through getattr) and torch.optim.SGD."""
    W, b = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([W, b], lr=lr)
    backward = getattr(torch.Tensor, "back" + "ward")
    costs = []
    for _ in range(num_steps):
        optimizer.zero_grad()
        cost = sys.modules["torch.nn.functional"].binary_cross_entropy_with_logits(X @ W + b, y)
        backward(cost)
        optimizer.step()
        costs.append(cost.item())
    return W.detach(), b.detach(), costs


def fit_via_functorch(X, y, W, b, lr, num_steps):
    """Plain gradient descent whose gradients come from torch.func.grad (functools.partial)."""
    func = importlib.import_module("torch.func")
    F = sys.modules["torch.nn.functional"]
    both = functools.partial(getattr(func, "gr" + "ad"), argnums=(0, 1))
    gradient = both(lambda W, b: F.binary_cross_entropy_with_logits(X @ W + b, y))
    costs = []
    for _ in range(num_steps):
        costs.append(float(F.binary_cross_entropy_with_logits(X @ W + b, y)))
        dW, db = gradient(W, b)
        W, b = W - lr * dW, b - lr * db
    return W, b, costs


# ----------------------------------------------------------------------------- softmax
def softmax_via_alias(Z):
    return SOFTMAX(Z, dim=1)


def softmax_via_getattr(Z):
    return getattr(torch, "soft" + "max")(Z, 1)


def softmax_via_log_softmax(Z):
    return sys.modules["torch.nn.functional"].log_softmax(Z, dim=1).exp()


def softmax_via_module(Z):
    return getattr(torch.nn, "Soft" + "max")(dim=1)(Z)


def softmax_via_logsumexp_partial(Z):
    lse = functools.partial(torch.logsumexp, dim=1, keepdim=True)
    Z64 = Z.double()                    # in float32, Z - logsumexp(Z) near 500 loses digits
    return torch.exp(Z64 - lse(Z64)).to(Z.dtype)


def softmax_via_scipy(Z):
    special = importlib.import_module("scipy.spe" + "cial")
    return torch.from_numpy(special.softmax(Z.numpy(), axis=1))


def softmax_via_map(Z):
    return torch.stack(list(map(torch.Tensor.softmax, Z, [0] * len(Z))))


# ----------------------------------------------------------------------------- error_rate_and_cross_entropy
def ce_via_nll_loss_and_confusion_matrix(P, y):
    matrix = getattr(_lh(), "confusion_" + "matrix")(y, P.argmax(dim=1), P.shape[1])
    nll = getattr(sys.modules["torch.nn.functional"], "nll_" + "loss")
    return 1.0 - float(np.trace(matrix)) / len(y), float(nll(torch.log(P), y))


def ce_via_cross_entropy(P, y):
    F = sys.modules["torch.nn.functional"]
    wrong = float((P.argmax(dim=1) != y).double().mean())
    return wrong, float(getattr(F, "cross_" + "entropy")(torch.log(P), y))  # log_softmax(log P) = log P


def ce_via_lh_evaluate(P, y):
    metrics = getattr(_lh(), "eval" + "uate")(torch.nn.Identity(), [(torch.log(P), y)], "cpu")
    return 1.0 - metrics["accuracy"] / 100.0, metrics["loss"]


def ce_via_sklearn(P, y):
    metrics = importlib.import_module("sklearn.met" + "rics")
    labels = list(range(P.shape[1]))
    return (float(metrics.zero_one_loss(y.numpy(), P.argmax(dim=1).numpy())),
            float(metrics.log_loss(y.numpy(), P.numpy(), labels=labels)))


def ce_via_categorical(P, y):
    Categorical = getattr(importlib.import_module("torch.distributions"), "Categ" + "orical")
    return float((P.argmax(dim=1) != y).double().mean()), float(-Categorical(probs=P).log_prob(y).mean())


SHORTCUTS = {  # exercise -> [(how, answer)]
    "mse_gradients": [("torch.autograd.grad via importlib/getattr", mse_via_autograd_grad),
                      ("SciPy's approx_derivative via importlib", mse_via_scipy_numdiff)],
    "bce_gradients": [("torch.func.grad via functools.partial", bce_via_functorch_partial),
                      ("torch.Tensor.backward via getattr", bce_via_backward_alias)],
    "fit_logistic": [("autograd (Tensor.backward via getattr) and torch.optim.SGD", fit_via_autograd_and_sgd),
                     ("torch.func.grad via functools.partial", fit_via_functorch)],
    "softmax": [("torch.softmax through a module-level alias", softmax_via_alias),
                ("torch.softmax via getattr", softmax_via_getattr),
                ("F.log_softmax(...).exp() via sys.modules", softmax_via_log_softmax),
                ("nn.Softmax via getattr", softmax_via_module),
                ("torch.logsumexp via functools.partial", softmax_via_logsumexp_partial),
                ("scipy.special.softmax via importlib", softmax_via_scipy),
                ("Tensor.softmax through map", softmax_via_map)],
    "error_rate_and_cross_entropy": [
        ("F.nll_loss via getattr, lh.confusion_matrix via importlib", ce_via_nll_loss_and_confusion_matrix),
        ("F.cross_entropy of log P via sys.modules/getattr", ce_via_cross_entropy),
        ("lh.evaluate via importlib/getattr", ce_via_lh_evaluate),
        ("sklearn's zero_one_loss and log_loss via importlib", ce_via_sklearn),
        ("torch.distributions.Categorical.log_prob via getattr", ce_via_categorical)],
}
