"""Shortcut answers for lab 04: each computes a graded answer through a library routine that does the exercise
(scikit-learn's linear classifier, autograd, functorch, ATen's backward kernels), reached through importlib,
getattr with a built string, sys.modules or functools.partial. Every one must score 0 on its exercise
(tests/labkit/grading/test_shortcuts.py).

No shortcut exists for train_perceptron (no library routine runs Rosenblatt's rule from zeros with strict
steps: scikit-learn's Perceptron counts a score of exactly 0 as a mistake, mlxtend's starts from random
weights), xor_weights (constants) and layer_gradient_norms (it asks for autograd; labhelpers has nothing
that returns per-layer gradient norms).
"""
import functools
import importlib
import sys

import numpy as np
import torch

LAB = "04_perceptron_mlp_xor"
KEYS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")


def perceptron_predict_via_sklearn(X, w):
    module = importlib.import_module("sklearn.linear_" + "model")
    clf = getattr(module, "Per" + "ceptron")()
    clf.coef_, clf.intercept_ = w[1:].double().numpy()[None, :], w[:1].double().numpy()
    clf.classes_, clf.n_features_in_ = np.array([0.0, 1.0]), X.shape[1]
    return torch.from_numpy(clf.predict(X.double().numpy()))


def _activations():
    F = sys.modules["torch.nn.functional"]
    return {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
            "leaky_relu": functools.partial(F.leaky_relu, negative_slope=0.1), "elu": F.elu}


def derivatives_via_autograd_grad(z):
    grad = getattr(importlib.import_module("torch.autograd"), "gr" + "ad")
    out = {}
    for key, f in _activations().items():
        leaf = z.detach().clone().requires_grad_(True)
        out[key] = grad(f(leaf).sum(), leaf)[0]
    return out


def derivatives_via_backward_alias(z):
    backward = getattr(torch.Tensor, "back" + "ward")
    out = {}
    for key, f in _activations().items():
        leaf = z.detach().clone().requires_grad_(True)
        backward(f(leaf).sum())
        out[key] = leaf.grad
    return out


def derivatives_via_functorch(z):
    func = sys.modules.get("torch.func") or importlib.import_module("torch.func")
    flat = z.reshape(-1)
    return {key: func.vmap(func.grad(f))(flat).reshape(z.shape) for key, f in _activations().items()}


def derivatives_via_aten_kernels(z):
    aten = torch.ops.aten
    ones = torch.ones_like(z)
    s, t = torch.sigmoid(z), torch.tanh(z)
    return {"sigmoid": getattr(aten, "sigmoid_" + "backward")(ones, s),
            "tanh": getattr(aten, "tanh_" + "backward").default(ones, t),
            "relu": aten.threshold_backward(ones, z, 0.0),
            "leaky_relu": aten.leaky_relu_backward(ones, z, 0.1, False),
            "elu": aten.elu_backward(ones, 1.0, 1.0, 1.0, False, z)}


SHORTCUTS = {  # exercise -> [(how, answer)]
    "perceptron_predict": [("sklearn's Perceptron.predict with the weights set, via importlib/getattr",
                            perceptron_predict_via_sklearn)],
    "activation_derivatives": [("torch.autograd.grad via importlib/getattr", derivatives_via_autograd_grad),
                               ("torch.Tensor.backward via getattr", derivatives_via_backward_alias),
                               ("torch.func.vmap(torch.func.grad(f)) via sys.modules", derivatives_via_functorch),
                               ("ATen's *_backward kernels via getattr", derivatives_via_aten_kernels)],
}
