"""Hidden tests of lab 11 (architectures and detection: pooling, Inception, residual blocks, the SE block, IoU, NMS,
RoI pooling, SSD's anchor matching, average precision).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
Model classes are judged by behaviour, not attribute names: the grader rebuilds the weights the sandbox
drew for the student's model (codec.fill_weights, in the order of its names), loads them layer by layer
into a reference (matched by shape, each matching tried) and compares the outputs.
"""
import itertools
import math
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops as ops

from labkit.grading.codec import decode, fill_weights
from labkit.grading.spec import Call, Exercise, Part
from labkit.grading.verdict import as_array, compare, describe, kind

LAB = "11_architectures_detection"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}


# ----------------------------------------------------------------------------- references
class ReferenceInception(nn.Module):
    """GoogLeNet's Inception module as in the paper: conv (with bias) + ReLU in each of four branches."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) -> None:
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3red, 1), nn.ReLU(),
                                nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5red, 1), nn.ReLU(),
                                nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU())
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1),
                                nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The shortcut's 1x1 conv + BatchNorm when the shape changes, else None (identity shortcut)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


def reference_basic_block(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """torchvision's ResNet BasicBlock with the shortcut the slides draw."""
    from torchvision.models.resnet import BasicBlock
    return BasicBlock(in_channels, out_channels, stride, _downsample(in_channels, out_channels, stride))


def reference_bottleneck(in_channels: int, mid_channels: int, stride: int, stride_on_3x3: bool) -> nn.Module:
    """torchvision's ResNet Bottleneck (1x1, 3x3, 1x1 to 4 x mid_channels)."""
    from torchvision.models.resnet import Bottleneck
    block = Bottleneck(in_channels, mid_channels, stride, _downsample(in_channels, 4 * mid_channels, stride))
    if not stride_on_3x3:  # the paper's ResNet (v1): stride on the first 1x1, torchvision's (v1.5) on the 3x3
        block.conv1.stride, block.conv2.stride = (stride, stride), (1, 1)
    return block


# What the exercises ask students to write themselves. torchvision's blocks are forbidden by their forward
# methods: whoever uses one runs its forward, and naming the classes would also make the source check refuse a
# student's own `super(Inception, self).__init__()`. ops.box_iou stays allowed in nms (the solution uses it).
TORCHVISION_INCEPTION = ("torchvision.models.googlenet.Inception.forward",
                         "torchvision.models.googlenet.Inception._forward")
BOX_IOU = ("torchvision.ops.box_iou", "torchvision.ops.boxes._box_inter_union", "torchvision.ops.generalized_box_iou",
           "torchvision.ops.distance_box_iou", "torchvision.ops.complete_box_iou", "torchvision.ops.boxes._box_diou_iou")
NMS = ("torchvision.ops.nms", "torchvision.ops.batched_nms", "torchvision.ops.boxes._batched_nms_vanilla",
       "torchvision.ops.boxes._batched_nms_coordinate_trick", "torch.ops.torchvision.nms",
       "torch.ops.torchvision.nms.default")   # torchvision first: resolving it registers the torch.ops
ROI_POOL = ("torchvision.ops.roi_pool.roi_pool", "torchvision.ops.RoIPool", "torch.ops.torchvision.roi_pool",
            "torch.ops.torchvision.roi_pool.default",
            # adaptive max pooling has exactly RoI pooling's bins on a window: it would skip the exercise's step 3
            "torch.nn.functional.adaptive_max_pool2d_with_indices", "torch.nn.functional._adaptive_max_pool2d",
            "torch.nn.AdaptiveMaxPool2d", "torch._C._nn.adaptive_max_pool2d")


# pool2d: every pooling routine, and a convolution (a kernel of ones sums each window). Tensor.unfold and
# F.unfold stay allowed: they cut out the windows, the exercise is the reduction.
POOLING = ("torch.nn.functional.max_pool2d", "torch.nn.functional.max_pool2d_with_indices", "torch.max_pool2d",
           "torch.nn.functional.avg_pool2d", "torch._C._nn.avg_pool2d", "torch.nn.functional.lp_pool2d",
           "torch.nn.functional.adaptive_max_pool2d", "torch.nn.functional.adaptive_avg_pool2d",
           "torch.nn.functional.fractional_max_pool2d", "torch.nn.modules.pooling._MaxPoolNd",
           "torch.nn.modules.pooling._AvgPoolNd", "torch.nn.modules.pooling._LPPoolNd",
           "torch.nn.functional.conv2d", "torch.nn.modules.conv._ConvNd")
