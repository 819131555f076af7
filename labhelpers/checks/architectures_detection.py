"""Self-checks of lab 11 (architectures and detection): pooling, the Inception module, ResNet's basic and
bottleneck blocks, the squeeze-and-excitation block, intersection over union, non-maximum suppression, RoI
pooling, SSD's anchor matching and average precision.

No check holds an implementation of its exercise. The modules are checked by behaviour, not by
attribute names: the check builds your class, gives every layer fixed NumPy-seeded weights chosen by the
layer's kind and shape (so any names and any nesting get the same weights), runs it on fixed inputs and
compares its parameter count and outputs with the solution's (``expected/11_architectures_detection.json``).
The box functions are compared with ``torchvision.ops`` (box_iou, nms, roi_pool) on fixed boxes and on
random boxes from NumPy's seeded generator; pooling with ``F.max_pool2d``, ``F.avg_pool2d`` and ``F.lp_pool2d``;
the SE block with ``torchvision.ops.SqueezeExcitation`` given the same weights; the anchor matching with
torchvision's ``SSDMatcher``; average precision (no library here computes VOC's) with the solution's answers.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops as ops

from labhelpers.checks import Case, attempt, close, report, run_cases, skip_during_grading, stored

__all__ = ["check_pool2d", "check_inception", "check_residual_blocks", "check_se_block", "check_iou", "check_nms",
           "check_roi_pool", "check_match_anchors", "check_average_precision"]

LAB = "11_architectures_detection"
INCEPTION_3A = (192, 64, 96, 128, 16, 32, 32)  # GoogLeNet's inception (3a): in, #1x1, #3x3 reduce, #3x3, ...
INCEPTION_CASES = (((12, 4, 6, 8, 2, 3, 5), (1, 12, 6, 6)), ((6, 3, 4, 5, 2, 4, 2), (2, 6, 5, 4)))
BASIC_CASES = (((8, 8, 1), (1, 8, 5, 5)), ((8, 16, 2), (1, 8, 6, 6)))               # identity, projection
BOTTLENECK_CASES = (((16, 4, 1), (1, 16, 4, 4)), ((8, 4, 1), (1, 8, 4, 3)), ((16, 8, 2), (1, 16, 6, 6)))
WEIGHT_SEED = 1100


def _signatures(module: nn.Module) -> dict[str, tuple]:
    """{layer prefix: its tensors as sorted (torch's suffix, shape)}: what a layer is, whatever its name."""
    groups: dict[str, list] = {}
    for name, tensor in module.state_dict().items():
        prefix, _, suffix = name.rpartition(".")
        groups.setdefault(prefix, []).append((suffix, tuple(tensor.shape)))
    return {prefix: tuple(sorted(items)) for prefix, items in groups.items()}


def _fixed_weights(module: nn.Module, seed: int = WEIGHT_SEED) -> nn.Module:
    """Give every layer of ``module`` NumPy-seeded weights that depend only on the layer's tensors' kinds and
    shapes (layers alike get the same ones): conv weights of variance 1/fan_in, small biases, BatchNorm scales
    and variances in [0.5, 1.5]. Independent of attribute names, nesting and creation order; eval mode."""
    signatures = _signatures(module)
    state = module.state_dict()
    with torch.no_grad():
        for prefix, signature in signatures.items():
            digest = hashlib.sha256(f"{seed}:{signature}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            for suffix, shape in signature:
                tensor = state[f"{prefix}.{suffix}" if prefix else suffix]
                if not tensor.is_floating_point():
                    continue                                  # BatchNorm's num_batches_tracked
                if suffix == "running_var" or (suffix == "weight" and len(shape) == 1):
                    values = rng.uniform(0.5, 1.5, size=shape)
                elif len(shape) >= 2:
                    values = rng.uniform(-1.0, 1.0, size=shape) * np.sqrt(3.0 / max(1, int(np.prod(shape[1:]))))
                else:
                    values = rng.uniform(-0.2, 0.2, size=shape)
                tensor.copy_(torch.from_numpy(values.astype(np.float32)))
    return module.eval()


def _inputs(shape: tuple, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _run(name: str, cls, args: tuple, X: torch.Tensor, adjust=None) -> tuple[bool, int, torch.Tensor | None]:
    """Build ``cls(*args)``, count its parameters, give it the fixed weights and run it on ``X``: (ok, count,
    output); ok is False (the verdict printed) when building or running failed or gave no tensor."""
    with torch.random.fork_rng(devices=[]):                  # building layers must not shift the notebook's seed
        ok, module = attempt(name, cls, *args)
    if not ok:
        return False, 0, None
    if not isinstance(module, nn.Module):
        report(name, False, expected=f"{name}(...) to build an nn.Module", received=type(module).__name__)
        return False, 0, None
    count = sum(p.numel() for p in module.parameters())
    _fixed_weights(module)
    if adjust is not None:
        adjust(module)
    with torch.no_grad():
        ok, output = attempt(name, module, X.clone())
    if not ok:
        return False, 0, None
    if not isinstance(output, torch.Tensor):
        report(name, False, expected="forward returns a tensor", received=type(output).__name__)
        return False, 0, None
    return True, count, output.detach().float().cpu()


def check_inception(cls: Callable[..., nn.Module]) -> bool:
    """Check ``cls(in, 1x1, 3x3red, 3x3, 5x5red, 5x5, pool_proj)`` (lab 11, ex. 2): inception (3a)'s parameter
    count and output shape on 28 x 28, and two small modules' counts and outputs with fixed weights."""
    name = "Inception"
    if skip_during_grading(name):
        return True
    answers = []
    ok, count, output = _run(name, cls, INCEPTION_3A, torch.zeros(1, 192, 28, 28))
    if not ok:
        return False
    answers += [count, tuple(output.shape)]
    for seed, (config, shape) in enumerate(INCEPTION_CASES, start=1101):
        ok, count, output = _run(name, cls, config, _inputs(shape, seed))
        if not ok:
            return False
        answers += [count, output]
    expected = stored(LAB, name, answers, {"3a": INCEPTION_3A, "cases": INCEPTION_CASES, "seed": WEIGHT_SEED})
    if expected is None:
        return False
    configs = [(INCEPTION_3A, (1, 192, 28, 28))] + list(INCEPTION_CASES)
    for i, (config, shape) in enumerate(configs):
        got_count, got, want_count, want = answers[2 * i], answers[2 * i + 1], expected[2 * i], expected[2 * i + 1]
        what = "inception (3a)" if i == 0 else f"Inception{config}"
        if got_count != want_count:
            return report(name, False, expected=f"{want_count:,} parameters for {what}", received=f"{got_count:,}",
                          hint="four branches: 1x1; 1x1 reduce -> 3x3 (padding 1); 1x1 reduce -> 5x5 (padding 2); "
                               "3x3 max pool (stride 1, padding 1) -> 1x1; every conv with a bias")
        got_shape = tuple(got) if i == 0 else tuple(got.shape)
        want_shape = tuple(want) if i == 0 else tuple(want.shape)
        if got_shape != want_shape:
            return report(name, False, expected=f"output shape {want_shape} for {what} on an input {shape}",
                          received=f"shape {got_shape}",
                          hint="keep the height and width in every branch (padding) and concatenate on dim=1")
        if i and not close(got, want, atol=1e-4, rtol=1e-4):
            return report(name, False, expected=f"the solution's output for {what} with the same weights",
                          received=f"largest difference {float(np.abs(got.numpy() - np.asarray(want)).max()):.3g}",
                          hint="ReLU after every conv; concatenate in the order 1x1, 3x3, 5x5, pool branch")
    return report(name, True)


def _stride_on_3x3(in_channels: int, mid_channels: int):
    """A bottleneck may stride its first 1x1 conv (the paper) or its 3x3 (torchvision, the solution): move a
    stride found on the 1x1 reduction to the 3x3 conv, so both placements compare with the same answer."""
    def adjust(module: nn.Module) -> None:
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        reduce = [c for c in convs if c.kernel_size == (1, 1) and (c.in_channels, c.out_channels) ==
                  (in_channels, mid_channels) and c.stride != (1, 1)]
        middle = [c for c in convs if c.kernel_size == (3, 3) and c.stride == (1, 1)]
        if len(reduce) == 1 and len(middle) == 1:
            reduce[0].stride, middle[0].stride = (1, 1), reduce[0].stride
    return adjust


def _check_blocks(name: str, cls, cases: tuple, adjust=None) -> bool | None:
    """None when every case matches the solution's answers, else the printed verdict (False)."""
    answers = []
    for seed, (args, shape) in enumerate(cases, start=1110 if name == "BasicBlock" else 1120):
        ok, count, output = _run(name, cls, args, _inputs(shape, seed), adjust(*args[:2]) if adjust else None)
        if not ok:
            return False
        answers += [count, output]
    expected = stored(LAB, name, answers, {"cases": cases, "seed": WEIGHT_SEED})
    if expected is None:
        return False
    for i, (args, shape) in enumerate(cases):
        got_count, got, want_count, want = answers[2 * i], answers[2 * i + 1], expected[2 * i], expected[2 * i + 1]
        if got_count != want_count:
            return report(name, False, expected=f"{want_count:,} parameters for {name}{args}", received=f"{got_count:,}",
                          hint="convs without bias (BatchNorm follows each), a BatchNorm after every conv, and a "
                               "1x1 conv + BatchNorm shortcut only when the stride or the channel count changes")
        if tuple(got.shape) != tuple(want.shape):
            return report(name, False, expected=f"output shape {tuple(want.shape)} for {name}{args} on an input {shape}",
                          received=f"shape {tuple(got.shape)}",
                          hint="padding 1 on the 3x3 convs; the stride on one conv of the branch and on the shortcut")
        if not close(got, want, atol=1e-4, rtol=1e-4):
            return report(name, False, expected=f"the solution's output for {name}{args} with the same weights",
                          received=f"largest difference {float(np.abs(got.numpy() - np.asarray(want)).max()):.3g}",
                          hint="conv-BN-ReLU, ..., the last conv-BN without ReLU, add the shortcut, then ReLU")
    return None


def check_residual_blocks(basic_cls: Callable[..., nn.Module], bottleneck_cls: Callable[..., nn.Module]) -> bool:
    """Check ``BasicBlock(in, out, stride)`` and ``Bottleneck(in, mid, stride)`` (out = 4 mid) (lab 11, ex. 3):
    parameter counts and outputs with fixed weights (BatchNorm in eval mode) against the solution's. A
    bottleneck may put its stride on the first 1x1 conv (the paper) or on the 3x3 conv (torchvision)."""
    if skip_during_grading("residual blocks"):
        return True
    for name, cls, cases, adjust in (("BasicBlock", basic_cls, BASIC_CASES, None),
                                     ("Bottleneck", bottleneck_cls, BOTTLENECK_CASES, _stride_on_3x3)):
        verdict = _check_blocks(name, cls, cases, adjust)
        if verdict is not None:
            return verdict
    return report("residual blocks", True)


def _random_boxes(rng: np.random.Generator, n: int, size: float = 100.0) -> torch.Tensor:
    """(n, 4) boxes x1, y1, x2, y2 with corners in [0, size) and sides in [1, size / 2 + 1)."""
    xy = rng.uniform(0, size, (n, 2))                                      # (n, 2) top-left corners
    wh = rng.uniform(0, size / 2, (n, 2)) + 1.0                            # (n, 2) widths and heights
    return torch.from_numpy(np.concatenate([xy, xy + wh], axis=1).astype(np.float32))


def check_iou(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(boxes1 (N, 4), boxes2 (M, 4))`` -> IoU matrix (N, M) against torchvision.ops.box_iou (lab 11, ex. 5)."""
    name = "iou"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1103)
    fixed = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0], [10.0, 0.0, 20.0, 10.0],
                          [20.0, 20.0, 30.0, 40.0], [2.0, 2.0, 4.0, 4.0]])
    cases = [(fixed, fixed), (fixed[:2], fixed[2:]), (_random_boxes(rng, 7), _random_boxes(rng, 5))]
    for boxes1, boxes2 in cases:
        expected = ops.box_iou(boxes1, boxes2)
        ok, received = attempt(name, fn, boxes1.clone(), boxes2.clone())
        if not ok:
            return False
        if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"a tensor of shape {tuple(expected.shape)} (one row per box of boxes1)",
                          received=f"{type(received).__name__} {tuple(getattr(received, 'shape', ()))}",
                          hint="broadcast: boxes1[:, None, :2] against boxes2[None, :, :2] gives (N, M, 2)")
        if not close(received, expected, atol=1e-5):
            hint = ("boxes that do not overlap must give 0: clamp the intersection's width and height at 0"
                    if float(received.min()) < 0 else
                    "IoU = intersection / (area1 + area2 - intersection); the intersection is "
                    "[max(x1), max(y1), min(x2), min(y2)]")
            return report(name, False, expected=expected.numpy().round(3), received=received.detach().numpy().round(3),
                          hint=hint)
    return report(name, True)


def check_nms(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``fn(boxes, scores, iou_threshold)`` keeps what ``torchvision.ops.nms`` keeps, in order (lab 11, ex. 6)."""
    name = "nms"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1104)
    base = torch.tensor([[10.0, 10.0, 50.0, 50.0], [12.0, 12.0, 52.0, 52.0], [60.0, 60.0, 90.0, 90.0],
                         [11.0, 9.0, 49.0, 51.0], [62.0, 61.0, 91.0, 88.0], [100.0, 0.0, 120.0, 20.0]])
    chain = torch.tensor([[0.0, 0.0, 10.0, 10.0], [4.0, 0.0, 14.0, 10.0], [8.0, 0.0, 18.0, 10.0]])  # A~B, B~C
    cases = [(base, torch.tensor([0.9, 0.8, 0.7, 0.95, 0.6, 0.3]), 0.5),
             (base, torch.tensor([0.9, 0.8, 0.7, 0.95, 0.6, 0.3]), 0.95),
             (chain, torch.tensor([0.9, 0.8, 0.7]), 0.3)]  # B is suppressed by A, so C survives
    for n, threshold in ((30, 0.3), (40, 0.6)):
        scores = torch.from_numpy(rng.permutation(n).astype(np.float32) / n + 0.01)  # distinct: no ties
        cases.append((_random_boxes(rng, n, 60.0), scores, threshold))
    for boxes, scores, threshold in cases:
        expected = ops.nms(boxes, scores, threshold)
        ok, received = attempt(name, fn, boxes.clone(), scores.clone(), threshold)
        if not ok:
            return False
        try:
            got = [int(i) for i in received]
        except (TypeError, ValueError):
            return report(name, False, expected="a tensor or list of box indices", received=repr(received)[:200])
        want = expected.tolist()
        if got != want:
            hint = ("return the kept indices from the highest score down" if sorted(got) == sorted(want) else
                    "repeat: keep the highest-scoring remaining box, drop every remaining box whose IoU with it "
                    "is above the threshold (strictly greater)")
            return report(name, False, expected=f"{want} (threshold {threshold})", received=got, hint=hint)
    return report(name, True)


def check_roi_pool(fn: Callable[[torch.Tensor, torch.Tensor, tuple, float], torch.Tensor]) -> bool:
    """Check ``fn(features (C, H, W), boxes (K, 4), output_size, spatial_scale)`` against torchvision.ops.roi_pool
    (lab 11, ex. 7)."""
    name = "roi_pool"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1105)
    features = torch.from_numpy(rng.normal(size=(3, 12, 16)).astype(np.float32))  # (C, H, W)
    boxes = torch.tensor([[0.0, 0.0, 63.0, 47.0], [13.0, 9.0, 41.0, 30.0], [40.0, 20.0, 44.0, 23.0]])
    cases = [(boxes, (2, 2), 0.25), (boxes, (3, 4), 0.25),
             (_random_boxes(rng, 6, 40.0), (2, 3), 0.25), (_random_boxes(rng, 4, 14.0), (4, 4), 1.0)]
    for rois, output_size, scale in cases:
        expected = ops.roi_pool(features[None], [rois], output_size, scale)       # (K, C, h, w)
        ok, received = attempt(name, fn, features.clone(), rois.clone(), output_size, scale)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"shape {tuple(expected.shape)} (boxes, channels, *output_size)",
                          received=f"{type(received).__name__} {tuple(getattr(received, 'shape', ()))}")
        if not close(received, expected, atol=1e-5):
            wrong = int((received.detach().float() - expected).abs().gt(1e-5).flatten(1).any(1).nonzero()[0])
            return report(name, False, expected=expected[wrong, 0].numpy().round(3),
                          received=received[wrong, 0].detach().numpy().round(3),
                          hint=f"box {rois[wrong].tolist()}, output {output_size}, scale {scale}: round the scaled "
                               "corners (half away from zero), width = x2 - x1 + 1, bin i covers "
                               "[floor(i * bin), ceil((i + 1) * bin)) and takes the max")
    return report(name, True)


# ----------------------------------------------------------------------------- pooling
def _tensor(rng: np.random.Generator, *shape: int, shift: float = 0.0) -> torch.Tensor:
    return torch.from_numpy((rng.normal(size=shape) + shift).astype(np.float32))


def check_pool2d(fn: Callable[[torch.Tensor, int, int, str], torch.Tensor]) -> bool:
    """Check ``fn(X (B, C, H, W), kernel_size, stride, mode)`` for mode "max", "avg", "sum" against F.max_pool2d,
    F.avg_pool2d and F.lp_pool2d with norm_type 1 (the sum of each window) (lab 11, ex. 1)."""
    name = "pool2d"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1106)
    shapes = [((2, 3, 6, 6), 2, 2), ((1, 2, 7, 9), 3, 2), ((2, 1, 5, 6), 2, 1), ((1, 2, 8, 5), 3, 3)]
    inputs = [(_tensor(rng, *shape, shift=-2.0 if i == 1 else 0.0), k, s) for i, (shape, k, s) in enumerate(shapes)]
    library = {"max": F.max_pool2d, "avg": F.avg_pool2d, "sum": lambda x, k, s: F.lp_pool2d(x, 1, k, s)}
    for mode, pool in library.items():
        answers = []
        for X, k, s in inputs:
            ok, received = attempt(name, fn, X.clone(), k, s, mode)
            if not ok:
                return False
            answers.append(received)
        for (X, k, s), received in zip(inputs, answers):
            expected = pool(X, k, s)
            case = f'mode "{mode}", X {tuple(X.shape)}, kernel_size={k}, stride={s}'
            if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
                return report(name, False, expected=f"shape {tuple(expected.shape)} for {case}",
                              received=f"{type(received).__name__} {tuple(getattr(received, 'shape', ()))}",
                              hint="one output per window that fits: (size - kernel_size) // stride + 1 per axis; "
                                   "batch and channels unchanged")
            if not close(received, expected, atol=1e-4):
                # a mean where a sum is asked, or the other way round: named only when it explains every case
                other = {"sum": ("avg", "that is the average of each window; the sum is kernel_size**2 times larger"),
                         "avg": ("sum", "that is the sum of each window; the average divides it by kernel_size**2")}
                hint = f"{case}: each output is the {mode} of one kernel_size x kernel_size window"
                if mode in other and all(isinstance(a, torch.Tensor) and close(a, library[other[mode][0]](x, kk, ss),
                                                                                atol=1e-4)
                                         for a, (x, kk, ss) in zip(answers, inputs)):
                    hint = other[mode][1]
                return report(name, False, expected=expected[0, 0].numpy().round(3),
                              received=received.detach()[0, 0].float().numpy().round(3), hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- squeeze-and-excitation
def _squeezed(shape: tuple) -> tuple:
    """A weight's shape without trailing 1s: a Linear(C, r) and a 1x1 Conv2d(C, r) get the same weights."""
    shape = tuple(shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _se_weights(module: nn.Module, seed: int) -> nn.Module:
    """NumPy-seeded weights that depend on each tensor's kind and squeezed shape only (so nn.Linear and 1x1
    convolutions, any names, get the same numbers); eval mode."""
    with torch.no_grad():
        for key, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            shape = _squeezed(tensor.shape)
            digest = hashlib.sha256(f"{seed}:{key.rpartition('.')[2]}:{shape}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            scale = np.sqrt(3.0 / shape[1]) if len(shape) >= 2 else 0.5
            tensor.copy_(torch.from_numpy((rng.uniform(-1, 1, size=shape) * scale).astype(np.float32)).view_as(tensor))
    return module.eval()


SE_CASES = ((16, 4, (2, 16, 5, 5)), (12, 3, (1, 12, 4, 6)), (64, 16, (1, 64, 3, 3)))


def check_se_block(cls: Callable[[int, int], nn.Module]) -> bool:
    """Check ``cls(channels, reduction)`` (lab 11, ex. 4): its parameter count and its output with fixed weights
    against torchvision.ops.SqueezeExcitation(channels, channels // reduction) given the same weights."""
    from torchvision.ops import SqueezeExcitation
    name = "SEBlock"
    if skip_during_grading(name):
        return True
    for seed, (channels, reduction, shape) in enumerate(SE_CASES, start=1140):
        what = f"SEBlock({channels}, {reduction})"
        with torch.random.fork_rng(devices=[]):
            ok, module = attempt(name, cls, channels, reduction)
            reference = SqueezeExcitation(channels, channels // reduction)
        if not ok:
            return False
        if not isinstance(module, nn.Module):
            return report(name, False, expected=f"{what} to build an nn.Module", received=type(module).__name__)
        got_count, want_count = (sum(p.numel() for p in m.parameters()) for m in (module, reference))
        if got_count != want_count:
            return report(name, False, expected=f"{want_count:,} parameters for {what}", received=f"{got_count:,}",
                          hint=f"two fully connected layers with biases: {channels} -> {channels // reduction} -> "
                               f"{channels} (a Linear or a 1x1 convolution each), nothing else with weights")
        X = _inputs(shape, seed)
        with torch.no_grad():
            ok, output = attempt(name, _se_weights(module, seed), X.clone())
            expected = _se_weights(reference, seed)(X)
        if not ok:
            return False
        if not isinstance(output, torch.Tensor) or tuple(output.shape) != tuple(X.shape):
            return report(name, False, expected=f"an output of the input's shape {tuple(X.shape)} for {what}",
                          received=f"{type(output).__name__} {tuple(getattr(output, 'shape', ()))}",
                          hint="the block rescales its input: x times one weight per channel, broadcast over H, W")
        if not close(output, expected, atol=1e-5):
            return report(name, False, expected=f"the output of SqueezeExcitation with the same weights ({what})",
                          received=f"largest difference {float((output.float() - expected).abs().max()):.3g}",
                          hint="squeeze: average over H and W; excite: FC, ReLU, FC, sigmoid; then scale x "
                               "channel by channel")
    return report(name, True)


# ----------------------------------------------------------------------------- SSD's target assignment
def _match_cases() -> list[tuple[torch.Tensor, torch.Tensor, float, str]]:
    """(anchors, true boxes, threshold, label): a grid of square anchors and true boxes of several sizes,
    one too small for any anchor to reach the threshold; then random ones (no ties)."""
    rng = np.random.default_rng(1108)
    centres = [(x, y) for y in (10.0, 30.0, 50.0) for x in (10.0, 30.0, 50.0)]
    anchors = torch.tensor([[x - s / 2, y - s / 2, x + s / 2, y + s / 2] for x, y in centres for s in (16.0, 36.0)])
    truths = torch.tensor([[2.0, 3.0, 19.0, 18.0], [11.0, 13.0, 48.0, 49.0], [46.0, 47.0, 53.0, 52.0]])
    cases = [(anchors, truths, 0.5, "a 3 x 3 grid of anchors (2 sizes), 3 true boxes, one of them tiny"),
             (anchors, truths, 0.3, "the same boxes, threshold 0.3")]
    for n_anchors, n_truths, threshold in ((40, 4, 0.5), (60, 6, 0.4)):
        cases.append((_random_boxes(rng, n_anchors, 60.0), _random_boxes(rng, n_truths, 60.0), threshold,
                      f"{n_anchors} random anchors, {n_truths} random true boxes, threshold {threshold}"))
    return cases


def check_match_anchors(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``fn(anchors (A, 4), truths (G, 4), threshold)`` -> (A,) index of each anchor's true box or -1, against
    torchvision's SSDMatcher (the matching of torchvision's SSD) (lab 11, ex. 8)."""
    from torchvision.models.detection._utils import Matcher, SSDMatcher
    name = "match_anchors"
    if skip_during_grading(name):
        return True
    cases = _match_cases()
    answers = []
    for anchors, truths, threshold, label in cases:
        ok, received = attempt(name, fn, anchors.clone(), truths.clone(), threshold)
        if not ok:
            return False
        try:
            answers.append([int(i) for i in received])
        except (TypeError, ValueError):
            return report(name, False, expected="a tensor of one index per anchor", received=repr(received)[:200])
    quality = [ops.box_iou(truths, anchors) for anchors, truths, _, _ in cases]            # (G, A) each
    expected = [SSDMatcher(t)(q).tolist() for (_, _, t, _), q in zip(cases, quality)]
    threshold_only = [Matcher(t, t)(q).tolist() for (_, _, t, _), q in zip(cases, quality)]  # a wrong variant
    for (anchors, truths, threshold, label), got, want in zip(cases, answers, expected):
        if got != want:
            if len(got) != len(want):
                hint = "one entry per anchor (not per true box)"
            elif answers == threshold_only:
                hint = ("every true box also claims the anchor it overlaps most, even below the threshold "
                        "(else an object no anchor reaches is never trained)")
            else:
                hint = ("each anchor: the true box of highest IoU if that IoU >= threshold, else -1; then each true "
                        "box takes its own best anchor")
            wrong = [i for i, (g, w) in enumerate(zip(got, want)) if g != w][:5] if len(got) == len(want) else []
            return report(name, False, expected=f"{label}: {[want[i] for i in wrong] or want}",
                          received=f"{[got[i] for i in wrong] or got}" + (f" (anchors {wrong})" if wrong else ""),
                          hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- average precision
def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


AP_CASES = [  # (label, true boxes per image, detected boxes per image, their scores, IoU threshold)
    ("one photo: two objects, both found, the best score first",
     [[[0, 0, 10, 10], [20, 20, 30, 30]]], [[[0, 0, 10, 9], [21, 20, 30, 31]]], [[0.9, 0.8]], 0.5),
    ("one photo: a duplicate of an object found before it",
     [[[0, 0, 10, 10], [20, 20, 30, 30]]], [[[0, 0, 10, 9], [1, 0, 10, 10], [21, 20, 30, 31]]], [[0.9, 0.8, 0.7]], 0.5),
    ("one photo: the top-scoring detection is background (the precision rises after it), one object never found",
     [[[0, 0, 10, 10], [20, 20, 30, 30], [40, 0, 50, 10]]], [[[60, 60, 70, 70], [0, 0, 10, 9], [21, 20, 30, 31]]],
     [[0.95, 0.8, 0.6]], 0.5),
    ("one photo: a box of IoU 0.6 counts at threshold 0.5 and not at 0.7",
     [[[0, 0, 10, 10], [20, 20, 30, 30]]], [[[0, 0, 10, 6], [20, 20, 30, 30]]], [[0.9, 0.5]], 0.7),
    ("two photos: detections of both, sorted together by score",
     [[[0, 0, 10, 10]], [[5, 5, 15, 15], [30, 30, 40, 40]]],
     [[[0, 0, 10, 10], [0, 0, 4, 4]], [[30, 30, 40, 39], [5, 5, 15, 16]]], [[0.6, 0.9], [0.8, 0.5]], 0.5),
    ("two photos: one with no objects at all, only false detections",
     [[], [[0, 0, 10, 10], [20, 0, 30, 10]]], [[[0, 0, 10, 10], [20, 0, 30, 10]], [[20, 0, 30, 10], [0, 0, 10, 10]]],
     [[0.9, 0.7], [0.8, 0.4]], 0.5),
    ("two photos: precision rises again after false detections (the envelope matters)",
     [[[0, 0, 10, 10], [20, 0, 30, 10]], [[0, 20, 10, 30], [20, 20, 30, 30], [40, 40, 50, 50]]],
     [[[0, 0, 10, 10], [1, 0, 10, 10], [50, 0, 60, 10], [20, 0, 30, 10]],
      [[0, 20, 10, 30], [30, 30, 40, 40], [20, 20, 30, 31]]],
     [[0.95, 0.9, 0.8, 0.6], [0.85, 0.7, 0.5]], 0.5),
]


def check_average_precision(fn: Callable[..., float]) -> bool:
    """Check ``fn(pred_boxes, pred_scores, true_boxes, iou_threshold)`` (lists with one tensor per photo) -> the
    all-point average precision of one class, against the solution's answers to fixed cases (lab 11, ex. 9)."""
    name = "average_precision"
    if skip_during_grading(name):
        return True
    cases = [Case(([_t(b) for b in boxes], [torch.tensor(s, dtype=torch.float32) for s in scores],
                   [_t(t) for t in truths], threshold), label) for label, truths, boxes, scores, threshold in AP_CASES]
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if isinstance(received, torch.Tensor) and received.numel() == 1:
            received = received.item()
        if isinstance(received, bool) or not isinstance(received, (float, int, np.floating)):
            return report(name, False, expected="a number (a Python float)", received=type(received).__name__,
                          hint="return the area under the precision envelope as a float")
    got = [float(a.item() if isinstance(a, torch.Tensor) else a) for a in answers]
    expected = stored(LAB, name, got, cases)
    if expected is None:
        return False
    for case, g, want in zip(cases, got, expected):
        if not abs(g - float(want)) <= 1e-6:
            return report(name, False, expected=f"AP {float(want):.4f} for {case.label}", received=f"{g:.4f}",
                          hint="all detections of all photos sorted by score; a true positive is the first match "
                               "(IoU >= the threshold) of a true box of its photo; recall over every true box; "
                               "AP sums recall steps times the envelope (the best precision at that recall or later)")
    return report(name, True)
