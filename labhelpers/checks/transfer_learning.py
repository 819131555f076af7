"""Self-checks of lab 10 (transfer learning and what CNNs see): model input, forward hooks, pooled
features, preparing a pretrained network for fine-tuning, one epoch of training with a frozen part.

No check holds an implementation of its exercise: each one runs the student's code on fixed public
cases (digits and inputs drawn from NumPy's seeded generator, small networks with NumPy-seeded weights)
and compares with the answers the solution notebook gave to the same cases
(``expected/10_transfer_learning.json``). Nothing is downloaded: the fine-tuning check builds a small
EfficientNet-Lite0 (a quarter of its width, the same layer names) with its own weights.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import Case, as_numpy, attempt, close, report, skip_during_grading, stored
from labhelpers.checks.watch import WatchedOptimizer

__all__ = ["check_to_model_input", "check_capture_activation", "check_pooled_features",
           "check_prepare_for_finetuning", "check_finetune_epoch"]

LAB = "10_transfer_learning"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the slides' T.Normalize
RESIZE_TOLERANCE = 0.05  # any bilinear resize passes (tensor or PIL, antialiased or not); a 0-255 step is 0.008


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    """Overwrite every float tensor of ``model`` (in state_dict order) with NumPy-seeded noise in [-0.5, 0.5]
    (BatchNorm variances in [0.5, 1.5]): the same on every machine and torch version; eval mode."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                low, high = (0.5, 1.5) if name.endswith("running_var") else (-0.5, 0.5)
                tensor.copy_(torch.from_numpy(rng.uniform(low, high, size=tuple(tensor.shape)).astype(np.float32)))
    return model.eval()


