"""Self-checks for lab 10 (transfer learning and what CNNs see): model input, forward hooks, pooled
features, preparing a pretrained network for fine-tuning.

Each check builds its reference with plain PyTorch, on inputs from a private generator, so a
hard-coded answer fails. The pretrained EfficientNet-Lite0 is only loaded by
``check_prepare_for_finetuning`` (offline, about two seconds).
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import attempt, report

__all__ = ["check_to_model_input", "check_capture_activation", "check_pooled_features",
           "check_prepare_for_finetuning"]


def reference_model_input(X: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 3, size, size): [0, 1], bilinear resize, grey to RGB, (x - 0.5) / 0.5."""
    x = X.float().div(255.0).unsqueeze(1)                                             # (N, 1, 28, 28)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)     # (N, 1, size, size)
    return ((x - 0.5) / 0.5).repeat(1, 3, 1, 1)                                       # (N, 3, size, size)


def check_to_model_input(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Check ``fn(X, size)``: uint8 digits (N, 28, 28) -> normalised RGB (N, 3, size, size) (lab 10, ex. 1).

    Any bilinear resize passes (tensor or PIL, antialiased or not): the largest difference from the
    reference must stay below 0.05 (a 0-255 rounding step is 0.008 after normalisation).
    """
    name = "to_model_input"
    generator = torch.Generator().manual_seed(1010)
    for n, size in ((3, 64), (2, 96), (4, 28)):
        X = torch.randint(0, 256, (n, 28, 28), generator=generator, dtype=torch.uint8)
        X[:, :4] = 0                                   # a black border, like MNIST
        before = X.clone()
        ok, received = attempt(name, fn, X, size)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a torch.Tensor", received=type(received).__name__)
        if not received.is_floating_point():
            return report(name, False, expected="a float tensor", received=str(received.dtype),
                          hint="convert first: X.float() / 255")
        want = (n, 3, size, size)
        if tuple(received.shape) != want:
            hint = ("add the channel dimension (unsqueeze(1)) and repeat it 3 times: the model wants RGB"
                    if received.ndim != 4 or received.shape[1] != 3 else
                    "resize to size x size with F.interpolate(x, size=(size, size), mode='bilinear')")
            return report(name, False, expected=f"shape {want}", received=f"shape {tuple(received.shape)}",
                          hint=hint)
        if not torch.equal(X, before):
            return report(name, False, expected="X unchanged", received="X was modified in place")
        expected = reference_model_input(X, size)
        error = float((received.detach().cpu().float() - expected).abs().max())
        if error > 0.05:
            lo, hi = float(received.min()), float(received.max())
            if hi > 2.0:
                hint = "scale the uint8 values to [0, 1] first (divide by 255)"
            elif lo >= 0.0:
                hint = "normalise as this model was trained: (x - 0.5) / 0.5 maps [0, 1] to [-1, 1]"
            elif not torch.allclose(received[:, 0], received[:, 1]):
                hint = "all three channels must be the same grey image"
            else:
                hint = "use bilinear interpolation to size x size, then (x - 0.5) / 0.5"
            return report(name, False, expected=f"values like the reference (range [{float(expected.min()):.2f}, "
                          f"{float(expected.max()):.2f}])", received=f"largest difference {error:.3f}, "
                          f"range [{lo:.2f}, {hi:.2f}]", hint=hint)
    return report(name, True)


def _small_cnn(generator: torch.Generator) -> nn.Sequential:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(6 * 4 * 4, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def check_capture_activation(fn: Callable[[nn.Module, nn.Module, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(model, layer, X)`` returns ``layer``'s output during ``model(X)`` via a hook (lab 10, ex. 2)."""
    name = "capture_activation"
    generator = torch.Generator().manual_seed(1020)
    model = _small_cnn(generator)
    X = torch.randn(2, 1, 14, 14, generator=generator)                 # (2, 1, 14, 14)
    with torch.no_grad():
        conv1 = model[0](X)                                            # (2, 4, 12, 12)
        relu2 = model[4](model[3](model[2](model[1](conv1))))         # (2, 6, 4, 4)
    for index, expected in ((0, conv1), (4, relu2), (2, F.max_pool2d(F.relu(conv1), 2))):
        layer = model[index]
        ok, received = attempt(name, fn, model, layer, X)
        if not ok:
            return False
        what = f"the output of model[{index}] ({type(layer).__name__})"
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected=f"{what} as a tensor", received=type(received).__name__,
                          hint="the hook receives (module, inputs, output): store output")
        if layer._forward_hooks:
            return report(name, False, expected="no hook left on the layer afterwards",
                          received=f"{len(layer._forward_hooks)} hook(s) still registered",
                          hint="handle = layer.register_forward_hook(...); ...; handle.remove()")
        if tuple(received.shape) != tuple(expected.shape) or not torch.allclose(received.detach(), expected,
                                                                                atol=1e-5):
            return report(name, False, expected=f"{what}, shape {tuple(expected.shape)}",
                          received=f"shape {tuple(received.shape)}" + (
                              ", different values" if received.shape == expected.shape else ""),
                          hint="return what the hook saw for this layer, not the model's final output")
        if received.requires_grad:
            return report(name, False, expected="a tensor without gradient history",
                          received="requires_grad=True",
                          hint="run the model under torch.no_grad() (or store output.detach())")
    return report(name, True)