SQUEEZE_EXCITATION = ("torchvision.ops.misc.SqueezeExcitation.forward", "torchvision.ops.misc.SqueezeExcitation._scale")
SSD_MATCHER = ("torchvision.models.detection._utils.Matcher.__call__",
               "torchvision.models.detection._utils.SSDMatcher.__call__")
AP_ROUTINES = ("sklearn.metrics.average_precision_score", "sklearn.metrics.precision_recall_curve")


def _i(rng, low, high):
    return int(rng.integers(low, high + 1))


def _t(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float32))


# ----------------------------------------------------------------------------- exercises 1-2: model classes
def _module_calls(rng, what, cases):
    calls = []
    for args in cases:
        B, H, W = _i(rng, 1, 2), _i(rng, 4, 11), _i(rng, 4, 11)
        calls.append(Call(args, label=f"{what}{args} on an input ({B}, {args[0]}, {H}, {W}), random weights",
                          module={"seed": _i(rng, 0, 2**31), "input": _t(rng.normal(size=(B, args[0], H, W)))}))
    return calls


def _layers(state):
    """{layer prefix: sorted (name suffix, shape) of its tensors}, without BatchNorm's num_batches_tracked."""
    groups = defaultdict(list)
    for name, shape in state:
        if not name.endswith("tracked"):
            groups[name.rpartition(".")[0]].append((name.rpartition(".")[2], tuple(shape)))
    return {prefix: tuple(sorted(items)) for prefix, items in groups.items()}


def _same_module(*builders):
    """verify (the comparison is replaced): a reference holding the student's layers gives the student's output."""
    def verify(call: Call, response: dict) -> str | None:
        if kind(response["value"]) != "dict" or kind(response["value"]["__map__"][0][1]) != "tensor":
            return f"expected an nn.Module whose forward returns a tensor, received {describe(response['value'])}"
        got, best, weights = decode(response["value"]), np.inf, None
        got["output"] = got["output"].float()
        for build in builders:
            ref, slots = build(*call.args).eval(), defaultdict(lambda: ([], []))
            wanted, theirs = _layers((n, t.shape) for n, t in ref.state_dict().items()), _layers(got["state"])
            for side, layers in enumerate((wanted, theirs)):
                for prefix, signature in layers.items():
                    slots[signature][side].append(prefix)
            if any(len(refs) != len(yours) for refs, yours in slots.values()):
                n = [sum(math.prod(s) for layer in x.values() for _, s in layer) for x in (theirs, wanted)]
                return f"your state_dict holds {n[0]:,} weights and statistics, a correct module's {n[1]:,}" \
                    + " (in layers of other shapes)" * (n[0] == n[1])
            if weights is None:  # only now: the claimed shapes are a correct module's, never what an answer claims
                weights = _seeded_weights(got["state"], call.module["seed"])
            for choice in itertools.islice(itertools.product(*(itertools.permutations(s) for _, s in slots.values())),
                                           5000):
                with torch.no_grad():
                    for (refs, _), chosen in zip(slots.values(), choice):
                        for r, s, (suffix, _) in ((r, s, t) for r, s in zip(refs, chosen) for t in wanted[r]):
                            getattr(ref.get_submodule(r), suffix).copy_(weights[f"{s}.{suffix}" if s else suffix])
                    output = ref(call.module["input"])
                if output.shape != got["output"].shape:
                    return f"expected an output of shape {tuple(output.shape)}, received {tuple(got['output'].shape)}"
                if torch.allclose(output, got["output"], atol=1e-5, rtol=1e-4):
                    return None
                best = min(best, float((output - got["output"]).abs().max()))
        return f"your output differs from a correct module's with the same weights (largest difference {best:.3g})"
    return verify


