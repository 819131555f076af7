"""Hidden tests of lab 09 (GAN on MNIST: the generator's two gradients, the slides' init, D's and G's costs from
D's logits).

Instructor only: never released. Fresh random cases per submission; references run in the grader (the
costs as PyTorch's binary cross-entropies on logits, the gradients by autograd in float64). The costs' probes
include logits up to 50 in size, where the direct log(1 - sigmoid(a)) is -inf even in float64.

Exercise 2, ``glorot_init(layer)``, fills an ``nn.Linear`` in place at random and returns None, so it is
graded by properties: it gets large seeded layers (``Layers``) whose fan_in and fan_out differ a lot, they
come back after the call (``report_args``), and the weights must be new, with mean 0 and the slides' standard
deviation 1 / sqrt(fan_in / 2) (He normal, despite the name; the textbook Glorot sqrt(2 / (fan_in + fan_out))
fails), normally distributed (kurtosis 3), each within 6 standard errors of its sample size, and the
biases exactly 0.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from labkit.grading.forbidden import AUTOGRAD
from labkit.grading.spec import Call, Exercise, Layers
from labkit.grading.verdict import ignore_answer, kind, layer_states

LAB = "09_gan_mnist"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}


def _tensor(values, dtype=torch.float32, grad=False) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values)).to(dtype).requires_grad_(grad)


# ----------------------------------------------------------------------------- exercise 1
def _logit_probes(rng):
    n, batch = int(rng.integers(5, 50)), int(rng.integers(2, 65))
    return [Call((_tensor(np.sort(rng.uniform(-10, 10, n)), torch.float64),), label=f"{n} logits in [-10, 10]"),
            Call((_tensor(rng.normal(0, 3, (batch, 1))),), label=f"D's float32 logits of a batch of {batch}, (B, 1)"),
            Call((_tensor(rng.uniform(-30, 30, n), torch.float64),),
                 label=f"{n} logits in [-30, 30] (a very confident D)")]


def _logit_reference(a):
    """Autograd's gradients of log(1 - sigmoid(a)) and -log(sigmoid(a)), in float64."""
    grads = []
    for loss in (lambda x: torch.log1p(-torch.sigmoid(x)), lambda x: -F.logsigmoid(x)):
        x = a.detach().double().requires_grad_(True)
        grads.append(torch.autograd.grad(loss(x).sum(), x)[0].to(a.dtype))
    return tuple(grads)


# ----------------------------------------------------------------------------- exercise 2
SLIDE_LAYERS = [(100, 256), (256, 784), (784, 256), (256, 1)]  # nn_G and nn_D of the slides


def _glorot_probes(rng):
    shapes = [(int(rng.integers(600, 1000)), int(rng.integers(30, 120))),    # fan_in >> fan_out
              (int(rng.integers(50, 150)), int(rng.integers(600, 1000))),    # fan_in << fan_out
              SLIDE_LAYERS[int(rng.integers(len(SLIDE_LAYERS)))]]           # one of the slides' layers
    return [Call((Layers((("Linear", n_in, n_out),), int(rng.integers(2**31))),), report_args=True,
                 label=f"nn.Linear({n_in}, {n_out}): weight ({n_out}, {n_in}), fan_in {n_in}, fan_out {n_out}")
            for n_in, n_out in shapes]


def _glorot_reference(layer):
    """The solution: what the layer looks like afterwards is graded (_glorot_properties), not this draw."""
    torch.nn.init.normal_(layer.weight, mean=0.0, std=1.0 / math.sqrt(layer.in_features / 2.0))
    torch.nn.init.zeros_(layer.bias)


