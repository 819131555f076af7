"""Hidden tests of lab 10 (transfer learning: digits prepared for a pretrained model, hooks, features, fine-tuning,
an epoch of training with a frozen part).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
The model exercises get seeded networks built in the sandbox: NetCNN, and EfficientNetLiteTiny (codec:
EfficientNet-Lite0's anatomy at a quarter of its width, so extract_features, _blocks, _conv_head, _bn1 and
_fc are all there); Attr(0, path) hands over a layer of that same model; a model answer comes back as its
parameters with their requires_grad flags.

finetune_epoch is graded by behaviour (labkit.grading.training): the student's epoch and the reference's train the
same seeded network (codec Layers, FROZEN_NET: a BatchNorm on each side of the cut, in evaluation mode on arrival)
on the same real digits (Loader, shuffled alike) with the same watched optimizer over *all* its parameters. What
came back tells the mistakes apart: frozen weights that moved (not frozen: the optimizer updated them), frozen
BatchNorm statistics that moved (the frozen part ran in training mode), a trained BatchNorm that saw no batch (the
trained part ran in evaluation mode), the steps' gradients (missing zero_grad, a summed loss), the numbers returned.
No outcome part: the task is one epoch's behaviour, not a target accuracy.
"""
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.grading.codec import build_layers, decode, encode
from labkit.grading.references import classifier_epoch
from labkit.grading.spec import Attr, Call, Exercise, Layers, Loader, Model, Optim, Part, wire
from labkit.grading.training import returns_numbers, same_steps, same_values, same_weights
from labkit.grading.verdict import as_array, compare, describe, ignore_answer, kind

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


# ----------------------------------------------------------------------------- exercise 5
def reference_finetune_epoch(model: nn.Sequential, n_frozen: int, train_loader, optimizer, device) -> dict:
    """One epoch with model[:n_frozen] frozen and in eval mode, the rest training: mean loss per image, accuracy %."""
    model.train()
    frozen = model[:n_frozen]
    frozen.requires_grad_(False)
    frozen.eval()
    loss, accuracy = classifier_epoch(model, train_loader, optimizer, device)
    return {"loss": loss, "accuracy": 100.0 * accuracy}


# A small "pretrained" network with a BatchNorm on each side of the cut: conv 1->4 5x5 stride 2 (28 -> 12), its
# BatchNorm, flatten, Linear 576 -> 16, its BatchNorm, dropout, the classifier. Cut after layer 4 (the conv block is
# frozen, BatchNorm1d trains) or after layer 7 (only dropout and the classifier train).
FROZEN_NET = (("Conv2d", 1, 4, 5, 2), ("BatchNorm2d", 4), ("ReLU",), ("Flatten",), ("Linear", 576, 16),
              ("BatchNorm1d", 16), ("ReLU",), ("Dropout", 0.3), ("Linear", 16, 10))
DEEP_CUT, SHALLOW_CUT = "the conv block frozen (n_frozen=4)", "all but dropout and the classifier frozen (n_frozen=7)"


def _finetune_epoch_probes(rng):
    calls = []
    for label, n_frozen, kind_, hyper in ((DEEP_CUT, 4, "SGD", (("lr", 0.05), ("momentum", 0.9))),
                                          (SHALLOW_CUT, 7, "Adam", (("lr", 0.01),))):
        seed, batch_size = int(rng.integers(2**31)), int(rng.choice([16, 24, 32]))
        n = 10 * int(rng.integers(7, 13))                       # balanced digits; a smaller last batch as a rule
        model = Layers(FROZEN_NET, seed, watch=True, train=False)   # arrives in eval mode, as after an evaluation
        calls.append(Call((model, n_frozen, Loader("train", n, batch_size, shuffle=True), Optim(kind_, 0, hyper), "cpu"),
                          seed=seed + 1, collect=True,
                          label=f"{label}, {n} digits in batches of {batch_size}, {kind_} over all parameters"))
    return calls


def _after_and_before(call, got):
    """(state after the student's epoch, seeded state before it) as float64 arrays by name, or a reason."""
    record = dict(got["__map__"]) if kind(got) == "dict" else {}
    after = record.get("after")
    if kind(after) != "list" or kind(after["__seq__"][0]) != "dict":
        return "the answer could not be read"
    layers = call.args[0]
    before = build_layers([list(layer) for layer in layers.spec], layers.seed).state_dict()
    state = {k: as_array(v) for k, v in after["__seq__"][0]["__map__"]}
    return state, {k: t.double().numpy() for k, t in before.items()}


