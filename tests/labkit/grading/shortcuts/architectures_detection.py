"""Shortcut answers for lab 11: each computes a graded answer through the torchvision routine or block the
exercise asks students to write (PyTorch's pooling functions or a convolution with a kernel of ones,
torchvision's Inception, BasicBlock, Bottleneck and SqueezeExcitation, ops.box_iou, ops.nms, ops.roi_pool,
their C operators, adaptive max pooling, which has RoI pooling's bins, torchvision's SSDMatcher and Matcher,
scikit-learn's precision-recall curve), reached through getattr with a built string, importlib, sys.modules,
functools.partial or map. Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py).

average_precision has no library that computes VOC's AP here (torchmetrics and pycocotools are not
installed; pycocotools interpolates at 101 recalls): its shortcut takes the precision-recall curve from
scikit-learn and does the rest by hand."""
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


def _functional():
    return _module("torch.nn.functional")


def pool2d_via_functional(X, kernel_size, stride, mode):
    names = {"max": "max_" + "pool2d", "avg": "avg_" + "pool2d"}
    if mode == "sum":
        return getattr(_functional(), "lp_" + "pool2d")(X, 1, kernel_size, stride)
    return getattr(_functional(), names[mode])(X, kernel_size, stride)


def pool2d_via_modules(X, kernel_size, stride, mode):
    nn_ = _module("torch.nn")
    layer = {"max": getattr(nn_, "MaxPool" + "2d"), "avg": getattr(nn_, "AvgPool" + "2d")}.get(mode)
    if layer is None:
        return getattr(nn_, "LPPool" + "2d")(1, kernel_size, stride)(X)
    return layer(kernel_size, stride)(X)


def pool2d_via_convolution(X, kernel_size, stride, mode):
    """Sum and average by a convolution with a kernel of ones (channels kept apart with groups); max by unfold."""
    if mode == "max":
        return X.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
    C = X.shape[1]
    ones = torch.ones(C, 1, kernel_size, kernel_size) / (kernel_size ** 2 if mode == "avg" else 1)
    return getattr(_functional(), "con" + "v2d")(X, ones, stride=stride, groups=C)


def se_block_via_torchvision(channels, reduction=16):
    cls = getattr(_module("torchvision.ops.misc"), "Squeeze" + "Excitation")
    return cls(channels, channels // reduction)


def match_anchors_via_ssd_matcher(anchors, truths, threshold=0.5):
    matcher = getattr(_module("torchvision.models.detection._utils"), "SSD" + "Matcher")(threshold)
    return matcher(getattr(_ops(), "box_iou")(truths, anchors))


def match_anchors_via_matcher(anchors, truths, threshold=0.5):
    """The threshold step by torchvision's Matcher, the claims of the true boxes by hand."""
    quality = _ops().box_iou(truths, anchors)
    matches = getattr(_module("torchvision.models.detection._utils"), "Mat" + "cher")(threshold, threshold)(quality)
    matches[quality.argmax(dim=1)] = torch.arange(len(truths))
    return matches


def average_precision_via_sklearn_curve(pred_boxes, pred_scores, true_boxes, iou_threshold=0.5):
    """TP flags by hand; precision and recall from sklearn's curve (recall rescaled to all true boxes)."""
    import numpy as np
    order = sorted(((float(s), p, j) for p, sc in enumerate(pred_scores) for j, s in enumerate(sc.tolist())),
                   key=lambda d: -d[0])
    total = sum(len(t) for t in true_boxes)
    taken, flags = [set() for _ in true_boxes], []
    for _, p, j in order:
        hit = False
        if len(true_boxes[p]):
            ious = _ops().box_iou(pred_boxes[p][j:j + 1], true_boxes[p])[0]
            best = int(ious.argmax())
            hit = bool(ious[best] >= iou_threshold) and best not in taken[p]
            if hit:
                taken[p].add(best)
        flags.append(hit)
    if not any(flags):
        return 0.0
    curve = getattr(_module("sklearn.metrics"), "precision_recall_" + "curve")
    precision, recall, _ = curve(np.array(flags, dtype=int), np.array([s for s, _, _ in order]))
    precision, recall = precision[::-1][1:], recall[::-1][1:] * sum(flags) / total   # by decreasing threshold
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))


SHORTCUTS = {  # exercise -> [(how, answer)]
    "pool2d": [("F.max_pool2d / F.avg_pool2d / F.lp_pool2d via getattr", pool2d_via_functional),
               ("nn.MaxPool2d / nn.AvgPool2d / nn.LPPool2d", pool2d_via_modules),
               ("F.conv2d with a kernel of ones (sum, avg)", pool2d_via_convolution)],
    "SEBlock": [("torchvision.ops.misc.SqueezeExcitation via getattr", se_block_via_torchvision)],
    "match_anchors": [("torchvision's SSDMatcher via importlib", match_anchors_via_ssd_matcher),
                      ("torchvision's Matcher for the threshold step", match_anchors_via_matcher)],
    "average_precision": [("sklearn's precision_recall_curve via getattr", average_precision_via_sklearn_curve)],
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