def _glorot_properties(call: Call, response: dict) -> str | None:
    found = layer_states(call, response)
    if isinstance(found, str):
        return found
    before, state = found
    w, b = state["weight"], state["bias"]
    if np.array_equal(w, before["weight"]):
        return "the weight still holds its old values: fill it in place with new random numbers"
    n, (fan_out, fan_in) = w.size, w.shape
    std = 1 / math.sqrt(fan_in / 2)
    w_mean, w_std = float(w.mean()), float(w.std())
    got = f"(received mean {w_mean:+.4f}, std {w_std:.4f})"
    want = f"(expected mean ~0, std {std:.4f} = 1 / sqrt(fan_in / 2), fan_in = {fan_in})"
    tolerance = 6 / math.sqrt(2 * n)  # 6 standard errors of a normal sample's std, relative

    def near(value):
        return abs(w_std - value) < tolerance * value

    if abs(w_std - std) > tolerance * std:
        if near(1 / math.sqrt(fan_out / 2)):
            return (f"the spread matches fan_out = {fan_out}: PyTorch stores the weight as (outputs, inputs), so "
                    f"the slides' shape[0] (inputs) is the second dimension here {got} {want}")
        if near(math.sqrt(2 / (fan_in + fan_out))):
            return (f"that is the textbook Glorot (Xavier) spread, from fan_in + fan_out; the slides' glorot_init "
                    f"uses fan_in only {got} {want}")
        if near(1 / (fan_in / 2)):
            return f"the standard deviation is missing its square root {got} {want}"
        return f"the weights' standard deviation is not the slides' {got} {want}"
    if abs(w_mean) > 6 * std / math.sqrt(n):
        return f"the weights are not centred on 0 {got} {want}"
    if n >= 10_000:  # enough numbers to tell a normal from a uniform of the same spread
        kurtosis = float(np.mean((w - w_mean) ** 4) / w_std ** 4)
        if abs(kurtosis - 3) > 6 * math.sqrt(24 / n):
            return (f"the weights are not normally distributed (kurtosis {kurtosis:.2f}, a normal's is 3, a "
                    "uniform's 1.8): the slides draw from a normal distribution")
    if not np.all(b == 0):
        return (f"the biases must all be 0 ({int(np.sum(b != 0))} of {b.size} are not): the slides start every "
                "bias at zero")
    return None


# ----------------------------------------------------------------------------- exercises 3 and 4
def reference_discriminator_loss(a_real: torch.Tensor, a_fake: torch.Tensor) -> torch.Tensor:
    """The slides' cost_D = -mean(log D(x) + log(1 - D(G(z)))) from D's logits: BCE on logits, labels 1 and 0."""
    return (F.binary_cross_entropy_with_logits(a_real, torch.ones_like(a_real))
            + F.binary_cross_entropy_with_logits(a_fake, torch.zeros_like(a_fake)))


def reference_generator_loss(a_fake: torch.Tensor) -> torch.Tensor:
    """The slides' non-saturating cost_G = -mean(log D(G(z))) from D's logits: BCE on logits, label 1 ('real')."""
    return F.binary_cross_entropy_with_logits(a_fake, torch.ones_like(a_fake))


RANGES = [((-4, 4), (-4, 4)), ((3, 15), (-15, -3)), ((-50, -20), (20, 50))]
# (real, fake) logit ranges: an undecided D; early training (D sure of itself, where the saturating cost is flat);
# a D fooled with full confidence, where 1 - sigmoid(a) rounds to 0 even in float64 (the direct formula gives inf);
# for the generator's cost the last regime is a D sure that the fakes are fake, logits in (-150, -110), where
# sigmoid(a) underflows to 0 in float32 (the direct -log sigmoid(a) gives inf)


def _logits(rng, batch, dtype, low_high):
    """D's logits (B, 1) in (low, high), as a tensor that requires grad, and how the label says so."""
    low, high = low_high
    return _tensor(rng.uniform(low, high, (batch, 1)), dtype, grad=True), f"in ({low:g}, {high:g})"


def _cases(rng):
    """(batch, dtype, ranges): a batch of one in a random regime, then every regime once, float32 and float64."""
    batches = [1] + [int(b) for b in rng.integers(2, 200, size=len(RANGES))]
    dtypes = [torch.float64, torch.float32, torch.float64, torch.float32]
    return zip(batches, dtypes, [RANGES[int(rng.integers(len(RANGES)))]] + RANGES)


