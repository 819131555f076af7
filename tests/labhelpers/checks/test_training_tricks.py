"""Tests for labhelpers.checks.training_tricks: each check passes a correct answer and fails wrong ones.

The optimiser checks compare with torch.optim, the init and dropout checks measure statistics; the generic
behaviours (TODO, raising, None, skipped while graded) are tests/labhelpers/checks/test_contract.py's."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.training_tricks import (check_adagrad_step, check_dropout, check_init_weights,
                                               check_momentum_step, check_train_momentum)


# ---- reference answers (what the solution notebook does) ------------------------------------

def momentum_step(W, V, grad, lr, beta):
    V = beta * V - lr * grad
    return W + V, V


def adagrad_step(W, n, grad, lr, eps=1e-10):
    n = n + grad ** 2
    return W - lr * grad / torch.sqrt(n + eps), n


def train_momentum(model, train_loader, num_epochs, lr, beta, device, mistake=None):
    velocities = [torch.zeros_like(p) for p in model.parameters()]
    losses = []
    if mistake != "no train()":
        model.train()
    for _ in range(num_epochs):
        for X, y in train_loader:
            if mistake == "velocity per batch":
                velocities = [torch.zeros_like(p) for p in model.parameters()]
            if mistake != "no zero_grad":
                model.zero_grad()
            loss = F.nll_loss(model(X), y, reduction="sum" if mistake == "summed loss" else "mean")
            loss.backward()
            with torch.no_grad():
                for i, p in enumerate(model.parameters()):
                    grad = -p.grad if mistake == "wrong sign" else p.grad
                    W_new, velocities[i] = momentum_step(p, velocities[i], grad, lr, beta)
                    if mistake != "rebinding":
                        p.copy_(W_new)
            losses.append(loss if mistake == "loss tensor" else loss.item())
    return losses


def init_weights(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_uniform_(m.weight, mode="fan_in")


def dropout(X, p, training=True):
    if not training:
        return X
    mask = (torch.rand_like(X) >= p).to(X.dtype)
    return X * mask / (1 - p)


# ---- check_momentum_step --------------------------------------------------------------------

def test_momentum_accepts_reference(capsys):
    assert check_momentum_step(momentum_step) is True
    assert "[OK] momentum_step" in capsys.readouterr().out


def test_momentum_accepts_numpy_inputs_and_outputs():
    assert check_momentum_step(lambda W, V, g, lr, b: tuple(t.numpy() for t in momentum_step(W, V, g, lr, b)))


def test_momentum_rejects_plain_sgd(capsys):
    assert check_momentum_step(lambda W, V, g, lr, b: (W - lr * g, -lr * g)) is False
    assert "plain SGD" in capsys.readouterr().out


def test_momentum_rejects_wrong_sign(capsys):
    assert check_momentum_step(lambda W, V, g, lr, b: momentum_step(W, V, -g, lr, b)) is False
    assert "wrong sign" in capsys.readouterr().out


def test_momentum_rejects_pytorch_buffer_as_velocity(capsys):
    def torch_form(W, V, g, lr, b):
        V = b * V + g
        return W - lr * V, V
    assert check_momentum_step(torch_form) is False
    assert "PyTorch's buffer" in capsys.readouterr().out


def test_momentum_rejects_a_single_value(capsys):
    assert check_momentum_step(lambda W, V, g, lr, b: W - lr * g) is False
    assert "a pair" in capsys.readouterr().out


# ---- check_train_momentum -------------------------------------------------------------------

def test_train_momentum_accepts_reference(capsys):
    assert check_train_momentum(train_momentum) is True, capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [
    ("no zero_grad", "zero_grad"),
    ("velocity per batch", "create one velocity per parameter ONCE"),
    ("wrong sign", "wrong sign"),
    ("summed loss", "batch-size times too large"),
    ("rebinding", "never changed"),
    ("no train()", "model.train()"),
    ("loss tensor", "loss.item()"),
])
def test_train_momentum_names_each_mistake(mistake, words, capsys):
    assert check_train_momentum(lambda *args: train_momentum(*args, mistake=mistake)) is False
    out = capsys.readouterr().out
    assert words in out, out


def test_train_momentum_with_a_wrong_momentum_step_fails(capsys):
    def plain(model, train_loader, num_epochs, lr, beta, device):
        return train_momentum(model, train_loader, num_epochs, lr, 0.0, device)
    assert check_train_momentum(plain) is False
    assert "right without momentum" in capsys.readouterr().out


# ---- check_adagrad_step ---------------------------------------------------------------------

def test_adagrad_accepts_reference(capsys):
    assert check_adagrad_step(adagrad_step) is True
    assert "[OK] adagrad_step" in capsys.readouterr().out


def test_adagrad_accepts_pytorch_eps_placement():
    def torch_form(W, n, g, lr, eps=1e-10):
        n = n + g ** 2
        return W - lr * g / (torch.sqrt(n) + eps), n
    assert check_adagrad_step(torch_form) is True


def test_adagrad_rejects_not_accumulating(capsys):
    def no_sum(W, n, g, lr, eps=1e-10):
        n = g ** 2
        return W - lr * g / torch.sqrt(n + eps), n
    assert check_adagrad_step(no_sum) is False
    assert "running SUM" in capsys.readouterr().out


def test_adagrad_rejects_missing_square_root(capsys):
    def no_sqrt(W, n, g, lr, eps=1e-10):
        n = n + g ** 2
        return W - lr * g / (n + eps), n
    assert check_adagrad_step(no_sqrt) is False
    assert "square root" in capsys.readouterr().out


def test_adagrad_rejects_dividing_by_the_old_sum(capsys):
    def old_n(W, n, g, lr, eps=1e-10):
        W = W - lr * g / torch.sqrt(n + eps)
        return W, n + g ** 2
    assert check_adagrad_step(old_n) is False
    assert "update n first" in capsys.readouterr().out


def test_adagrad_rejects_unsquared_gradient(capsys):
    def unsquared(W, n, g, lr, eps=1e-10):
        n = n + g
        return W - lr * g / torch.sqrt(n.abs() + eps), n
    assert check_adagrad_step(unsquared) is False
    assert "square the gradient" in capsys.readouterr().out


def test_adagrad_rejects_plain_sgd(capsys):
    assert check_adagrad_step(lambda W, n, g, lr, eps=1e-10: (W - lr * g, n + g ** 2)) is False
    assert "plain SGD" in capsys.readouterr().out


def test_momentum_rejects_the_old_velocity(capsys):
    def old_v(W, V, g, lr, b):
        return W + V, b * V - lr * g
    assert check_momentum_step(old_v) is False
    assert "[FAIL] momentum_step" in capsys.readouterr().out


# ---- check_init_weights ---------------------------------------------------------------------

def test_init_weights_accepts_reference(capsys):
    assert check_init_weights(init_weights) is True
    assert "[OK] init_weights" in capsys.readouterr().out


def test_init_weights_accepts_a_hand_written_bound():
    def by_hand(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            bound = math.sqrt(6 / m.weight[0].numel())
            with torch.no_grad():
                m.weight.uniform_(-bound, bound)
    assert check_init_weights(by_hand) is True


def test_init_weights_rejects_pytorch_default(capsys):
    def default(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.reset_parameters()
    assert check_init_weights(default) is False
    assert "kaiming_uniform_" in capsys.readouterr().out


@pytest.mark.parametrize("check", ["init", "dropout"])
def test_statistical_checks_leave_the_notebook_random_state_alone(check):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_init_weights(init_weights) if check == "init" else check_dropout(dropout)
    assert torch.equal(torch.get_rng_state(), state)


def test_init_weights_accepts_the_slides_type_test():
    def slide(m):
        if type(m) == nn.Linear:
            nn.init.kaiming_uniform_(m.weight, mode="fan_in")
        if type(m) == nn.Conv2d:
            nn.init.kaiming_uniform_(m.weight, mode="fan_in")
    assert check_init_weights(slide) is True


def test_init_weights_rejects_doing_nothing(capsys):
    assert check_init_weights(lambda m: None) is False
    assert "made at construction" in capsys.readouterr().out


def test_init_weights_rejects_fan_out(capsys):
    def fan_out(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(m.weight, mode="fan_out")
    assert check_init_weights(fan_out) is False
    assert "mode='fan_in'" in capsys.readouterr().out


def test_init_weights_rejects_normal(capsys):
    def normal(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in")
    assert check_init_weights(normal) is False
    assert "kaiming_normal_" in capsys.readouterr().out


def test_init_weights_rejects_touching_batchnorm(capsys):
    def everything(m):
        for p in m.parameters(recurse=False):
            if p.dim() >= 2:
                nn.init.kaiming_uniform_(p, mode="fan_in")
            else:
                nn.init.uniform_(p, -0.1, 0.1)
    assert check_init_weights(everything) is False
    assert "only touch nn.Linear and nn.Conv2d" in capsys.readouterr().out


# ---- check_dropout --------------------------------------------------------------------------

def test_dropout_accepts_reference(capsys):
    assert check_dropout(dropout) is True
    assert "[OK] dropout" in capsys.readouterr().out


def test_dropout_accepts_torch_functional():
    assert check_dropout(lambda X, p, training=True: torch.nn.functional.dropout(X, p, training)) is True


def test_dropout_rejects_missing_rescale(capsys):
    assert check_dropout(lambda X, p, training=True: X * (torch.rand_like(X) >= p) if training else X) is False
    assert "divide them by (1 - p)" in capsys.readouterr().out


def test_dropout_rejects_keep_probability_confusion(capsys):
    assert check_dropout(lambda X, p, training=True: dropout(X, 1 - p, training) if training else X) is False
    assert "probability of DROPPING" in capsys.readouterr().out


def test_dropout_rejects_dropping_at_test_time(capsys):
    assert check_dropout(lambda X, p, training=True: dropout(X, p, True)) is False
    assert "training=False" in capsys.readouterr().out


def test_dropout_rejects_a_fixed_mask(capsys):
    def fixed(X, p, training=True):
        if not training:
            return X
        g = torch.Generator().manual_seed(0)
        return X * (torch.rand(X.shape, generator=g) >= p) / (1 - p)
    assert check_dropout(fixed) is False
    assert "new random mask" in capsys.readouterr().out


def test_dropout_mask_fraction_is_close_to_p():
    torch.manual_seed(0)
    out = dropout(torch.ones(100_000), 0.3)
    assert math.isclose(float((out == 0).float().mean()), 0.3, abs_tol=0.01)
