"""Self-checks of lab 09 (GAN on MNIST): saturating vs non-saturating gradients, the slides' Glorot
init, the discriminator and generator losses.

No check holds an implementation of its exercise. The losses are compared with PyTorch's binary
cross-entropy (``F.binary_cross_entropy`` with the labels 1 = real, 0 = fake), an independent route to the
slides' formulas; the gradients with autograd; the initialisation statistically, on layers large enough
that a wrong rule cannot pass, against the spread of PyTorch's He-normal (``kaiming_normal_``, fan_in,
ReLU gain), which is what the slides' ``glorot_init`` draws. Inputs come from NumPy's seeded generator.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import attempt, close, report, skip_during_grading

__all__ = ["check_logit_gradients", "check_glorot_init", "check_discriminator_loss", "check_generator_loss"]

LAB = "09_gan_mnist"


def _he_normal_std(fan_in: int) -> float:
    """The standard deviation of ``nn.init.kaiming_normal_(mode='fan_in', nonlinearity='relu')``, from torch's
    own gain: the spread the slides' glorot_init (1 / sqrt(fan_in / 2)) draws with, as the notebook derives."""
    return nn.init.calculate_gain("relu") / math.sqrt(fan_in)


def _probabilities(seed: int, *shape: int) -> torch.Tensor:
    """Discriminator-like outputs in (0.02, 0.98), float64, NumPy-seeded, requiring grad."""
    values = np.random.default_rng(seed).uniform(0.02, 0.98, size=shape)
    return torch.from_numpy(values).requires_grad_(True)


def _bce(d: torch.Tensor, label: float) -> torch.Tensor:
    """PyTorch's binary cross-entropy of the probabilities ``d`` against one label for all (1 real, 0 fake)."""
    return F.binary_cross_entropy(d, torch.full_like(d, label))


def _scalar_loss(name: str, received: Any) -> torch.Tensor | None:
    """The student's loss as a 0-d tensor that autograd can differentiate, else report and None."""
    if not isinstance(received, torch.Tensor):
        report(name, False, expected="a 0-d torch tensor", received=type(received).__name__,
               hint="compute with torch operations (torch.log, .mean()) and return the tensor, not .item()")
        return None
    if received.numel() != 1:
        report(name, False, expected="one number (the mean over the batch)", received=f"shape {tuple(received.shape)}",
               hint="average over the batch with .mean()")
        return None
    if not received.requires_grad:
        report(name, False, expected="a tensor connected to the inputs (requires_grad)", received="a detached value",
               hint="do not use .item(), .detach() or NumPy: the optimiser needs the gradient of this loss")
        return None
    return received.reshape(())


def check_logit_gradients(fn: Callable[[torch.Tensor], tuple]) -> bool:
    """Check ``fn(a)`` -> (d/da log(1 - sigmoid(a)), d/da -log(sigmoid(a))) (lab 09, exercise 1).

    ``a`` is the discriminator's score (logit) of a fake image, D = sigmoid(a). The answers must equal
    autograd's gradients of the two generator losses, elementwise.
    """
    name = "logit_gradients"
    if skip_during_grading(name):
        return True
    a = torch.linspace(-8.0, 8.0, 33, dtype=torch.float64)
    x = a.clone().requires_grad_(True)
    saturating = torch.autograd.grad(torch.log1p(-torch.sigmoid(x)).sum(), x)[0]
    x = a.clone().requires_grad_(True)
    non_saturating = torch.autograd.grad((-F.logsigmoid(x)).sum(), x)[0]
    ok, received = attempt(name, fn, a.clone())
    if not ok:
        return False
    if not isinstance(received, (tuple, list)) or len(received) != 2:
        return report(name, False, expected="a pair (grad_saturating, grad_non_saturating)",
                      received=repr(received)[:80], hint="return both gradients as a tuple")
    got_sat, got_ns = received
    D = torch.sigmoid(a)
    for got, want, which, formula in [(got_sat, saturating, "saturating log(1 - D)", "-sigmoid(a)"),
                                      (got_ns, non_saturating, "non-saturating -log D", "sigmoid(a) - 1")]:
        if not close(got, want, atol=1e-8):
            hint = f"d/da of {which} with D = sigmoid(a) is {formula} (use dD/da = D (1 - D))"
            if close(got, -want, atol=1e-8):
                hint = f"wrong sign: {formula}"
            elif which.startswith("saturating") and close(got, -1 / (1 - D), atol=1e-8):
                hint = "that is the derivative with respect to D; multiply by dD/da = D (1 - D)"
            elif which.startswith("non") and close(got, -1 / D, atol=1e-8):
                hint = "that is the derivative with respect to D; multiply by dD/da = D (1 - D)"
            return report(name, False, expected=want[::8].numpy(), received=torch.as_tensor(got)[::8], hint=hint)
    return report(name, True)


def _kurtosis(w: torch.Tensor) -> float:
    """Fourth standardised moment: 3 for a normal distribution, 1.8 for a uniform one."""
    z = (w - w.mean()) / w.std()
    return float((z ** 4).mean())


def check_glorot_init(fn: Callable[[nn.Linear], Any]) -> bool:
    """Check ``fn(layer)`` gives the slides' init: weights N(0, 1/sqrt(fan_in/2)), biases 0 (lab 09, exercise 2).

    Statistical, on nn.Linear(1000, 300) and nn.Linear(100, 2000), whose fan_in and fan_out differ; the
    layers and the student's draws use a forked random state (seed 0), the notebook's own stays where it was.
    """
    name = "glorot_init"
    if skip_during_grading(name):
        return True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _glorot_layers(name, fn)


