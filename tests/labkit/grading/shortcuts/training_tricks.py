"""Shortcut answers for lab 07: each computes a graded answer through the torch routine the exercise asks
students to write by hand (torch.optim's SGD and Adagrad, and their functional forms; labhelpers' training
loop; PyTorch's dropout),
reached through getattr with a built string, importlib, sys.modules, functools.partial or map. Every one
must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py).

init_weights has no shortcut: the exercise itself asks for nn.init.kaiming_uniform_, and no labhelpers
function initialises a model's layers (LeNetModified does it inside its constructor)."""
import functools
import importlib
import sys

import torch

LAB = "07_training_tricks"


def _optim():
    return importlib.import_module("torch." + "optim")


def momentum_via_sgd(W, V, grad, lr, beta):
    """torch.optim.SGD(momentum=beta) with the slide's V handed over as its buffer b = -V / lr."""
    p = W.detach().clone().requires_grad_(True)
    optimizer = getattr(_optim(), "S" + "GD")([p], lr=lr, momentum=beta)
    if beta:
        optimizer.state[p]["momentum_buffer"] = -V / lr
    p.grad = grad.clone()
    optimizer.step()
    buffer = optimizer.state[p].get("momentum_buffer", grad) if beta else grad
    return p.detach(), -lr * buffer


def momentum_via_functional_sgd(W, V, grad, lr, beta):
    """The functional form torch.optim._functional.sgd, reached through sys.modules."""
    sgd = getattr(sys.modules["torch.optim._functional"], "s" + "gd")
    W, buffers = W.clone(), [-V / lr if beta else None]
    sgd([W], [grad.clone()], buffers, weight_decay=0.0, momentum=beta, lr=lr, dampening=0.0,
        nesterov=False, maximize=False)
    return W, -lr * (buffers[0] if beta else grad)


def adagrad_via_adagrad(W, n, grad, lr, eps=1e-10):
    """torch.optim.Adagrad with eps folded into its running sum (eps inside the root, as on the slide)."""
    p = W.detach().clone().requires_grad_(True)
    optimizer = getattr(_optim(), "Ada" + "grad")([p], lr=lr, eps=0.0)
    optimizer.state[p]["sum"].copy_(n + eps)
    p.grad = grad.clone()
    optimizer.step()
    return p.detach(), optimizer.state[p]["sum"] - eps


def adagrad_via_functional(W, n, grad, lr, eps=1e-10):
    """torch.optim.adagrad.adagrad (the functional form), imported by name."""
    adagrad = getattr(importlib.import_module("torch.optim.ada" + "grad"), "ada" + "grad")
    W, state_sum = W.clone(), (n + eps).clone()
    adagrad([W], [grad.clone()], [state_sum], [torch.tensor(0.0)], lr=lr, weight_decay=0.0, lr_decay=0.0, eps=0.0,
            maximize=False)
    return W, state_sum - eps


def train_via_sgd(model, train_loader, num_epochs, lr, beta, device):
    """The loop with torch.optim.SGD(momentum=beta) (its step is the slide's momentum), built through getattr."""
    optimizer = getattr(_optim(), "S" + "GD")(model.parameters(), lr=lr, momentum=beta)
    F = sys.modules["torch.nn.functional"]
    model.train()
    losses = []
    for _ in range(num_epochs):
        for X, y in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(X), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def train_via_train_one_epoch(model, train_loader, num_epochs, lr, beta, device):
    """labhelpers.train_one_epoch with torch.optim.SGD, recording the batches' losses through its loss_fn."""
    lh = importlib.import_module("labh" + "elpers")
    F = sys.modules["torch.nn.functional"]
    optimizer = getattr(_optim(), "S" + "GD")(model.parameters(), lr=lr, momentum=beta)
    losses = []

    def recorded(y_hat, y):
        loss = F.nll_loss(y_hat, y)
        losses.append(loss.item())
        return loss
    for _ in range(num_epochs):
        getattr(lh, "train_one_" + "epoch")(model, train_loader, optimizer, device, loss_fn=recorded)
    return losses


def dropout_via_functional(X, p, training=True):
    return getattr(importlib.import_module("torch.nn.functional"), "drop" + "out")(X, p, training)


def dropout_via_module(X, p, training=True):
    layer = getattr(sys.modules["torch.nn"], "Drop" + "out")(p)
    return layer.train(training)(X)


def dropout_via_partial(X, p, training=True):
    """torch.dropout called from C: functools.partial, then map."""
    drop = functools.partial(getattr(torch, "drop" + "out"), p=p, train=training)
    return next(iter(map(drop, [X])))


def dropout_via_aten(X, p, training=True):
    return getattr(torch.ops.aten, "drop" + "out")(X, p, training)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "momentum_step": [("torch.optim.SGD via importlib/getattr", momentum_via_sgd),
                      ("torch.optim._functional.sgd via sys.modules", momentum_via_functional_sgd)],
    "adagrad_step": [("torch.optim.Adagrad via importlib/getattr", adagrad_via_adagrad),
                     ("torch.optim.adagrad.adagrad via importlib", adagrad_via_functional)],
    "train_momentum": [("torch.optim.SGD(momentum) via importlib/getattr", train_via_sgd),
                       ("lh.train_one_epoch with torch.optim.SGD via importlib", train_via_train_one_epoch)],
    "dropout": [("F.dropout via importlib/getattr", dropout_via_functional),
                ("nn.Dropout via sys.modules", dropout_via_module),
                ("torch.dropout via functools.partial and map", dropout_via_partial),
                ("torch.ops.aten.dropout via getattr", dropout_via_aten)],
}
