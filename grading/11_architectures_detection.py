"""Hidden tests of lab 11 (architectures and detection: Inception, residual blocks, IoU, NMS, RoI pooling).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
Model classes are judged by behaviour, not attribute names: the grader rebuilds the weights the sandbox
drew for the student's model (codec.fill_weights, in the order of its names), loads them layer by layer
into a reference (matched by shape, each matching tried) and compares the outputs.
"""
import itertools
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torchvision.ops as ops

from labkit.grading.codec import decode, fill_weights
from labkit.grading.spec import Call, Exercise
from labkit.grading.verdict import as_array, describe, kind

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
        got, best = decode(response["value"]), np.inf
        got["output"] = got["output"].float()
        weights = {n: torch.zeros(s, dtype=torch.long if n.endswith("tracked") else torch.float32)
                   for n, s in got["state"]}
        fill_weights(SimpleNamespace(state_dict=lambda: weights, eval=lambda: None), call.module["seed"])
        for build in builders:
            ref, slots = build(*call.args).eval(), defaultdict(lambda: ([], []))
            wanted, theirs = _layers((n, t.shape) for n, t in ref.state_dict().items()), _layers(got["state"])
            for side, layers in enumerate((wanted, theirs)):
                for prefix, signature in layers.items():
                    slots[signature][side].append(prefix)
            if any(len(refs) != len(yours) for refs, yours in slots.values()):
                n = [sum(int(np.prod(s)) for layer in x.values() for _, s in layer) for x in (theirs, wanted)]
                return f"your state_dict holds {n[0]:,} weights and statistics, a correct module's {n[1]:,}" \
                    + " (in layers of other shapes)" * (n[0] == n[1])
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


EXERCISES = [
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
]