def _discriminator_probes(rng):
    calls = []
    for batch, dtype, (real, fake) in _cases(rng):
        a_real, real_range = _logits(rng, batch, dtype, real)
        a_fake, fake_range = _logits(rng, batch, dtype, fake)
        label = f"a batch of {batch} ({dtype}), D's logits on real images {real_range}, on fakes {fake_range}"
        calls.append(Call((a_real, a_fake), label=label))
    return calls


def _generator_probes(rng):
    calls = []
    for batch, dtype, (_, fake) in _cases(rng):
        a_fake, fake_range = _logits(rng, batch, dtype, (-150, -110) if fake[0] > 0 else fake)
        calls.append(Call((a_fake,), label=f"a batch of {batch} ({dtype}), D's logits on fakes {fake_range}"))
    return calls


def _connected(call: Call, response: dict) -> str | None:
    value = response.get("value")
    if kind(value) != "tensor" or not value.get("requires_grad"):
        return "return the cost as a torch tensor still connected to the inputs (no .item(), .detach() or NumPy)"
    return None


# What the exercises ask students to write themselves (the run-time guard fails any call into these).
# Autograd in all its forms (labkit.grading.forbidden: reverse mode through the engine, forward mode by name).
AUTOGRAD_FORBIDDEN = AUTOGRAD
# glorot_init: kaiming_normal_(mode='fan_in', nonlinearity='relu') draws exactly the slides' N(0, sqrt(2 / fan_in)).
# The costs: PyTorch's binary cross-entropies (and the logistic soft-margin loss, the same on logits).
BCE_FORBIDDEN = ("torch.nn.functional.binary_cross_entropy", "torch.nn.functional.binary_cross_entropy_with_logits",
                 "torch.nn.BCELoss", "torch.nn.BCEWithLogitsLoss", "torch.binary_cross_entropy_with_logits",
                 "torch._C._nn.binary_cross_entropy", "torch.ops.aten.binary_cross_entropy",
                 "torch.ops.aten.binary_cross_entropy_with_logits", "torch.nn.functional.soft_margin_loss",
                 "torch.nn.SoftMarginLoss", "torch._C._nn.soft_margin_loss")

EXERCISES = [
    Exercise("logit_gradients", 2, "write D = sigmoid(a), differentiate each cost with the chain rule "
             "(dD/da = D (1 - D)) and simplify; compute both elementwise from a, without autograd, and return "
             "(saturating, non-saturating) in that order, each shaped like a",
             _logit_probes, _logit_reference, atol=1e-6, rtol=1e-5, forbidden=AUTOGRAD_FORBIDDEN),
    Exercise("glorot_init", 2, "Work in place on the layer you are given: its weight gets fresh numbers from a "
             "normal distribution with mean 0 and the slides' standard deviation, one over the square root of half "
             "the layer's fan_in (its number of INPUTS; mind how PyTorch orders a weight's dimensions), and every "
             "bias becomes exactly 0.", _glorot_probes, _glorot_reference, compare=ignore_answer,
             verify=_glorot_properties, forbidden=("torch.nn.init.kaiming_normal_",)),
    Exercise("discriminator_loss", 2, "the slides' cost_D from D's logits: minus the batch mean of log D(x) + "
             "log(1 - D(G(z))) with D = sigmoid(logit) (real images should get 1, fakes 0), written so that it stays "
             "finite for logits of any size (1 - sigmoid(a) is sigmoid(-a): use log-sigmoids, not the log of a "
             "sigmoid); average, do not sum, and return a scalar torch tensor connected to a_real and a_fake",
             _discriminator_probes, reference_discriminator_loss, atol=1e-5, rtol=1e-5, verify=_connected,
             forbidden=BCE_FORBIDDEN),
    Exercise("generator_loss", 2, "the slides' NON-saturating cost_G from D's logits: minus the batch mean of log "
             "D(G(z)), not the min-max log(1 - D(G(z))) that barely moves while D(G(z)) is near 0; finite for logits "
             "of any size (a log-sigmoid, not the log of a sigmoid); average over the batch and return a scalar "
             "torch tensor connected to a_fake", _generator_probes, reference_generator_loss,
             atol=1e-5, rtol=1e-5, verify=_connected, forbidden=BCE_FORBIDDEN),
]
