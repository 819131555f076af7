"""Self-checks of lab 09 (GAN on MNIST): saturating vs non-saturating gradients, the slides' Glorot
init, the discriminator and generator costs computed from D's logits.

No check holds an implementation of its exercise. The costs are compared with PyTorch's binary
cross-entropy on logits (``F.binary_cross_entropy_with_logits`` with the labels 1 = real, 0 = fake), an
independent route to the slides' formulas, on logits up to 150 in size (where the direct formula overflows); the gradients with autograd; the initialisation statistically, on layers large enough
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
               hint="compute with torch operations and return the tensor itself, not .item()")
        return None
    if received.numel() != 1:
        report(name, False, expected="one number (the mean over the batch)", received=f"shape {tuple(received.shape)}",
               hint="average over the batch: one number")
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
    for got, want, which in [(got_sat, saturating, "the saturating log(1 - D)"),
                             (got_ns, non_saturating, "the non-saturating -log D")]:
        if not close(got, want, atol=1e-8):
            hint = (f"differentiate {which} with respect to a by the chain rule (dD/da = D (1 - D)) and simplify "
                    "the product: section 2 does it")
            if close(got, -want, atol=1e-8):
                hint = f"wrong sign for {which}: the log of a probability falls as the probability falls"
            elif "saturating log" in which and "non" not in which and close(got, -1 / (1 - D), atol=1e-8):
                hint = "that is the derivative with respect to D; multiply by dD/da = D (1 - D)"
            elif "non-saturating" in which and close(got, -1 / D, atol=1e-8):
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
                          hint="fill layer.weight in place with new random numbers (nn.init has in-place fillers; "
                               "a tensor's own normal_ works too, under torch.no_grad())")
        if abs(std - want) > 0.03 * want or abs(float(w.mean())) > 0.05 * want:
            hint = "the slides' spread is one over the square root of half the fan_in, the layer's number of inputs"
            if abs(std - _he_normal_std(n_out)) < 0.03 * _he_normal_std(n_out):
                hint = ("you used fan_out: PyTorch stores weights as (out, in), so fan_in is the second dimension "
                        "(TensorFlow's shape[0])")
            elif abs(std - 1 / (n_in / 2)) < 0.03 / (n_in / 2):
                hint = "the square root is missing: the spread is one over the square root of fan_in / 2"
            elif abs(std - math.sqrt(2 / (n_in + n_out))) < 0.03 * math.sqrt(2 / (n_in + n_out)):
                hint = ("that is the textbook Glorot (Xavier) normal, sqrt(2 / (fan_in + fan_out)); "
                        "the slides' glorot_init uses the fan_in only")
            return report(name, False, expected=f"{case}: mean 0, std {want:.4f}",
                          received=f"mean {float(w.mean()):.4f}, std {std:.4f}", hint=hint)
        if abs(_kurtosis(w) - 3.0) > 0.3:
            return report(name, False, expected="normally distributed weights (kurtosis 3)",
                          received=f"kurtosis {_kurtosis(w):.2f}", hint="tf.random_normal draws from a normal "
                          "distribution, not a uniform one")
        if layer.bias is not None and not torch.equal(layer.bias.detach(), torch.zeros_like(layer.bias)):
            return report(name, False, expected="biases all 0 (the slides' tf.zeros)", received="non-zero biases",
                          hint="the slides start every bias at exactly 0")
    return report(name, True)


def _logits(seed: int, batch: int, low: float, high: float) -> torch.Tensor:
    """D's logits (B, 1) uniform in (low, high), float32, NumPy-seeded, requiring grad."""
    values = np.random.default_rng(seed).uniform(low, high, size=(batch, 1))
    return torch.from_numpy(values.astype(np.float32)).requires_grad_(True)


def _bce_logits(a: torch.Tensor, label: float) -> torch.Tensor:
    """PyTorch's binary cross-entropy on logits ``a`` against one label for all (1 real, 0 fake), in float64."""
    return F.binary_cross_entropy_with_logits(a.double(), torch.full_like(a.double(), label))