# ----------------------------------------------------------------------------- exercises 3-5: boxes
def _boxes(rng, n, offset=0.0, size=60.0):
    xy = rng.uniform(0, size, (n, 2)) + offset
    return np.concatenate([xy, xy + rng.uniform(1, size / 2, (n, 2))], axis=1)


def _iou_probes(rng):
    n, m = _i(rng, 1, 8), _i(rng, 1, 8)
    a = _boxes(rng, n)
    shift = np.tile(a[:, 2:] - a[:, :2], 2)                            # (width, height, width, height)
    inner = np.tile(a[:, :2], 2) + shift * [.1, .2, .8, .9]
    apart = np.concatenate([_boxes(rng, m, 200.0), a + shift * [1, 0, 1, 0], a + shift + 0.5])
    return [Call((_t(a), _t(_boxes(rng, m))), label=f"{n} random boxes against {m} random boxes"),
            Call((_t(a), _t(apart)), label=f"{n} boxes against {m} far-away boxes, copies of them touching their "
                 "right edge, and copies just past their bottom-right corner"),
            Call((_t(a), _t(np.concatenate([inner, a]))), label=f"{n} boxes against boxes nested in them, then copies")]


def _nms_probes(rng):
    """Clusters of overlapping boxes 100 pixels apart, scores distinct inside a cluster and repeated across
    clusters (ties only where boxes cannot suppress each other); thresholds away from every IoU."""
    parts = [np.array([100 * c, 0, 100 * c, 0]) + np.tile(rng.uniform(0, 40, 2), 2) + [0, 0, *rng.uniform(20, 40, 2)]
             + rng.uniform(-7, 7, (_i(rng, 2, 6), 4)) for c in range(_i(rng, 3, 5))]
    ranks, boxes = rng.uniform(0.05, 1, 6), np.concatenate(parts)
    scores, iou = np.concatenate([ranks[:len(p)] for p in parts]), ops.box_iou(_t(boxes), _t(boxes)).numpy()
    cases = [(boxes, scores, next(t for t in np.round(rng.uniform(low, high, 50), 3) if np.abs(iou - t).min() > 1e-3),
              f"{len(boxes)} boxes in {len(parts)} clusters, ties between clusters")
             for low, high in ((0.1, 0.4), (0.4, 0.6), (0.6, 0.9))]
    x, w = _i(rng, 0, 100), _i(rng, 10, 30)
    cases += [(np.array([[x + s, 300, x + s + w, 300 + w] for s in (0, 0.4 * w, 0.8 * w)]), np.array([.9, .8, .7]),
               np.round(rng.uniform(0.15, 0.4), 2), "a chain A-B-C: A removes B, and a removed B must not remove C"),
              (np.array([[x, 0, x + 10, 10], [x, 0, x + 10, 5], [x + 20, 0, x + 30, 10]]), np.array([.9, .8, .9]), 0.5,
               "two boxes whose IoU equals the threshold (not greater: both kept), a third apart, tied")]
    calls = []
    for b, s, t, what in cases:
        order = rng.permutation(len(b))
        calls.append(Call((_t(b[order]), _t(s[order]), float(t)), label=f"{what}, threshold {float(t)}"))
    return calls


def _nms_verify(call, response):
    """verify (the comparison is replaced): torchvision's kept set, in an order of decreasing score (ties)."""
    got, want = as_array(response["value"]), ops.nms(*call.args).numpy()
    if got is None or got.ndim != 1:
        return f"expected a 1-D tensor of box indices, received {describe(response['value'])}"
    if len(got) != len(want) or not np.array_equal(np.sort(got), np.sort(want)):
        return f"kept {len(got)} boxes, a correct NMS keeps {len(want)}" if len(got) != len(want) else \
            "the right number of boxes, but not the right ones"
    kept = call.args[1].numpy()[got.astype(int)]
    return "return the kept indices from the highest score down" if np.any(np.diff(kept) > 0) else None


