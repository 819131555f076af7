"""Shortcut answers for lab 11: each computes a graded answer through the torchvision routine or block the
exercise asks students to write (torchvision's Inception, BasicBlock and Bottleneck, ops.box_iou, ops.nms,
ops.roi_pool, their C operators, or adaptive max pooling, which has RoI pooling's bins), reached through
getattr with a built string, importlib, sys.modules, functools.partial or map. Every one must score 0 on its
exercise (tests/labkit/grading/test_shortcuts.py)."""
import functools
import importlib
import sys

import torch
import torch.nn as nn

LAB = "11_architectures_detection"


def _module(name):
    return sys.modules.get(name) or importlib.import_module(name)


def _ops():
    return _module("torchvision.ops")


class _ConvReLU(nn.Sequential):
    """torchvision's conv_block slot filled with the paper's conv (with a bias) + ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size=1, padding=0, **_):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding), nn.ReLU())


def inception_via_torchvision(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    """torchvision's module with the paper's convs, its 3x3 "5x5" branch fixed: its own forward concatenates."""
    cls = getattr(_module("torchvision.models.googlenet"), "Incep" + "tion")
    module = cls(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, conv_block=_ConvReLU)
    module.branch3[1] = _ConvReLU(ch5x5red, ch5x5, kernel_size=5, padding=2)
    return module


def _shortcut(in_channels, out_channels, stride):
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


def basic_block_via_torchvision(in_channels, out_channels, stride=1):
    cls = getattr(_module("torchvision.models.resnet"), "Basic" + "Block")
    return cls(in_channels, out_channels, stride, _shortcut(in_channels, out_channels, stride))


def bottleneck_via_torchvision(in_channels, mid_channels, stride=1):
    cls = getattr(_module("torchvision.models.resnet"), "Bottle" + "neck")
    return cls(in_channels, mid_channels, stride, _shortcut(in_channels, 4 * mid_channels, stride))


def iou_via_box_iou(boxes1, boxes2):
    return getattr(_ops(), "box_" + "iou")(boxes1, boxes2)


def iou_via_inter_union(boxes1, boxes2):
    inter, union = getattr(_module("torchvision.ops.boxes"), "_box_inter_" + "union")(boxes1, boxes2)
    return inter / union


def nms_via_partial(boxes, scores, iou_threshold):
    return functools.partial(getattr(_ops(), "n" + "ms"), iou_threshold=iou_threshold)(boxes, scores)


def nms_via_batched_nms(boxes, scores, iou_threshold):
    return getattr(_ops(), "batched_" + "nms")(boxes, scores, torch.zeros(len(boxes), dtype=torch.long), iou_threshold)


def nms_via_the_c_operator(boxes, scores, iou_threshold):
    return next(map(getattr(torch.ops.torchvision, "n" + "ms"), [boxes], [scores], [iou_threshold]))


def nms_via_the_operator_overload(boxes, scores, iou_threshold):
    return getattr(torch.ops.torchvision, "n" + "ms").default(boxes, scores, iou_threshold)


def roi_pool_via_ops(features, boxes, output_size, spatial_scale):
    return getattr(_ops(), "roi_" + "pool")(features[None], [boxes], output_size, spatial_scale)


def roi_pool_via_module(features, boxes, output_size, spatial_scale):
    return getattr(_ops(), "RoI" + "Pool")(output_size, spatial_scale)(features[None], [boxes])


def roi_pool_via_the_c_operator(features, boxes, output_size, spatial_scale):
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)                  # (K, 5): batch index, corners
    output, _ = getattr(torch.ops.torchvision, "roi_" + "pool")(features[None], rois, spatial_scale, *output_size)
    return output


def roi_pool_via_adaptive_max_pool(features, boxes, output_size, spatial_scale):
    """Adaptive max pooling has RoI pooling's bins: pad the window to the whole region with -inf, pool it."""
    C, H, W = features.shape
    pool = getattr(_module("torch.nn.functional"), "adaptive_max_" + "pool2d")
    out = []
    for box in boxes.tolist():
        x1, y1, x2, y2 = (int((v * spatial_scale + 0.5) // 1) for v in box)     # rounded half up
        height, width = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        region = torch.full((C, height, width), float("-inf"))
        r0, r1, c0, c1 = max(y1, 0), min(y1 + height, H), max(x1, 0), min(x1 + width, W)
        if r1 > r0 and c1 > c0:
            region[:, r0 - y1:r1 - y1, c0 - x1:c1 - x1] = features[:, r0:r1, c0:c1]
        pooled = pool(region[None], output_size)[0]
        out.append(torch.where(torch.isinf(pooled), torch.zeros(()), pooled))        # empty bins: 0
    return torch.stack(out)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "Inception": [("torchvision's Inception with the paper's convs via getattr", inception_via_torchvision)],
    "BasicBlock": [("torchvision's BasicBlock via getattr", basic_block_via_torchvision)],
    "Bottleneck": [("torchvision's Bottleneck via getattr", bottleneck_via_torchvision)],
    "iou": [("ops.box_iou via getattr", iou_via_box_iou),
            ("torchvision's _box_inter_union via importlib", iou_via_inter_union)],
    "nms": [("ops.nms via functools.partial", nms_via_partial), ("ops.batched_nms with one class", nms_via_batched_nms),
            ("torch.ops.torchvision.nms via map", nms_via_the_c_operator),
            ("torch.ops.torchvision.nms.default", nms_via_the_operator_overload)],
    "roi_pool": [("ops.roi_pool via getattr", roi_pool_via_ops), ("ops.RoIPool module", roi_pool_via_module),
                 ("torch.ops.torchvision.roi_pool", roi_pool_via_the_c_operator),
                 ("F.adaptive_max_pool2d on the -inf padded region", roi_pool_via_adaptive_max_pool)],
}
