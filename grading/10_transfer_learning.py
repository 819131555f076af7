"""Hidden tests of lab 10 (transfer learning: digits prepared for a pretrained model, hooks, features, fine-tuning).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
The model exercises get seeded networks built in the sandbox: NetCNN, and EfficientNetLiteTiny (codec:
EfficientNet-Lite0's anatomy at a quarter of its width, so extract_features, _blocks, _conv_head, _bn1 and
_fc are all there); Attr(0, path) hands over a layer of that same model; a model answer comes back as its
parameters with their requires_grad flags.
"""
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.grading.codec import decode, encode
from labkit.grading.spec import Attr, Call, Exercise, Model, wire
from labkit.grading.verdict import as_array, compare, describe, kind

LAB = "10_transfer_learning"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}


# ----------------------------------------------------------------------------- references
def reference_model_input(X: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 3, size, size): [0, 1], bilinear resize, grey to RGB, (x - 0.5) / 0.5."""
    x = X.float().div(255.0).unsqueeze(1)                                             # (N, 1, 28, 28)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)     # (N, 1, size, size)
    return ((x - 0.5) / 0.5).repeat(1, 3, 1, 1)                                       # (N, 3, size, size)


def reference_capture_activation(model: nn.Module, layer: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``layer``'s output while ``model(X)`` runs, by a forward hook removed afterwards."""
    captured = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(out=output.detach()))
    try:
        with torch.no_grad():
            model(X)
    finally:
        handle.remove()
    return captured["out"]