class _TinyFeatureNet(nn.Module):
    """A stand-in with EfficientNet's ``extract_features`` (conv, BatchNorm, ReLU6) used by the checks."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        if generator is not None:
            with torch.no_grad():
                for p in self.conv.parameters():
                    p.copy_(torch.randn(p.shape, generator=generator))
                self.bn.running_mean.copy_(torch.randn(8, generator=generator))
                self.bn.running_var.copy_(torch.rand(8, generator=generator) + 0.5)

    def extract_features(self, X: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.bn(self.conv(X)))  # (B, 8, H/2, W/2)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.extract_features(X).mean(dim=(2, 3))


def check_pooled_features(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(net, X)`` = global average of ``net.extract_features(X)`` in eval mode, (N, C) (lab 10, ex. 3)."""
    name = "pooled_features"
    generator = torch.Generator().manual_seed(1030)
    for n, size in ((5, 16), (3, 10)):
        net = _TinyFeatureNet(generator).train()          # left in training mode on purpose
        X = torch.randn(n, 3, size, size, generator=generator)
        with torch.no_grad():
            expected = copy.deepcopy(net).eval().extract_features(X).mean(dim=(2, 3))  # (n, 8)
        ok, received = attempt(name, fn, net, X)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a tensor (N, C)", received=type(received).__name__)
        if tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"shape {tuple(expected.shape)}",
                          received=f"shape {tuple(received.shape)}",
                          hint="average over the two spatial dimensions: features.mean(dim=(2, 3))")
        if not torch.allclose(received.detach(), expected, atol=1e-5):
            return report(name, False, expected=expected[0, :4].numpy().round(4),
                          received=received.detach()[0, :4].numpy().round(4),
                          hint="call net.eval() first: in training mode BatchNorm uses the batch's statistics")
        if received.requires_grad:
            return report(name, False, expected="no gradient history", received="requires_grad=True",
                          hint="wrap the forward pass in torch.no_grad()")
    return report(name, True)


def _trainable_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def reference_capture_activation(model: nn.Module, layer: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``layer``'s output while ``model(X)`` runs, by a forward hook removed afterwards (lab 10, hidden tests)."""
    stored = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: stored.update(out=output.detach()))
    try:
        with torch.no_grad():
            model(X)
    finally:
        handle.remove()
    return stored["out"]


def reference_pooled_features(net: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Global average of ``net.extract_features(X)`` in eval mode: (N, C) (lab 10, hidden tests)."""
    net.eval()
    with torch.no_grad():
        return net.extract_features(X).mean(dim=(2, 3))          # (N, C, h, w) -> (N, C)


def reference_finetuning(net: nn.Module, n_blocks: int, num_classes: int) -> nn.Module:
    """A copy of ``net`` with a new ``_fc``; only the last n_blocks, _conv_head, _bn1, _fc train (lab 10)."""
    model = copy.deepcopy(net)
    model._fc = nn.Linear(model._fc.in_features, num_classes)
    model.requires_grad_(False)
    for module in [*model._blocks[len(model._blocks) - n_blocks:], model._conv_head, model._bn1, model._fc]:
        module.requires_grad_(True)
    return model


def check_prepare_for_finetuning(fn: Callable[[nn.Module, int, int], nn.Module],
                                 net: nn.Module | None = None) -> bool:
    """Check ``fn(net, n_blocks, num_classes)``: a copy with a new head, all but the top frozen (lab 10, ex. 4).

    ``net`` defaults to the pretrained EfficientNet-Lite0 (``load_pretrained()[0].net``).
    """
    name = "prepare_for_finetuning"
    if net is None:
        from labhelpers.imagenet import load_pretrained
        net = load_pretrained()[0].net
    state = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    fc = net._fc
    for n_blocks, num_classes in ((2, 10), (0, 5), (5, 3)):
        expected = reference_finetuning(net, n_blocks, num_classes)
        ok, received = attempt(name, fn, net, n_blocks, num_classes)
        if not ok:
            return False
        case = f"n_blocks={n_blocks}, num_classes={num_classes}"
        if received is net or net._fc is not fc or [p.requires_grad for p in net.parameters()] != flags or \
                any(not torch.equal(v, state[k]) for k, v in net.state_dict().items()):
            return report(name, False, expected="the pretrained net left unchanged", received="it was modified",
                          hint="work on model = copy.deepcopy(net)")
        if not isinstance(received, nn.Module) or not isinstance(getattr(received, "_fc", None), nn.Linear):
            return report(name, False, expected="the EfficientNet copy, with a new nn.Linear as _fc",
                          received=type(received).__name__)
        if received._fc.out_features != num_classes or received._fc.in_features != fc.in_features:
            return report(name, False, expected=f"_fc = Linear({fc.in_features}, {num_classes}) for {case}",
                          received=f"Linear({received._fc.in_features}, {received._fc.out_features})")
        got, want = _trainable_names(received), _trainable_names(expected)
        if got != want:
            extra, missing = sorted(got - want), sorted(want - got)
            return report(name, False, expected=f"{len(want)} trainable tensors ({case}): the last {n_blocks} "
                          "blocks, _conv_head, _bn1 and _fc",
                          received=f"{len(got)} trainable" + (f"; should be frozen: {extra[:3]}" if extra else "")
                          + (f"; should train: {missing[:3]}" if missing else ""),
                          hint="model.requires_grad_(False), then .requires_grad_(True) on "
                               "model._blocks[-n_blocks:] (careful: [-0:] is every block), _conv_head, _bn1, _fc")
        same = {k: v for k, v in received.state_dict().items() if not k.startswith("_fc.")}
        if any(not torch.equal(v, state[k]) for k, v in same.items()):
            return report(name, False, expected="the pretrained weights kept (only _fc is new)",
                          received="other weights changed")
    return report(name, True)
