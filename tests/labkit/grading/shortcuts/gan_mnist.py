"""Shortcut answers for lab 09: each computes a graded answer through the torch routine the exercise asks
students to replace by their own work (autograd for the two gradients, He-normal initialisation for the
slides' formula, PyTorch's binary cross-entropy on logits for the two costs), reached through getattr with a built
string, importlib, sys.modules, functools.partial or map. Every one must score 0 on its exercise
(tests/labkit/grading/test_shortcuts.py). F.soft_margin_loss (the logistic loss, -log D for the label +1) is
forbidden too but is no working shortcut: it overflows on the probes' logits of -150 in float32."""
import functools
import importlib
import sys

import torch

LAB = "09_gan_mnist"


def _saturating(x):
    return torch.log1p(-torch.sigmoid(x))


def _non_saturating(x):
    return -torch.nn.functional.logsigmoid(x)


def gradients_via_autograd_grad(a):
    grad = getattr(importlib.import_module("torch.auto" + "grad"), "gr" + "ad")
    out = []
    for loss in (_saturating, _non_saturating):
        x = a.detach().double().requires_grad_(True)
        out.append(grad(loss(x).sum(), x)[0].to(a.dtype))
    return tuple(out)


def gradients_via_backward(a):
    out = []
    for loss in (_saturating, _non_saturating):
        x = a.detach().double().requires_grad_(True)
        getattr(loss(x).sum(), "back" + "ward")()
        out.append(x.grad.to(a.dtype))
    return tuple(out)


def gradients_via_func_grad(a):
    grad = getattr(sys.modules["torch.func"], "gr" + "ad")
    x = a.detach().double()
    return tuple(grad(lambda t, f=loss: f(t).sum())(x).to(a.dtype) for loss in (_saturating, _non_saturating))


def gradients_via_forward_ad(a):
    """Forward-mode dual numbers: the tangent of each cost is its elementwise derivative."""
    fwad = importlib.import_module("torch.autograd.forward" + "_ad")
    out = []
    for loss in (_saturating, _non_saturating):
        with fwad.dual_level():
            x = fwad.make_dual(a.detach().double(), torch.ones_like(a, dtype=torch.float64))
            out.append(fwad.unpack_dual(loss(x)).tangent.to(a.dtype))
    return tuple(out)


def glorot_via_kaiming_normal(layer):
    init = importlib.import_module("torch.nn." + "init")
    getattr(init, "kaiming_" + "normal_")(layer.weight, mode="fan_in", nonlinearity="relu")
    init.zeros_(layer.bias)


def _f():
    return importlib.import_module("torch.nn.functional")


def discriminator_via_bce_with_logits(a_real, a_fake):
    bce = getattr(_f(), "binary_cross_entropy_" + "with_logits")
    return bce(a_real, torch.ones_like(a_real)) + bce(a_fake, torch.zeros_like(a_fake))


def discriminator_via_bce_with_logits_loss(a_real, a_fake):
    loss = getattr(sys.modules["torch.nn"], "BCEWith" + "LogitsLoss")()
    return loss(a_real, torch.ones_like(a_real)) + loss(a_fake, torch.zeros_like(a_fake))


def discriminator_via_torch_bce_map(a_real, a_fake):
    """torch.binary_cross_entropy_with_logits called from C: functools.partial and map (reduction 1 = mean)."""
    bce = functools.partial(getattr(torch, "binary_cross_entropy_" + "with_logits"), reduction=1)
    real, fake = map(bce, [a_real, a_fake], [torch.ones_like(a_real), torch.zeros_like(a_fake)])
    return real + fake


def generator_via_bce_with_logits(a_fake):
    return getattr(_f(), "binary_cross_entropy_" + "with_logits")(a_fake, torch.ones_like(a_fake))


SHORTCUTS = {  # exercise -> [(how, answer)]
    "logit_gradients": [("torch.autograd.grad via importlib/getattr", gradients_via_autograd_grad),
                        ("Tensor.backward via getattr", gradients_via_backward),
                        ("torch.func.grad via sys.modules", gradients_via_func_grad),
                        ("forward-mode dual numbers via importlib", gradients_via_forward_ad)],
    "glorot_init": [("nn.init.kaiming_normal_ via importlib/getattr", glorot_via_kaiming_normal)],
    "discriminator_loss": [("F.binary_cross_entropy_with_logits via importlib/getattr",
                            discriminator_via_bce_with_logits),
                           ("nn.BCEWithLogitsLoss via sys.modules", discriminator_via_bce_with_logits_loss),
                           ("torch.binary_cross_entropy_with_logits via functools.partial and map",
                            discriminator_via_torch_bce_map)],
    "generator_loss": [("F.binary_cross_entropy_with_logits via importlib/getattr", generator_via_bce_with_logits)],
}