def reference_pooled_features(net: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Global average of ``net.extract_features(X)`` in eval mode: (N, C)."""
    net.eval()
    with torch.no_grad():
        return net.extract_features(X).mean(dim=(2, 3))          # (N, C, h, w) -> (N, C)


def reference_finetuning(net: nn.Module, n_blocks: int, num_classes: int) -> nn.Module:
    """A copy of ``net`` with a new ``_fc``; only the last n_blocks, _conv_head, _bn1, _fc train."""
    model = copy.deepcopy(net)
    model._fc = nn.Linear(model._fc.in_features, num_classes)
    model.requires_grad_(False)
    for module in [*model._blocks[len(model._blocks) - n_blocks:], model._conv_head, model._bn1, model._fc]:
        module.requires_grad_(True)
    return model


# What computes exercise 1's answer for the student ("without torchvision's helpers"): torchvision's
# conversion, resize, grey-to-RGB and normalisation, v2 and v1 (the transform classes call them). Resizing is
# caught in the functions every resize reaches (resize_image, _compute_resized_output_size): naming `resize`
# itself would make the source check refuse PIL's image.resize, which the exercise allows. F.interpolate is the
# intended tool; labhelpers' Preprocess is forbidden by default, like every labhelpers function.
TRANSFORM_HELPERS = tuple(f"torchvision.transforms.v2.functional.{name}" for name in (
    "to_dtype", "to_dtype_image", "convert_image_dtype", "resize_image", "_geometry._compute_resized_output_size",
    "_geometry._resize_image_pil", "grayscale_to_rgb", "grayscale_to_rgb_image", "normalize", "normalize_image")) + tuple(
    f"torchvision.transforms.functional.{name}" for name in (
        "to_tensor", "convert_image_dtype", "_compute_resized_output_size", "normalize", "to_grayscale",
        "rgb_to_grayscale"))
# What computes exercise 2's answer without a hook of the student's: torchvision's feature extractors.
FEATURE_EXTRACTORS = ("torchvision.models.feature_extraction.create_feature_extractor",
                      "torchvision.models._utils.IntermediateLayerGetter")


def _input_probes(rng):
    calls = []
    for size in (28, int(rng.integers(29, 64)), int(rng.integers(64, 113))):
        n = int(rng.integers(1, 5))
        X = torch.from_numpy(rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8))
        X[:, :, : int(rng.integers(0, 5))] = 0                          # a black border, like MNIST
        calls.append(Call((X, size), report_args=True, label=f"{n} uint8 digits (random pixels), size={size}"))
    return calls


def _input_compare(got, want) -> str | None:
    """Like the public check: any bilinear resize passes (largest |difference| below 0.05)."""
    if kind(got) != "tensor" or "float" not in got["dtype"]:
        return f"expected a float torch tensor, received {describe(got)}"
    g, w = as_array(got), as_array(want)
    if g.shape != w.shape:
        return f"expected shape {w.shape} (N, 3, size, size), received shape {g.shape}"
    error = np.abs(g - w).max()
    if not error < 0.05:
        return f"values too far from [0, 1] scaling, bilinear resize, grey to RGB, (x - 0.5) / 0.5 " \
               f"(largest difference {error:.3g}; yours range from {g.min():.2f} to {g.max():.2f})"
    return None


def _x_unchanged(call: Call, response: dict) -> str | None:
    after = (response.get("args_after") or [None])[0]
    return "X was modified in place; work on a new tensor" if compare(after, encode(call.args[0]), 0, 0) else None


TINY = "EfficientNetLiteTiny"
TOLERANCE = {"atol": 1e-4, "rtol": 1e-3}  # float32 through 16 blocks; the sandbox may use other thread counts


# ----------------------------------------------------------------------------- exercise 2
def _capture_probes(rng):
    cases = [("NetCNN", "conv1", (2, 1, 28, 28)), ("NetCNN", "conv2", (3, 1, 28, 28)),
             ("NetCNN", "fc1", (2, 1, 28, 28)), (TINY, "_conv_stem", (2, 3, 32, 32)),
             (TINY, f"_blocks.{int(rng.integers(0, 16))}", (2, 3, 48, 48))]
    calls = []
    for name, layer, shape in cases:
        X = torch.from_numpy(rng.normal(0, 1, shape).astype(np.float32))
        calls.append(Call((Model(name, int(rng.integers(1 << 30))), Attr(0, layer), X),
                          label=f"{name}.{layer} with X of shape {shape}"))
    return calls


# ----------------------------------------------------------------------------- exercise 3
def _pooled_probes(rng):
    calls = []
    for n, size in ((2, 64), (int(rng.integers(1, 4)), int(rng.integers(72, 113)))):  # feature maps 2x2 and more
        X = torch.from_numpy(rng.normal(0, 1, (n, 3, size, size)).astype(np.float32))
        calls.append(Call((Model(TINY, int(rng.integers(1 << 30)), train=True), X),
                          label=f"a small EfficientNet left in training mode, X of shape {(n, 3, size, size)}"))
    return calls


# ----------------------------------------------------------------------------- exercise 4
def _finetune_probes(rng):
    return [Call((Model(TINY, int(rng.integers(1 << 30))), n_blocks, num_classes), report_args=True,
                 label=f"a small EfficientNet (16 blocks), n_blocks={n_blocks}, num_classes={num_classes}")
            for n_blocks, num_classes in ((2, 10), (0, int(rng.integers(2, 20))),   # 0: no block trains
                                          (int(rng.integers(1, 17)), int(rng.integers(2, 20))))]


def _finetune_compare(got, want) -> str | None:
    """Same parameters, shapes and requires_grad flags; every weight but the new _fc equal to net's."""
    if kind(got) != "dict":
        return f"expected a model (nn.Module), received {describe(got)}"
    g, w = ({k if isinstance(k, str) else repr(k): v for k, v in answer["__map__"]}  # keys may be unhashable
            for answer in (got, want))
    if set(g) != set(w):
        missing, extra = sorted(set(w) - set(g)), sorted(set(g) - set(w))
        return f"the model's parameters differ from a copy of net with a new _fc: missing {missing[:3]}, " \
               f"unexpected {extra[:3]}"
    for name, want_value in w.items():
        got_value = g[name]
        if kind(got_value) != "tensor" or as_array(got_value).shape != as_array(want_value).shape:
            return f"{name}: expected shape {as_array(want_value).shape}, received {describe(got_value)}"
        if bool(got_value.get("requires_grad")) != bool(want_value.get("requires_grad")):
            should = "train" if want_value.get("requires_grad") else "stay frozen"
            return f"{name} should {should} (requires_grad={bool(want_value.get('requires_grad'))})"
        if not name.startswith("_fc.") and compare(got_value, want_value, atol=0, rtol=0):
            return f"{name}: the pretrained weights changed; keep net's weights in the copy"
    return None


def _net_untouched(call: Call, response: dict) -> str | None:
    """net must come back exactly as it was built: same layers and weights, every parameter still trainable."""
    after = (response.get("args_after") or [None])[0]
    if kind(after) != "dict":
        return "the model passed in could not be read back after your function ran"
    net, state = decode(wire(call.args[0])), dict(after["__map__"])
    if set(state) != set(net.state_dict()):
        return "net itself was changed (its layers differ, a new head?): work on copy.deepcopy(net)"
    for name, parameter in net.named_parameters():
        if kind(state[name]) != "tensor" or not state[name].get("requires_grad"):
            return f"net itself was changed ({name} was frozen): work on copy.deepcopy(net)"
        if compare(state[name], encode(parameter), atol=0, rtol=0):
            return f"net itself was changed ({name} has other values): work on copy.deepcopy(net)"
    return None


EXERCISES = [
    Exercise("to_model_input", 2, "Scale the uint8 values to [0, 1] as floats, add a channel dimension, resize "
             "bilinearly to size x size, copy the grey channel into three (RGB), then map [0, 1] to [-1, 1] with "
             "(x - 0.5) / 0.5, leaving X itself untouched.", _input_probes, reference_model_input,
             compare=_input_compare, verify=_x_unchanged, forbidden=TRANSFORM_HELPERS),
    Exercise("capture_activation", 2, "Register a forward hook on layer that stores its output, run model(X) "
             "without gradients, remove the hook (also when the model raises), and return what the hook stored.",
             _capture_probes, reference_capture_activation, **TOLERANCE, forbidden=FEATURE_EXTRACTORS),
    Exercise("pooled_features", 2, "Put net in eval mode (BatchNorm uses its running statistics, no dropout), run "
             "net.extract_features(X) without gradients and average over the two spatial dimensions: (N, C).",
             _pooled_probes, reference_pooled_features, **TOLERANCE),
    Exercise("prepare_for_finetuning", 2, "Deep-copy net (leave the original untouched), give the copy a new "
             "nn.Linear(in_features, num_classes) as _fc, freeze every parameter, then unfreeze only the last "
             "n_blocks of _blocks (none when n_blocks is 0), _conv_head, _bn1 and _fc.",
             _finetune_probes, reference_finetuning, compare=_finetune_compare, verify=_net_untouched),
]