def _roi_probes(rng):
    calls = []
    for odd, shift in ((True, 0.0), (False, 0.0), (False, -1.0)):
        C, H, W = _i(rng, 1, 4), _i(rng, 5, 16), _i(rng, 5, 16)
        scale = 0.5 if odd else float(rng.choice([1.0, 0.5, 0.25, 0.125]))          # odd corners * 0.5: halves
        size, image = (_i(rng, 1, 5), _i(rng, 1, 5)), np.array([W, H]) / scale
        extent = np.array([[0, 0], [.1, .3], [.4, .9], [0, 0], [.5, 1]])            # fractions of the image
        extent = rng.uniform(extent[:, :1], extent[:, 1:], (5, 2)) * image
        extent[0] = rng.uniform(0, 1 / scale, 2)                                      # less than one cell
        boxes = np.concatenate([corners := rng.uniform(0, 0.8, (5, 2)) * image, corners + extent], 1)
        boxes[3] = [0, 0, *(image - 1)]                                               # the whole image
        calls.append(Call((_t(rng.normal(size=(C, H, W)) + shift), _t(2 * (boxes // 2) + 1 if odd else boxes), size,
                           scale), label=f"features ({C}, {H}, {W}), 5 boxes (tiny to whole image, one past the edge), "
                          f"output_size {size}, spatial_scale {scale}" + ", odd corners (scaled: halves)" * odd
                          + ", mostly negative features" * (shift < 0)))
    return calls


def _any(got, want):
    return None  # the exercise's verify does the whole comparison

# ----------------------------------------------------------------------------- pooling
POOL_REFERENCES = {"max": F.max_pool2d, "avg": F.avg_pool2d, "sum": lambda x, k, s: F.lp_pool2d(x, 1, k, s)}


def _pool_probes(rng):
    calls = []
    for mode in ("max", "avg", "sum"):
        for overlap in (False, True):
            k = _i(rng, 2, 4)
            s = _i(rng, 1, k - 1) if overlap else k
            B, C, H, W = _i(rng, 1, 2), _i(rng, 1, 3), _i(rng, k, 11), _i(rng, k, 11)
            X = _t(rng.normal(size=(B, C, H, W)) - (1.5 if mode == "max" else 0.0))   # max: mostly negative maps
            calls.append(Call((X, k, s, mode), label=f'mode "{mode}", X {(B, C, H, W)}, kernel_size={k}, stride={s}'))
    return calls


def _pool_reference(X, kernel_size, stride, mode):
    return POOL_REFERENCES[mode](X, kernel_size, stride)


def _pool_part(mode):
    def check(call, got, want):
        return compare(got, want, atol=1e-4, rtol=1e-4)
    return Part(f'mode "{mode}"', 1.0, check, cases=(f'mode "{mode}"',))


# ----------------------------------------------------------------------------- squeeze-and-excitation
def _se_calls(rng):
    calls = []
    for channels, reduction in ((4 * _i(rng, 2, 6), 4), (_i(rng, 3, 5) * 3, 3), (16 * _i(rng, 1, 2), 16)):
        B, H, W = _i(rng, 1, 2), _i(rng, 2, 7), _i(rng, 2, 7)
        calls.append(Call((channels, reduction), label=f"SEBlock({channels}, {reduction}) on an input "
                          f"({B}, {channels}, {H}, {W}), random weights",
                          module={"seed": _i(rng, 0, 2**31), "input": _t(rng.normal(size=(B, channels, H, W)))}))
    return calls


def _se_reference(channels, reduction):
    from torchvision.ops import SqueezeExcitation
    return SqueezeExcitation(channels, channels // reduction)


def _squeezed(shape):
    shape = tuple(shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _state_count(value):
    return sum(math.prod(shape) for name, shape in decode(value)["state"] if not name.endswith("tracked"))


def _seeded_weights(state, seed: int) -> dict[str, torch.Tensor]:
    """The tensors of a student's module (names and shapes as it sent them), refilled from the probe's seed as the
    sandbox filled them. Call it only on shapes bounded by a correct module's: an answer's claims are allocated."""
    weights = {n: torch.zeros(s, dtype=torch.long if n.endswith("tracked") else torch.float32) for n, s in state}
    fill_weights(SimpleNamespace(state_dict=lambda: weights, eval=lambda: None), seed)
    return weights


def _se_parameters(call, got, want):
    if kind(got) != "dict":
        return f"expected an nn.Module, received {describe(got)}"
    n, m = _state_count(got), _state_count(want)
    return None if n == m else f"your block holds {n:,} weights, a correct one {m:,} (two fully connected " \
                                "layers with biases, nothing else)"


def _se_output(call, got, want):
    """The student's weights (rebuilt from the seed) put into torchvision's SqueezeExcitation by their squeezed
    shapes (a Linear or a 1x1 conv alike): the same output?"""
    from torchvision.ops import SqueezeExcitation
    if kind(got) != "dict":
        return f"expected an nn.Module, received {describe(got)}"
    value = decode(got)
    channels, reduction = call.args
    reference = SqueezeExcitation(channels, channels // reduction)
    n, m = _state_count(got), sum(t.numel() for t in reference.state_dict().values())
    if n > 4 * m + 1024:   # checked before anything is allocated: the shapes are only the answer's claim
        return f"your block holds {n:,} weights, a correct one {m:,}: the output is compared only near that size"
    weights = _seeded_weights(value["state"], call.module["seed"])
    theirs = {(n.rpartition(".")[2], _squeezed(t.shape)): t for n, t in weights.items()}
    with torch.no_grad():
        for n, tensor in reference.state_dict().items():
            key = (n.rpartition(".")[2], _squeezed(tensor.shape))
            if key not in theirs:
                return f"no {key[0]} of shape {key[1]} in your block (two fully connected layers, with biases)"
            tensor.copy_(theirs[key].reshape(tensor.shape))
        output = reference(call.module["input"])
    got_output = value["output"].float()
    if tuple(got_output.shape) != tuple(output.shape):
        return f"expected an output of the input's shape {tuple(output.shape)}, received {tuple(got_output.shape)}"
    if not torch.allclose(got_output, output, atol=1e-5, rtol=1e-4):
        return f"your output differs from SqueezeExcitation's with the same weights (largest difference " \
               f"{float((got_output - output).abs().max()):.3g})"
    return None


# ----------------------------------------------------------------------------- SSD's anchor matching
def _match_probes(rng):
    calls = []
    for n_anchors, n_truths, threshold in ((_i(rng, 20, 40), _i(rng, 2, 4), 0.5), (_i(rng, 30, 60), _i(rng, 3, 6), 0.4),
                                           (_i(rng, 10, 20), 1, 0.5)):
        while True:   # no ties: distinct best anchors of the true boxes, no IoU at the threshold
            anchors, truths = _t(_boxes(rng, n_anchors)), _t(_boxes(rng, n_truths))
            overlaps = ops.box_iou(truths, anchors)
            best = overlaps.argmax(dim=1)
            if len(set(best.tolist())) == n_truths and (overlaps - threshold).abs().min() > 1e-4:
                break
        calls.append(Call((anchors, truths, threshold), label=f"{n_anchors} anchors, {n_truths} true boxes, "
                          f"threshold {threshold}"))
    far = _t(_boxes(rng, 12) + 200.0)                          # a true box that no anchor reaches
    truths = _t(np.concatenate([_boxes(rng, 2), [[0.0, 0.0, 3.0, 3.0]]]))
    calls.append(Call((far[:8], truths[:2], 0.5), label="8 anchors far from both true boxes: each true box still "
                      "claims its best anchor"))
    return calls


def _match_reference(anchors, truths, threshold):
    from torchvision.models.detection._utils import SSDMatcher
    return SSDMatcher(threshold)(ops.box_iou(truths, anchors))


def _indices_compare(got, want):
    g, w = as_array(got), as_array(want)
    if g is None or g.shape != w.shape:
        return f"expected {w.shape[0]} indices (one per anchor), received {describe(got)}"
    wrong = np.flatnonzero(g != w)
    if len(wrong):
        return f"{len(wrong)} anchors matched wrongly, e.g. anchor {wrong[0]}: {int(g[wrong[0]])} instead of " \
               f"{int(w[wrong[0]])}"
    return None


# ----------------------------------------------------------------------------- average precision
def reference_average_precision(pred_boxes, pred_scores, true_boxes, iou_threshold=0.5):
    """All-point AP (VOC 2010+) of one class over photos, greedy matching by score (IoU >= threshold)."""
    detections = sorted(((float(s), p, j) for p, scores in enumerate(pred_scores) for j, s in enumerate(scores.tolist())),
                        key=lambda d: -d[0])
    num_truths = sum(len(t) for t in true_boxes)
    if num_truths == 0:
        return 0.0
    taken = [np.zeros(len(t), dtype=bool) for t in true_boxes]
    hits = []
    for _, p, j in detections:
        hit = False
        if len(true_boxes[p]):
            overlaps = ops.box_iou(pred_boxes[p][j:j + 1], true_boxes[p])[0]
            best = int(overlaps.argmax())
            hit = bool(overlaps[best] >= iou_threshold) and not taken[p][best]
            taken[p][best] |= hit
        hits.append(hit)
    tp = np.cumsum(hits)
    precision, recall = tp / np.arange(1, len(hits) + 1), tp / num_truths
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))


def _ap_probes(rng):
    """Photos with a few true boxes; detections: near copies (hits), jittered duplicates, boxes off target and
    background, distinct scores; IoUs kept away from the threshold."""
    calls = []
    for n_photos, threshold in ((1, 0.5), (_i(rng, 2, 3), 0.5), (_i(rng, 2, 3), 0.7)):
        while True:
            truths, boxes, scores = [], [], []
            for photo in range(n_photos):
                t = _boxes(rng, _i(rng, 0 if photo else 1, 4), size=100.0) * [1, 1, 1, 1]
                kinds = rng.choice(["hit", "duplicate", "off", "background"], size=_i(rng, 1, 6), p=[.4, .2, .2, .2])
                d = []
                for kind_ in kinds:
                    if len(t) and kind_ in ("hit", "duplicate", "off"):
                        base = t[rng.integers(len(t))]
                        side = base[2:] - base[:2]
                        jitter = {"hit": 0.04, "duplicate": 0.08, "off": 0.45}[kind_]
                        d.append(base + np.tile(side, 2) * rng.uniform(-jitter, jitter, 4))
                    else:
                        d.append(_boxes(rng, 1, offset=150.0)[0])
                truths.append(_t(np.asarray(t).reshape(-1, 4)))
                boxes.append(_t(np.asarray(d).reshape(-1, 4)))
            scores = [_t(np.round(rng.uniform(0.05, 1.0, len(b)), 4)) for b in boxes]
            flat = np.concatenate([s.numpy() for s in scores])
            ious = [ops.box_iou(b, t) for b, t in zip(boxes, truths) if len(t)]
            if (len(np.unique(flat)) == len(flat) and all(((i - threshold).abs() > 1e-3).all() for i in ious)
                    and 0.05 < reference_average_precision(boxes, scores, truths, threshold) < 0.999):
                break   # distinct scores, no IoU at the threshold, neither 0 nor a perfect detector
        total = sum(len(t) for t in truths)
        calls.append(Call((boxes, scores, truths, threshold), label=f"{n_photos} photo(s), {total} true boxes, "
                          f"{len(flat)} detections, IoU threshold {threshold}"))
    return calls



EXERCISES = [
    Exercise("pool2d", 3, "Cut each axis into windows of kernel_size cells every stride cells (windows that do not fit "
             "are dropped), then reduce each window: its largest value, its mean or its sum; batch and channels "
             "unchanged.", _pool_probes, _pool_reference, atol=1e-4, rtol=1e-4, forbidden=POOLING,
             parts=tuple(_pool_part(mode) for mode in ("max", "avg", "sum"))),
    Exercise("Inception", 2, "Four branches concatenated on the channels (1x1, 3x3, 5x5, pool), every conv with a bias "
             "and a ReLU; 1x1 reductions before the 3x3 and 5x5, a stride-1 3x3 max pool before the last 1x1.",
             lambda rng: _module_calls(rng, "Inception", [(_i(rng, 2, 12), *(_i(rng, 1, 8) for _ in range(6)))
                                                          for _ in range(3)]),
             ReferenceInception, compare=_any, verify=_same_module(ReferenceInception), forbidden=TORCHVISION_INCEPTION),
    Exercise("BasicBlock", 2, "Two bias-free 3x3 convs with BatchNorm (stride on the first, ReLU between), plus the "
             "shortcut, then ReLU; a strided 1x1 conv with BatchNorm replaces the identity when the shape changes.",
             lambda rng: _module_calls(rng, "BasicBlock", [(c := _i(rng, 2, 10), c), (c, c + _i(rng, 1, 6)),
                                                           (c, _i(rng, c - 1, c), 2)]),
             lambda i, o, stride=1: reference_basic_block(i, o, stride), compare=_any,
             verify=_same_module(lambda i, o, stride=1: reference_basic_block(i, o, stride)),
             forbidden=("torchvision.models.resnet.BasicBlock.forward",)),
    Exercise("Bottleneck", 2, "1x1 reduce, 3x3 with the stride, 1x1 expand to 4 x mid_channels, each bias-free with "
             "BatchNorm and ReLU but the last; plus the shortcut (as in BasicBlock), then ReLU.",
             lambda rng: _module_calls(rng, "Bottleneck", [(4 * (m := _i(rng, 1, 4)), m), (_i(rng, 3, 4) * m, m, 2),
                                                           (_i(rng, 2, 12), _i(rng, 1, 4), 1)]),
             lambda i, m, stride=1: reference_bottleneck(i, m, stride, True), compare=_any,
             verify=_same_module(*(lambda i, m, stride=1, on=on: reference_bottleneck(i, m, stride, on)
                                   for on in (1, 0))),  # the stride on the 3x3 (torchvision) or the first 1x1 (paper)
             forbidden=("torchvision.models.resnet.Bottleneck.forward",)),
    Exercise("SEBlock", 2, "Squeeze: average each channel over H and W; excite: a fully connected layer to "
             "channels // reduction, ReLU, one back to channels, sigmoid (both with biases); scale: multiply each "
             "channel of the input by its weight.", _se_calls, _se_reference, compare=_any,
             parts=(Part("parameters", 1.0, _se_parameters), Part("output", 1.0, _se_output)),
             forbidden=SQUEEZE_EXCITATION),
    Exercise("iou", 2, "An (N, M) matrix over all pairs: the intersection spans from the larger top-left to the "
             "smaller bottom-right corner, its sides clamped at 0 (apart or touching: 0), divided by the union.",
             _iou_probes, ops.box_iou, atol=1e-5, rtol=1e-4, forbidden=BOX_IOU),
    Exercise("nms", 2, "From the highest score down: keep the best remaining box, drop every remaining box whose IoU "
             "with it is strictly above the threshold (dropped boxes drop nothing); kept indices, best first.",
             _nms_probes, ops.nms, compare=_any, verify=_nms_verify, forbidden=NMS),
    Exercise("roi_pool", 2, "Scale the corners, round halves away from zero; the region includes its last row and "
             "column; bin i spans floor(i * bin) to ceil((i + 1) * bin) from its start, clipped; max per channel, "
             "0 for an empty bin.", _roi_probes,
             lambda features, boxes, size, scale: ops.roi_pool(features[None], [boxes], size, scale), forbidden=ROI_POOL),
    Exercise("match_anchors", 2, "Each anchor takes the true box it overlaps most if that IoU is at least the threshold, "
             "else -1; then each true box claims the anchor it overlaps most, whatever the IoU.", _match_probes,
             _match_reference, compare=_indices_compare, forbidden=SSD_MATCHER),
    Exercise("average_precision", 3, "Sort the detections of all photos by score; a detection is a true positive when "
             "its best true box (same photo) has IoU >= the threshold and is not taken yet; precision and recall "
             "(over all true boxes) after each; AP = sum of recall steps times the best precision at that recall or "
             "later; 0.0 without true boxes.", _ap_probes, reference_average_precision, atol=1e-6, rtol=1e-6,
             split="probes", forbidden=AP_ROUTINES),
]