def _naive(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log sigmoid(a), log(1 - sigmoid(a))) the direct way, which overflows for large |a| (a wrong variant)."""
    d = torch.sigmoid(a.detach())
    return torch.log(d), torch.log(1 - d)


# (seed, batch, real logits range, fake logits range): an undecided D, an early-training D sure of itself, a D
# that the generator fools with full confidence (sigmoid(40) is 1.0 in float32: the direct formula gives inf); for
# the generator also a D sure that the fakes are fake (sigmoid(-120) underflows to 0 in float32)
D_CASES = [(0, 128, (-4, 4), (-4, 4)), (1, 7, (3, 12), (-12, -3)), (2, 5, (-40, -20), (20, 40))]


def _loss_hint(loss: torch.Tensor, expected: torch.Tensor, batch: int, variants: dict) -> str:
    """Name the mistake when ``loss`` is one of the classic wrong costs ``variants`` (name -> value)."""
    if not torch.isfinite(loss):
        return ("your cost is not finite for these logits: for large logits a sigmoid rounds to 1 or 0 and its log "
                "(or the log of 1 minus it) to the log of 0, and logits are not probabilities; use log-sigmoids: "
                "1 - sigmoid(a) is sigmoid(-a)")
    if close(loss, -expected, atol=1e-5):
        return "wrong sign: the cost to minimise is minus the mean log-likelihood"
    if close(loss, expected * batch, atol=1e-4, rtol=1e-5):
        return "average over the batch, do not sum"
    for name, value in variants.items():
        if torch.isfinite(value) and close(loss, value, atol=1e-5):
            return name
    return "compare with section 2: one log-sigmoid term per kind of image, then minus the batch mean"


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(a_real, a_fake)`` = -mean(log sigmoid(a_real) + log(1 - sigmoid(a_fake))) from D's logits, finite
    for any logit (lab 09, exercise 3); compared with PyTorch's binary cross-entropy on logits."""
    name = "discriminator_loss"
    if skip_during_grading(name):
        return True
    for seed, batch, real, fake in D_CASES:
        a_real, a_fake = _logits(seed, batch, *real), _logits(seed + 100, batch, *fake)
        expected = _bce_logits(a_real, 1.0) + _bce_logits(a_fake, 0.0)             # PyTorch's BCE, real 1, fake 0
        ok, received = attempt(name, fn, a_real, a_fake)
        if not ok:
            return False
        loss = _scalar_loss(name, received)
        if loss is None:
            return False
        if not close(loss, expected, atol=1e-5, rtol=1e-5):
            log_real, log_not_real = _naive(a_real)
            log_fake, log_not_fake = _naive(a_fake)
            variants = {"add the fakes' part: the log-probability that D calls them fake": -log_real.mean(),
                        "real images should get D = 1 and fakes 0, not the other way round":
                            -(log_not_real + log_fake).mean(),
                        "the probabilities' formula on logits (apply the sigmoid)":
                            -(torch.log(a_real.detach()) + torch.log(1 - a_fake.detach())).mean()}
            return report(name, False, expected=round(float(expected.detach()), 6), received=round(float(loss.detach()), 6),
                          hint=f"D's logits in {real} (real) and {fake} (fake): "
                               + _loss_hint(loss.detach().double(), expected, batch, variants))
        grad_expected = torch.autograd.grad(expected, a_fake)[0].float()
        grad_received = torch.autograd.grad(loss, a_fake, allow_unused=True)[0]
        if grad_received is None or not close(grad_received, grad_expected, atol=1e-6):
            return report(name, False, expected="gradients flowing to a_fake", received="a different gradient",
                          hint="build the cost from a_real and a_fake with torch operations only")
    return report(name, True)


def check_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(a_fake)`` = -mean(log sigmoid(a_fake)), the non-saturating generator cost from D's logits, finite
    for any logit (lab 09, exercise 4); compared with PyTorch's binary cross-entropy on logits (label "real")."""
    name = "generator_loss"
    if skip_during_grading(name):
        return True
    for seed, batch, _, fake in D_CASES[:1] + [(3, 9, None, (-12, -3)), (4, 6, None, (-150, -110))]:
        a_fake = _logits(seed, batch, *fake)
        expected = _bce_logits(a_fake, 1.0)                                         # PyTorch's BCE, label "real"
        ok, received = attempt(name, fn, a_fake)
        if not ok:
            return False
        loss = _scalar_loss(name, received)
        if loss is None:
            return False
        if not close(loss, expected, atol=1e-5, rtol=1e-5):
            log_fake, log_not_fake = _naive(a_fake)
            variants = {"that is the min-max (saturating) cost log(1 - D(G(z))); the slides train G with the "
                        "non-saturating -log D(G(z))": log_not_fake.mean(),
                        "the probabilities' formula on logits (apply the sigmoid)": -torch.log(a_fake.detach()).mean()}
            return report(name, False, expected=round(float(expected.detach()), 6), received=round(float(loss.detach()), 6),
                          hint=f"D's logits in {fake}: " + _loss_hint(loss.detach().double(), expected, batch, variants))
    return report(name, True)