def _glorot_layers(name: str, fn: Callable[[nn.Linear], Any]) -> bool:
    for n_in, n_out in [(1000, 300), (100, 2000)]:
        layer = nn.Linear(n_in, n_out)
        before = layer.weight.detach().clone()
        ok, _ = attempt(name, fn, layer)
        if not ok:
            return False
        w = layer.weight.detach().double()
        std, want = float(w.std()), _he_normal_std(n_in)
        case = f"nn.Linear({n_in}, {n_out}) (weight {tuple(w.shape)})"
        if torch.equal(layer.weight.detach(), before):
            return report(name, False, expected=f"new weights for {case}", received="unchanged weights",
                          hint="fill layer.weight in place: nn.init.normal_(layer.weight, 0.0, std) "
                               "or, under torch.no_grad(), layer.weight.normal_(0.0, std)")
        if abs(std - want) > 0.03 * want or abs(float(w.mean())) > 0.05 * want:
            hint = "std = 1 / sqrt(fan_in / 2) with fan_in = inputs = layer.in_features"
            if abs(std - _he_normal_std(n_out)) < 0.03 * _he_normal_std(n_out):
                hint = ("you used fan_out: PyTorch stores weights as (out, in), so fan_in = layer.weight.shape[1] "
                        "(TensorFlow's shape[0])")
            elif abs(std - 1 / (n_in / 2)) < 0.03 / (n_in / 2):
                hint = "take the square root: std = 1 / sqrt(fan_in / 2)"
            elif abs(std - math.sqrt(2 / (n_in + n_out))) < 0.03 * math.sqrt(2 / (n_in + n_out)):
                hint = ("that is the textbook Glorot (Xavier) normal, sqrt(2 / (fan_in + fan_out)); "
                        "the slides' glorot_init uses 1 / sqrt(fan_in / 2)")
            return report(name, False, expected=f"{case}: mean 0, std {want:.4f}",
                          received=f"mean {float(w.mean()):.4f}, std {std:.4f}", hint=hint)
        if abs(_kurtosis(w) - 3.0) > 0.3:
            return report(name, False, expected="normally distributed weights (kurtosis 3)",
                          received=f"kurtosis {_kurtosis(w):.2f}", hint="tf.random_normal draws from a normal "
                          "distribution: use nn.init.normal_, not a uniform")
        if layer.bias is not None and not torch.equal(layer.bias.detach(), torch.zeros_like(layer.bias)):
            return report(name, False, expected="biases all 0 (the slides' tf.zeros)", received="non-zero biases",
                          hint="nn.init.zeros_(layer.bias)")
    return report(name, True)


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(d_real, d_fake)`` = -mean(log d_real + log(1 - d_fake)) (lab 09, exercise 3)."""
    name = "discriminator_loss"
    if skip_during_grading(name):
        return True
    for seed, batch in [(0, 128), (1, 7)]:
        d_real, d_fake = _probabilities(seed, batch, 1), _probabilities(seed + 100, batch, 1)
        expected = _bce(d_real, 1.0) + _bce(d_fake, 0.0)                          # PyTorch's BCE, real 1, fake 0
        ok, received = attempt(name, fn, d_real, d_fake)
        if not ok:
            return False
        loss = _scalar_loss(name, received)
        if loss is None:
            return False
        if not close(loss, expected, atol=1e-8):
            dr, df = d_real.detach(), d_fake.detach()
            hint = "-(torch.log(d_real) + torch.log(1 - d_fake)).mean()"
            if close(loss, -expected, atol=1e-8):
                hint = "wrong sign: D maximises V, so its cost (to minimise) is -V"
            elif close(loss, expected * batch, atol=1e-6):
                hint = "average over the batch (.mean()), do not sum"
            elif close(loss, -torch.log(dr).mean(), atol=1e-8):
                hint = "add the fake part: log(1 - d_fake)"
            elif close(loss, -(torch.log(1 - dr) + torch.log(df)).mean(), atol=1e-8):
                hint = "real images should get D = 1: log(d_real) + log(1 - d_fake), not the other way round"
            return report(name, False, expected=round(float(expected.detach()), 6),
                          received=round(float(loss.detach()), 6), hint=hint)
        grad_expected = torch.autograd.grad(expected, d_fake)[0]
        grad_received = torch.autograd.grad(loss, d_fake, allow_unused=True)[0]
        if grad_received is None or not close(grad_received, grad_expected, atol=1e-8):
            return report(name, False, expected="gradients flowing to d_fake", received="a different gradient",
                          hint="build the loss from d_real and d_fake with torch operations only")
    return report(name, True)


def check_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(d_fake)`` = -mean(log d_fake), the non-saturating generator loss (lab 09, exercise 4)."""
    name = "generator_loss"
    if skip_during_grading(name):
        return True
    for seed, batch in [(2, 128), (3, 5)]:
        d_fake = _probabilities(seed, batch, 1)
        expected = _bce(d_fake, 1.0)                                              # PyTorch's BCE, label "real"
        ok, received = attempt(name, fn, d_fake)
        if not ok:
            return False
        loss = _scalar_loss(name, received)
        if loss is None:
            return False
        if not close(loss, expected, atol=1e-8):
            df = d_fake.detach()
            hint = "-torch.log(d_fake).mean()"
            if close(loss, torch.log(1 - df).mean(), atol=1e-8):
                hint = ("that is the min-max (saturating) loss log(1 - D(G(z))); the slides train G with the "
                        "non-saturating -log D(G(z))")
            elif close(loss, -expected, atol=1e-8):
                hint = "wrong sign: G maximises log D(G(z)), so its cost is -log D(G(z))"
            elif close(loss, expected * batch, atol=1e-6):
                hint = "average over the batch (.mean()), do not sum"
            return report(name, False, expected=round(float(expected.detach()), 6),
                          received=round(float(loss.detach()), 6), hint=hint)
    return report(name, True)