def _built(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # building layers draws from torch's generator: keep the notebook's
        return _seeded(build(), seed)


# ----------------------------------------------------------------------------- exercise 1
def _digits(seed: int, n: int) -> torch.Tensor:
    """uint8 (n, 28, 28) random pixels with a black border, like MNIST's."""
    X = np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    X[:, :4], X[:, -4:], X[:, :, :4], X[:, :, -4:] = 0, 0, 0, 0
    return torch.from_numpy(X)


def _grey(value: torch.Tensor) -> np.ndarray:
    """Every other pixel of channel 0 of a (N, 3, size, size) answer, rounded to 4 decimals: what is stored and
    compared (the channels are compared with each other separately)."""
    return np.round(as_numpy(value)[:, 0, ::2, ::2], 4)


def check_to_model_input(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Check ``fn(X, size)``: uint8 digits (N, 28, 28) -> normalised RGB (N, 3, size, size) (lab 10, ex. 1).

    Any bilinear resize passes (tensor or PIL, antialiased or not): the largest difference from the
    solution's answer must stay below 0.05.
    """
    name = "to_model_input"
    if skip_during_grading(name):
        return True
    cases = [Case((_digits(1010, 1), 40), "1 digit, size=40"), Case((_digits(1011, 1), 57), "1 digit, size=57"),
             Case((_digits(1012, 2), 28), "2 digits, size=28 (no resize)")]
    answers = []
    for case in cases:
        X, size = case.args
        before = X.clone()
        ok, received = attempt(name, fn, X, size)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a torch.Tensor", received=type(received).__name__)
        if not received.is_floating_point():
            return report(name, False, expected="a float tensor", received=str(received.dtype),
                          hint="convert first: X.float() / 255")
        want = (len(X), 3, size, size)
        if tuple(received.shape) != want:
            hint = ("add the channel dimension (unsqueeze(1)) and repeat it 3 times: the model wants RGB"
                    if received.ndim != 4 or received.shape[1] != 3 else
                    "resize to size x size: F.interpolate with mode='bilinear'")
            return report(name, False, expected=f"shape {want} for {case.label}",
                          received=f"shape {tuple(received.shape)}", hint=hint)
        if not torch.equal(X, before):
            return report(name, False, expected="X unchanged", received="X was modified in place",
                          hint="work on a new tensor: X.float() makes one")
        answers.append(received.detach().cpu().float())
    expected = stored(LAB, name, [_grey(a) for a in answers], cases)
    if expected is None:
        return False
    for case, received, want in zip(cases, answers, expected):
        got = received.numpy()[:, :, ::2, ::2]
        error = float(np.abs(got[:, 0] - want).max())
        if error <= RESIZE_TOLERANCE and torch.equal(received[:, 1:], received[:, :1].expand(-1, 2, -1, -1)):
            continue
        lo, hi = float(got.min()), float(got.max())
        as_imagenet = [got[:, c] * IMAGENET_STD[c] + IMAGENET_MEAN[c] for c in range(3)]  # back to [0, 1]
        if all(np.abs(a - (want * 0.5 + 0.5)).max() <= RESIZE_TOLERANCE for a in as_imagenet):
            hint = ("that is the ImageNet normalisation of the slides; this model was trained with (x - 0.5) / 0.5, "
                    "which maps [0, 1] to [-1, 1]")
        elif hi > 2.0:
            hint = "scale the uint8 values to [0, 1] first (divide by 255)"
        elif lo >= 0.0:
            hint = "normalise as this model was trained: (x - 0.5) / 0.5 maps [0, 1] to [-1, 1]"
        elif not torch.equal(received[:, 1:], received[:, :1].expand(-1, 2, -1, -1)):
            hint = "all three channels must be the same grey image (repeat the one channel)"
        else:
            hint = "use bilinear interpolation to size x size (not nearest), then (x - 0.5) / 0.5"
        return report(name, False, expected=f"values like the solution's for {case.label} (range "
                      f"[{float(want.min()):.2f}, {float(want.max()):.2f}])",
                      received=f"largest difference {error:.3f}, range [{lo:.2f}, {hi:.2f}]", hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def _small_cnn() -> nn.Sequential:
    """(B, 1, 10, 10) -> (B, 10): conv 3x3, ReLU, max-pool 2, conv 3x3, ReLU, flatten, linear."""
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 2 * 2, 10))


def check_capture_activation(fn: Callable[[nn.Module, nn.Module, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(model, layer, X)`` returns ``layer``'s output during ``model(X)`` via a hook (lab 10, ex. 2):
    a small CNN with fixed weights, three of its layers, the solution's captured outputs."""
    name = "capture_activation"
    if skip_during_grading(name):
        return True
    model = _built(_small_cnn, 1020)
    X = torch.from_numpy(np.random.default_rng(1021).normal(size=(2, 1, 10, 10)).astype(np.float32))
    layers = (0, 4, 2)                                       # conv1, the second ReLU, the max-pool
    answers = []
    for index in layers:
        layer = model[index]
        what = f"the output of model[{index}] ({type(layer).__name__})"
        ok, received = attempt(name, fn, model, layer, X.clone())
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected=f"{what} as a tensor", received=type(received).__name__,
                          hint="the hook receives (module, inputs, output): store output")
        if layer._forward_hooks:
            return report(name, False, expected="no hook left on the layer afterwards",
                          received=f"{len(layer._forward_hooks)} hook(s) still registered",
                          hint="handle = layer.register_forward_hook(...); ...; handle.remove()")
        if received.requires_grad:
            return report(name, False, expected="a tensor without gradient history",
                          received="requires_grad=True",
                          hint="run the model under torch.no_grad() (or store output.detach())")
        answers.append(received.detach().cpu())
    expected = stored(LAB, name, answers, {"weights": model, "X": X, "layers": list(layers)})
    if expected is None:
        return False
    for index, received, want in zip(layers, answers, expected):
        if close(received, want, atol=1e-5, rtol=1e-4):
            continue
        with torch.no_grad():
            final = model(X)                                 # a wrong answer to recognise: the model's output
        hint = "return what the hook saw as this layer's output"
        if close(received, final, atol=1e-5):
            hint = "that is the model's final output: return what the hook stored for this layer"
        elif close(received, X, atol=1e-5):
            hint = "that is the layer's input; the hook's third argument is its output"
        return report(name, False, expected=f"the output of model[{index}] ({type(model[index]).__name__}), "
                      f"shape {tuple(want.shape)}",
                      received=f"shape {tuple(received.shape)}" + (
                          ", different values" if tuple(received.shape) == tuple(want.shape) else ""), hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 3
class _FeatureNet(nn.Module):
    """A stand-in with EfficientNet's ``extract_features`` (conv, BatchNorm, ReLU6: (B, 8, H/2, W/2)) and a
    classifier on top (``forward``: logits (B, 10)); check_pooled_features gives it NumPy-seeded weights."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self._bn0 = nn.BatchNorm2d(8)
        self._fc = nn.Linear(8, 10)

    def extract_features(self, X: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(X)))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self._fc(self.extract_features(X).amax(dim=(2, 3)))


def check_pooled_features(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(net, X)`` = global average of ``net.extract_features(X)`` in eval mode, (N, C) (lab 10, ex. 3):
    a small stand-in network handed over in training mode, the solution's answers."""
    name = "pooled_features"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1031)
    cases = [Case((torch.from_numpy(rng.normal(size=(n, 3, size, size)).astype(np.float32)),), f"X {(n, 3, size, size)}")
             for n, size in ((5, 16), (3, 10))]
    answers, modes = [], []
    for seed, case in zip((1030, 1032), cases):
        net = _built(_FeatureNet, seed).train()              # left in training mode on purpose, as after training
        ok, received = attempt(name, fn, net, case.args[0].clone())
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a tensor (N, C)", received=type(received).__name__)
        if received.requires_grad:
            return report(name, False, expected="no gradient history", received="requires_grad=True",
                          hint="wrap the forward pass in torch.no_grad()")
        answers.append(received.detach().cpu())
        modes.append(net.training)
    expected = stored(LAB, name, answers, [(seed, case.args) for seed, case in zip((1030, 1032), cases)])
    if expected is None:
        return False
    for case, received, want, training in zip(cases, answers, expected, modes):
        if tuple(received.shape) != tuple(want.shape):
            return report(name, False, expected=f"shape {tuple(want.shape)} for {case.label}",
                          received=f"shape {tuple(received.shape)}",
                          hint="average over the two spatial dimensions: (N, C, h, w) -> (N, C)")
        if not close(received, want, atol=1e-5, rtol=1e-4):
            hint = "average net.extract_features(X) over its height and width"
            if training:
                hint = "call net.eval() first: in training mode BatchNorm uses the batch's statistics"
            return report(name, False, expected=np.asarray(want)[0, :4].round(4),
                          received=received[0, :4].numpy().round(4), hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
def _efficientnet() -> nn.Module:
    """EfficientNet-Lite0's anatomy (stem, 16 blocks, _conv_head, _bn1, _fc = Linear(1280, 1000)) at a quarter of
    its width: the pretrained network's layer names, without its download or its 4.7M weights."""
    from efficientnet_lite_pytorch import EfficientNet
    return EfficientNet.from_name("efficientnet-lite0", width_coefficient=0.25, num_classes=1000)


def _trainable(model: nn.Module) -> list[str]:
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def check_prepare_for_finetuning(fn: Callable[[nn.Module, int, int], nn.Module]) -> bool:
    """Check ``fn(net, n_blocks, num_classes)``: a copy with a new head, all but the top frozen (lab 10, ex. 4).

    ``net`` is a small EfficientNet-Lite0 (the pretrained one's layer names, a quarter of its width, fixed
    weights); the trainable parameters are compared with the solution's for three cases.
    """
    name = "prepare_for_finetuning"
    if skip_during_grading(name):
        return True
    net = _built(_efficientnet, 1040)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    fc = net._fc
    cases = [Case((2, 10), "n_blocks=2, num_classes=10"), Case((0, 5), "n_blocks=0, num_classes=5"),
             Case((5, 3), "n_blocks=5, num_classes=3")]
    answers = []
    for case in cases:
        n_blocks, num_classes = case.args
        ok, received = attempt(name, fn, net, n_blocks, num_classes)
        if not ok:
            return False
        if received is net or net._fc is not fc or [p.requires_grad for p in net.parameters()] != flags or \
                any(not torch.equal(v, state[k]) for k, v in net.state_dict().items()):
            return report(name, False, expected="the pretrained net left unchanged", received="it was modified",
                          hint="work on model = copy.deepcopy(net)")
        if not isinstance(received, nn.Module) or not isinstance(getattr(received, "_fc", None), nn.Linear):
            return report(name, False, expected="the EfficientNet copy, with a new nn.Linear as _fc",
                          received=type(received).__name__)
        if received._fc.out_features != num_classes or received._fc.in_features != fc.in_features:
            return report(name, False, expected=f"_fc = Linear({fc.in_features}, {num_classes}) for {case.label}",
                          received=f"Linear({received._fc.in_features}, {received._fc.out_features})")
        kept = {k: v for k, v in received.state_dict().items() if not k.startswith("_fc.")}
        if set(kept) != {k for k in state if not k.startswith("_fc.")} or \
                any(not torch.equal(v, state[k]) for k, v in kept.items()):
            return report(name, False, expected="the pretrained weights kept (only _fc is new)",
                          received="other layers or weights changed", hint="copy.deepcopy(net), then replace _fc")
        answers.append(_trainable(received))
    layout = [(k, tuple(v.shape)) for k, v in state.items()]  # the network the answers belong to
    expected = stored(LAB, name, answers, {"net": layout, "cases": cases})
    if expected is None:
        return False
    for case, got, want in zip(cases, answers, expected):
        if got != list(want):
            n_blocks = case.args[0]
            extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
            return report(name, False, expected=f"{len(want)} trainable tensors ({case.label}): the last {n_blocks} "
                          "blocks, _conv_head, _bn1 and _fc",
                          received=f"{len(got)} trainable" + (f"; should be frozen: {extra[:3]}" if extra else "")
                          + (f"; should train: {missing[:3]}" if missing else ""),
                          hint="freeze the whole copy, then switch the gradients back on for the last n_blocks "
                               "blocks only (with n_blocks = 0, none: the slice [-0:] is every block), the head "
                               "convolution, its BatchNorm and the new classifier")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
def _frozen_net() -> nn.Sequential:
    """(B, 1, 12, 12) -> (B, 4) with a BatchNorm on each side of the cuts the cases use (after layer 3 or 6)."""
    return nn.Sequential(nn.Conv2d(1, 3, 3, stride=2), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(75, 8),
                         nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))


EPOCH_CASES = [(3, "the conv block frozen (n_frozen=3): Linear, BatchNorm1d and the classifier train"),
               (6, "all but the classifier frozen (n_frozen=6)")]


def _epoch_inputs(seed: int):
    """A NumPy-seeded network (eval mode, as after an evaluation) and a loader of 40 NumPy images in batches of 16."""
    from labhelpers.data import TensorLoader
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(rng.normal(0, 1, (40, 1, 12, 12)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 4, 40))
    return _built(_frozen_net, seed), TensorLoader(X, y, 16)


def _batchnorm_counts(model: nn.Module) -> dict[str, int]:
    return {name: int(m.num_batches_tracked) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def check_finetune_epoch(fn: Callable) -> bool:
    """Check ``fn(model, n_frozen, train_loader, optimizer, device)``: one epoch with ``model[:n_frozen]`` frozen and
    in evaluation mode, the rest training (lab 10, exercise 5).

    A small network with NumPy-seeded weights and a BatchNorm on each side of the cut is trained for one epoch on
    fixed images with an SGD optimizer over all its parameters. The frozen weights and BatchNorm statistics must
    not move, the trained BatchNorm must see every batch, and the loss, accuracy and every step's gradient norm
    must equal the solution's (``expected/10_transfer_learning.json``).
    """
    name = "finetune_epoch"
    if skip_during_grading(name):
        return True
    answers, zero_grads = [], []
    for index, (n_frozen, label) in enumerate(EPOCH_CASES):
        model, loader = _epoch_inputs(1050 + index)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        optimizer = WatchedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        with torch.random.fork_rng(devices=[]):                  # the loader draws from torch's RNG: keep the notebook's
            ok, received = attempt(name, fn, model, n_frozen, loader, optimizer, "cpu")
        if not ok:
            return False
        if not isinstance(received, dict) or not {"loss", "accuracy"} <= set(received):
            return report(name, False, expected='a dict {"loss": ..., "accuracy": ...}', received=repr(received)[:80])
        if any(isinstance(received[k], torch.Tensor) for k in ("loss", "accuracy")):
            return report(name, False, expected="Python numbers", received="a tensor",
                          hint="add up loss.item() (a number), not the loss tensor: a tensor keeps its autograd graph")
        if len(optimizer.grad_norms) != len(loader):
            return report(name, False, expected=f"{len(loader)} optimizer steps", received=len(optimizer.grad_norms),
                          hint="one optimizer.step() per batch of the loader")
        frozen = {k for k in before if int(k.split(".")[0]) < n_frozen}
        moved = [k for k in sorted(frozen) if not torch.equal(model.state_dict()[k], before[k])]
        weights = [k for k in moved if k.endswith(("weight", "bias"))]
        if weights:
            return report(name, False, expected=f"model[:{n_frozen}] unchanged", received=f"{weights[0]} changed",
                          hint=f"{label}: freeze the pretrained part (requires_grad False): backward then gives it no "
                               "gradient, and the optimizer skips it although it was built over all parameters")
        counts = _batchnorm_counts(model)
        if moved:
            return report(name, False, expected="the frozen BatchNorm's statistics unchanged", received=f"{moved[0]} moved",
                          hint=f"{label}: the frozen part ran in training mode; put it back in evaluation mode after "
                               "model.train(), so that its BatchNorm keeps the pretrained statistics")
        idle = [k for k, n in counts.items() if int(k) >= n_frozen and n != len(loader)]
        if idle:
            return report(name, False, expected=f"the trained BatchNorm ({idle[0]}) updated on all {len(loader)} batches",
                          received=f"{counts[idle[0]]} batches", hint="the model arrives in evaluation mode: call "
                          "model.train() for the part that trains (only the frozen part goes back to evaluation mode)")
        answers.append({"loss": float(received["loss"]), "accuracy": float(received["accuracy"]),
                        "grad_norms": optimizer.grad_norms})
        zero_grads.append(optimizer.zero_grads)
    inputs = [(n_frozen, dict(_epoch_inputs(1050 + i)[0].state_dict())) for i, (n_frozen, _) in enumerate(EPOCH_CASES)]
    expected = stored(LAB, name, answers, inputs)
    if expected is None:
        return False
    for (n_frozen, label), got, want, zeroed in zip(EPOCH_CASES, answers, expected, zero_grads):
        mine, theirs = np.asarray(got["grad_norms"]), np.asarray(want["grad_norms"], dtype=float)
        if not np.allclose(mine, theirs, rtol=1e-4, atol=1e-8):
            first = int(np.argmax(~np.isclose(mine, theirs, rtol=1e-4, atol=1e-8)))
            ratio = mine[first] / theirs[first] if theirs[first] else float("inf")
            hint = f"step {first + 1}'s gradient differs from the solution's"
            if first == 0 and ratio > 1.5:
                hint = (f"the first gradient is {ratio:.3g} times the solution's: average the loss over the batch "
                        "(F.cross_entropy's default reduction), not its sum")
            elif first > 0 and zeroed == 0:
                hint = f"from step {first + 1} on the gradients pile up: clear them before each backward()"
            return report(name, False, expected=theirs, received=mine, hint=f"{label}: {hint}")
        for key, hint in (("loss", "the epoch's mean loss per image: weight each batch's loss by its size (the last "
                                   "batch holds 8 images, not 16)"),
                          ("accuracy", "the percentage of correct predictions over the epoch's images")):
            if not np.isclose(got[key], want[key], rtol=1e-4, atol=1e-6):
                return report(name, False, expected=want[key], received=got[key], hint=f"{label}: {hint}")
    return report(name, True)