def _steps_taken(got) -> int:
    record = dict(got["__map__"]) if kind(got) == "dict" else {}
    logs = record.get("logs")
    log = logs["__seq__"][3] if kind(logs) == "list" and kind(logs["__seq__"][3]) == "list" else {"__seq__": []}
    return sum(1 for entry in log["__seq__"] if kind(entry) == "dict" and "grad_norm" in dict(entry["__map__"]))


def _in_part(name: str, n_frozen: int, frozen: bool) -> bool:
    return (int(name.split(".")[0]) < n_frozen) == frozen


def _frozen_unchanged(call, got, want):
    """The frozen layers' weights are exactly as they came (and the loop did step)."""
    states = _after_and_before(call, got)
    if isinstance(states, str):
        return states
    if _steps_taken(got) == 0:
        return "the optimizer never stepped: one optimizer.step() per batch"
    after, before = states
    n_frozen = call.args[1]
    for name, value in before.items():
        if name.endswith(("weight", "bias")) and _in_part(name, n_frozen, True) and \
                (after.get(name) is None or not np.array_equal(after[name], value)):
            return (f"the frozen layer {name} changed: freeze model[:n_frozen] with requires_grad_(False), so that "
                    "backward() gives its parameters no gradient and the optimizer (built over all of them) skips them")
    return None


def _frozen_statistics(call, got, want):
    """The frozen BatchNorm kept its running statistics: it ran in evaluation mode."""
    states = _after_and_before(call, got)
    if isinstance(states, str):
        return states
    if _steps_taken(got) == 0:
        return "the optimizer never stepped: one optimizer.step() per batch"
    after, before = states
    n_frozen = call.args[1]
    for name, value in before.items():
        if name.endswith(("running_mean", "running_var", "num_batches_tracked")) and _in_part(name, n_frozen, True) \
                and (after.get(name) is None or not np.array_equal(after[name], value)):
            return (f"the frozen BatchNorm's {name.split('.')[-1]} moved: the frozen part ran in training mode; put "
                    "model[:n_frozen] in evaluation mode after model.train(), so it keeps its pretrained statistics")
    return None


def _trained_part_training(call, got, want):
    """The BatchNorm that trains ran in training mode (its batch counter moved as much as the reference's)."""
    states = _after_and_before(call, got)
    if isinstance(states, str):
        return states
    after, _ = states
    theirs = {k: as_array(v) for k, v in dict(want["__map__"])["after"]["__seq__"][0]["__map__"]}
    for name, value in theirs.items():
        if name.endswith("num_batches_tracked") and _in_part(name, call.args[1], False) and \
                float(after.get(name, np.zeros(())).reshape(())) != float(value.reshape(())):
            return ("the layers being trained were in evaluation mode (their BatchNorm saw no batch): call "
                    "model.train() first, then put only the frozen part back in evaluation mode")
    return None


def _finetune_steps(call, got, want):
    """same_steps, unless the frozen part moved (its gradients then explain the different norms)."""
    if _frozen_unchanged(call, got, want) is not None and _steps_taken(got):
        return "the steps used the frozen layers' gradients too (freeze them: see the first part)"
    reason = same_steps(3)(call, got, want)
    return reason.replace("F.nll_loss's default reduction", "F.cross_entropy's default reduction") if reason else None


FINETUNE_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss", "accuracy"))),
                  Part("frozen part unchanged", 0.75, _frozen_unchanged),
                  Part("frozen BatchNorm in evaluation mode", 0.5, _frozen_statistics),
                  Part("trained part in training mode", 0.5, _trained_part_training),
                  Part("one step per batch, each on the reference's gradient", 1.0, _finetune_steps),
                  Part("same weights", 0.25, same_weights(0)),
                  Part("same loss and accuracy", 0.5, same_values(("loss", "accuracy"), hints={
                      "loss": "the mean over images: weight each batch's loss by its size (the last batch is smaller)",
                      "accuracy": "the percentage of correct predictions over all the images of the epoch"})))


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
    Exercise("finetune_epoch", 4, "Freeze model[:n_frozen] (requires_grad False: no gradient, so the optimizer skips "
             "it), put the model in training mode but its frozen part back in evaluation mode (its BatchNorm keeps "
             "its statistics), then one pass over the loader: clear the gradients, forward, cross-entropy, backward, "
             "step; return the mean loss per image and the accuracy in % as Python numbers.",
             _finetune_epoch_probes, reference_finetune_epoch, compare=ignore_answer, parts=FINETUNE_PARTS,
             allowed=("labhelpers.data.TensorLoader",)),
]
