"""Tests for labhelpers.checks.architectures_detection: each check passes a correct answer and fails wrong ones.

The module checks compare with the solution's stored answers (labhelpers/checks/expected/
11_architectures_detection.json), so these tests also prove that the stored file is current and right; the box
checks compare with torchvision.ops. (Missing, raising and None answers, and skipping while graded, are covered
for every check by test_contract.py.)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops as ops

import numpy as np
import pytest
import torchvision

from labhelpers.checks.architectures_detection import (check_average_precision, check_inception, check_iou,
                                                      check_match_anchors, check_nms, check_pool2d,
                                                      check_residual_blocks, check_roi_pool, check_se_block)


# ---- correct answers (what the solution notebook does) ------------------------------------

class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, k5=5):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3red, 1), nn.ReLU(),
                                     nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5red, 1), nn.ReLU(),
                                     nn.Conv2d(ch5x5red, ch5x5, k5, padding=k5 // 2), nn.ReLU())
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1),
                                     nn.ReLU())

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    def __init__(self, in_channels, mid_channels, stride=1, stride_on_3x3=True):
        super().__init__()
        out_channels = 4 * mid_channels
        s1, s3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def iou(boxes1, boxes2):
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])      # (N, M, 2)
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    return inter / (area1[:, None] + area2[None, :] - inter)


def nms(boxes, scores, iou_threshold):
    order = scores.argsort(descending=True)
    keep = []
    while len(order):
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[iou(boxes[best][None], boxes[rest])[0] <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long)


def roi_pool(features, boxes, output_size, spatial_scale):
    C, H, W = features.shape
    out_h, out_w = output_size
    out = torch.zeros(len(boxes), C, out_h, out_w)
    for k, box in enumerate(boxes.tolist()):
        x1, y1, x2, y2 = (math.floor(v * spatial_scale + 0.5) for v in box)
        bin_h, bin_w = max(y2 - y1 + 1, 1) / out_h, max(x2 - x1 + 1, 1) / out_w
        for i in range(out_h):
            h0 = min(max(math.floor(i * bin_h) + y1, 0), H)
            h1 = min(max(math.ceil((i + 1) * bin_h) + y1, 0), H)
            for j in range(out_w):
                w0 = min(max(math.floor(j * bin_w) + x1, 0), W)
                w1 = min(max(math.ceil((j + 1) * bin_w) + x1, 0), W)
                if h1 > h0 and w1 > w0:
                    out[k, :, i, j] = features[:, h0:h1, w0:w1].amax(dim=(1, 2))
    return out


# ---- check_inception ------------------------------------------------------------------------

def test_inception_accepts_a_correct_answer(capsys):
    assert check_inception(Inception) is True
    assert "[OK] Inception" in capsys.readouterr().out


def test_inception_accepts_other_names_nesting_and_order():
    class Flat(nn.Module):
        """No Sequential, other names, the branches created in another order."""

        def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
            super().__init__()
            self.proj = nn.Conv2d(in_channels, pool_proj, 1)
            self.c5 = nn.Conv2d(ch5x5red, ch5x5, 5, padding=2)
            self.r5 = nn.Conv2d(in_channels, ch5x5red, 1)
            self.c3 = nn.Conv2d(ch3x3red, ch3x3, 3, padding=1)
            self.r3 = nn.Conv2d(in_channels, ch3x3red, 1)
            self.one = nn.Conv2d(in_channels, ch1x1, 1)

        def forward(self, x):
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
            return torch.cat([F.relu(self.one(x)), F.relu(self.c3(F.relu(self.r3(x)))),
                              F.relu(self.c5(F.relu(self.r5(x)))), F.relu(self.proj(pooled))], dim=1)
    assert check_inception(Flat) is True


def test_inception_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_inception(Inception)
    assert torch.equal(torch.get_rng_state(), state)


def test_inception_rejects_3x3_instead_of_5x5(capsys):
    assert check_inception(lambda *config: Inception(*config, k5=3)) is False
    assert "parameters" in capsys.readouterr().out


def test_inception_rejects_wrong_concatenation_order():
    class Swapped(Inception):
        def forward(self, x):
            return torch.cat([self.branch2(x), self.branch1(x), self.branch3(x), self.branch4(x)], dim=1)
    assert check_inception(Swapped) is False


def test_inception_rejects_missing_relu_after_reduce():
    class NoReduceReLU(Inception):
        def __init__(self, *config):
            super().__init__(*config)
            self.branch2[1] = nn.Identity()
    assert check_inception(NoReduceReLU) is False


def test_inception_rejects_average_pool_branch():
    class AvgPool(Inception):
        def __init__(self, *config):
            super().__init__(*config)
            self.branch4[0] = nn.AvgPool2d(3, stride=1, padding=1)
    assert check_inception(AvgPool) is False


def test_inception_rejects_torchvision_module():
    from torchvision.models.googlenet import Inception as TorchvisionInception  # BatchNorm, 3x3 "5x5" branch
    assert check_inception(TorchvisionInception) is False



# ---- check_residual_blocks ------------------------------------------------------------------

def test_residual_blocks_accept_correct_answers(capsys):
    assert check_residual_blocks(BasicBlock, Bottleneck) is True
    assert "[OK] residual blocks" in capsys.readouterr().out


def test_residual_blocks_accept_stride_on_first_1x1():
    assert check_residual_blocks(BasicBlock, lambda i, m, s=1: Bottleneck(i, m, s, stride_on_3x3=False)) is True


def test_residual_blocks_accept_other_names_and_nesting():
    class Nested(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                                      nn.BatchNorm2d(out_channels), nn.ReLU(),
                                      nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(out_channels))
            self.skip = None
            if stride != 1 or in_channels != out_channels:
                self.skip = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

        def forward(self, x):
            return F.relu(self.body(x) + (x if self.skip is None else self.skip(x)))
    assert check_residual_blocks(Nested, Bottleneck) is True


def test_residual_blocks_reject_missing_shortcut():
    class Plain(BasicBlock):
        def forward(self, x):
            return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
    assert check_residual_blocks(Plain, Bottleneck) is False


def test_residual_blocks_reject_relu_before_addition():
    class EarlyReLU(Bottleneck):
        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(out)))
            return F.relu(self.bn3(self.conv3(out))) + self.shortcut(x)
    assert check_residual_blocks(BasicBlock, EarlyReLU) is False


def test_residual_blocks_reject_bias_before_batchnorm(capsys):
    class Biased(BasicBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
    assert check_residual_blocks(Biased, Bottleneck) is False
    assert "without bias" in capsys.readouterr().out


def test_residual_blocks_reject_always_projecting():
    class AlwaysProject(BasicBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
    assert check_residual_blocks(AlwaysProject, Bottleneck) is False


def test_residual_blocks_reject_bottleneck_without_expansion():
    assert check_residual_blocks(BasicBlock, lambda i, m, s=1: BasicBlock(i, m, s)) is False


def test_residual_blocks_reject_training_mode_batchnorm(capsys):
    class BatchStatistics(BasicBlock):
        def forward(self, x):
            self.train()
            return super().forward(x)
    assert check_residual_blocks(BatchStatistics, Bottleneck) is False
    assert "[FAIL] BasicBlock" in capsys.readouterr().out


def test_residual_blocks_reject_an_instance_instead_of_the_class(capsys):
    assert check_residual_blocks(lambda *args: BasicBlock, Bottleneck) is False
    assert "to build an nn.Module" in capsys.readouterr().out



# ---- check_iou ------------------------------------------------------------------------------

def test_iou_accepts_a_correct_answer(capsys):
    assert check_iou(iou) is True
    assert "[OK] iou" in capsys.readouterr().out


def test_iou_accepts_torchvision():
    assert check_iou(ops.box_iou) is True


def test_iou_rejects_unclamped_intersection(capsys):
    def unclamped(boxes1, boxes2):
        wh = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:]) - torch.maximum(boxes1[:, None, :2],
                                                                                      boxes2[None, :, :2])
        inter = wh[..., 0] * wh[..., 1]
        area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
        area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
        return inter / (area1[:, None] + area2[None, :] - inter)
    assert check_iou(unclamped) is False


def test_iou_rejects_intersection_over_sum():
    def over_sum(boxes1, boxes2):
        value = iou(boxes1, boxes2)
        return value / (1 + value)  # = inter / (area1 + area2)
    assert check_iou(over_sum) is False


def test_iou_rejects_diagonal_only():
    assert check_iou(lambda b1, b2: iou(b1, b2).diagonal()) is False



# ---- check_nms ------------------------------------------------------------------------------

def test_nms_accepts_a_correct_answer(capsys):
    assert check_nms(nms) is True
    assert "[OK] nms" in capsys.readouterr().out


def test_nms_accepts_torchvision():
    assert check_nms(ops.nms) is True


def test_nms_rejects_unsorted_output(capsys):
    assert check_nms(lambda b, s, t: nms(b, s, t).sort().values) is False
    assert "highest score" in capsys.readouterr().out


def test_nms_rejects_keeping_everything():
    assert check_nms(lambda b, s, t: s.argsort(descending=True)) is False


def test_nms_rejects_suppressing_against_every_box():
    def greedy_wrong(boxes, scores, iou_threshold):
        order = scores.argsort(descending=True)
        overlaps = iou(boxes, boxes)
        return torch.tensor([int(i) for i in order
                             if not any(overlaps[i, j] > iou_threshold for j in order if j != i and scores[j] > scores[i])])
    assert check_nms(greedy_wrong) is False



# ---- check_roi_pool -------------------------------------------------------------------------

def test_roi_pool_accepts_a_correct_answer(capsys):
    assert check_roi_pool(roi_pool) is True
    assert "[OK] roi_pool" in capsys.readouterr().out


def test_roi_pool_accepts_torchvision():
    assert check_roi_pool(lambda f, b, size, scale: ops.roi_pool(f[None], [b], size, scale)) is True


def test_roi_pool_rejects_average_pooling():
    def average(features, boxes, output_size, spatial_scale):
        crops = []
        for box in boxes.tolist():
            x1, y1, x2, y2 = (math.floor(v * spatial_scale + 0.5) for v in box)
            crops.append(F.adaptive_avg_pool2d(features[:, y1:y2 + 1, x1:x2 + 1], output_size))
        return torch.stack(crops)
    assert check_roi_pool(average) is False


def test_roi_pool_rejects_unscaled_boxes(capsys):
    assert check_roi_pool(lambda f, b, size, scale: roi_pool(f, b, size, 1.0)) is False
    assert "scale" in capsys.readouterr().out


def test_roi_pool_rejects_exclusive_end():
    def exclusive(features, boxes, output_size, spatial_scale):
        shrunk = boxes.clone()
        shrunk[:, 2:] -= 1.0 / spatial_scale  # width x2 - x1 instead of x2 - x1 + 1
        return roi_pool(features, shrunk, output_size, spatial_scale)
    assert check_roi_pool(exclusive) is False



# ---- check_pool2d -------------------------------------------------------------------------

def pool2d(X, kernel_size, stride, mode, reduce=None):
    windows = X.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
    op = reduce or {"max": lambda w: w.amax(dim=(-2, -1)), "avg": lambda w: w.mean(dim=(-2, -1)),
                    "sum": lambda w: w.sum(dim=(-2, -1))}[mode]
    return op(windows)


def pool2d_loops(X, kernel_size, stride, mode):
    B, C, H, W = X.shape
    out = torch.zeros(B, C, (H - kernel_size) // stride + 1, (W - kernel_size) // stride + 1)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = X[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
            out[:, :, i, j] = {"max": window.amax(dim=(2, 3)), "avg": window.mean(dim=(2, 3)),
                               "sum": window.sum(dim=(2, 3))}[mode]
    return out


def test_pool2d_accepts_correct_answers(capsys):
    assert check_pool2d(pool2d) is True
    assert check_pool2d(pool2d_loops) is True
    assert "[OK] pool2d" in capsys.readouterr().out


def test_pool2d_names_a_mean_for_a_sum(capsys):
    assert check_pool2d(lambda X, k, s, mode: pool2d(X, k, s, "avg" if mode == "sum" else mode)) is False
    assert "that is the average" in capsys.readouterr().out


def test_pool2d_names_a_sum_for_a_mean(capsys):
    assert check_pool2d(lambda X, k, s, mode: pool2d(X, k, s, "sum" if mode == "avg" else mode)) is False
    assert "that is the sum" in capsys.readouterr().out


def test_pool2d_names_no_mistake_for_a_wrong_maximum(capsys):
    assert check_pool2d(lambda X, k, s, mode: pool2d(X, k, s, mode, reduce=lambda w: w.clamp(min=0).amax(dim=(-2, -1)))
                        if mode == "max" else pool2d(X, k, s, mode)) is False       # max of ReLU: wrong on negatives
    out = capsys.readouterr().out
    assert 'mode "max"' in out and "that is the" not in out


def test_pool2d_rejects_ignoring_the_stride(capsys):
    assert check_pool2d(lambda X, k, s, mode: pool2d(X, k, k, mode)) is False
    assert "one output per window that fits" in capsys.readouterr().out


# ---- check_se_block -------------------------------------------------------------------------

class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16, conv=False, gate=torch.sigmoid):
        super().__init__()
        make = (lambda a, b: nn.Conv2d(a, b, 1)) if conv else nn.Linear
        self.down, self.up, self.conv, self.gate = make(channels, channels // reduction), \
            make(channels // reduction, channels), conv, gate

    def forward(self, x):
        z = x.mean(dim=(2, 3), keepdim=self.conv)
        s = self.gate(self.up(F.relu(self.down(z))))
        return x * (s if self.conv else s[:, :, None, None])


def test_se_block_accepts_linear_and_conv_layers(capsys):
    assert check_se_block(SEBlock) is True
    assert check_se_block(lambda c, r: SEBlock(c, r, conv=True)) is True
    assert check_se_block(lambda c, r: torchvision.ops.SqueezeExcitation(c, c // r)) is True
    assert "[OK] SEBlock" in capsys.readouterr().out


def test_se_block_rejects_missing_biases(capsys):
    class NoBias(SEBlock):
        def __init__(self, channels, reduction=16):
            super().__init__(channels, reduction)
            self.down, self.up = nn.Linear(channels, channels // reduction, bias=False), \
                nn.Linear(channels // reduction, channels, bias=False)
    assert check_se_block(NoBias) is False
    assert "two fully connected layers with biases" in capsys.readouterr().out


def test_se_block_rejects_a_missing_sigmoid(capsys):
    assert check_se_block(lambda c, r: SEBlock(c, r, gate=lambda t: t)) is False
    assert "largest difference" in capsys.readouterr().out


def test_se_block_rejects_returning_the_weights_only(capsys):
    class WeightsOnly(SEBlock):
        def forward(self, x):
            return torch.sigmoid(self.up(F.relu(self.down(x.mean(dim=(2, 3))))))
    assert check_se_block(WeightsOnly) is False
    assert "the input's shape" in capsys.readouterr().out


def test_se_block_rejects_max_instead_of_average(capsys):
    class MaxSqueeze(SEBlock):
        def forward(self, x):
            s = torch.sigmoid(self.up(F.relu(self.down(x.amax(dim=(2, 3))))))
            return x * s[:, :, None, None]
    assert check_se_block(MaxSqueeze) is False
    assert "average over H and W" in capsys.readouterr().out


# ---- check_match_anchors --------------------------------------------------------------------

def match_anchors(anchors, truths, threshold=0.5, claim=True, strict=False):
    overlaps = ops.box_iou(truths, anchors)
    best_iou, best_truth = overlaps.max(dim=0)
    keep = best_iou > threshold if strict else best_iou >= threshold
    matches = torch.where(keep, best_truth, torch.full_like(best_truth, -1))
    if claim:
        matches[overlaps.argmax(dim=1)] = torch.arange(len(truths))
    return matches


def test_match_anchors_accepts_a_correct_answer(capsys):
    assert check_match_anchors(match_anchors) is True
    assert "[OK] match_anchors" in capsys.readouterr().out


def test_match_anchors_names_the_missing_claims(capsys):
    assert check_match_anchors(lambda a, t, thr: match_anchors(a, t, thr, claim=False)) is False
    assert "also claims the anchor it overlaps most" in capsys.readouterr().out


def test_match_anchors_rejects_one_entry_per_true_box(capsys):
    assert check_match_anchors(lambda a, t, thr: ops.box_iou(t, a).argmax(dim=1)) is False
    assert "one entry per anchor" in capsys.readouterr().out


def test_match_anchors_rejects_ignoring_the_threshold(capsys):
    assert check_match_anchors(lambda a, t, thr: match_anchors(a, t, 0.5)) is False   # the 0.3 case differs
    out = capsys.readouterr().out
    assert "threshold 0.3" in out and "also claims" not in out


# ---- check_average_precision ----------------------------------------------------------------

def average_precision(pred_boxes, pred_scores, true_boxes, iou_threshold=0.5, envelope=True, mark=True,
                      recall_over="truths"):
    detections = sorted(((float(s), p, j) for p, sc in enumerate(pred_scores) for j, s in enumerate(sc.tolist())),
                        key=lambda d: -d[0])
    num_truths = sum(len(t) for t in true_boxes)
    if num_truths == 0:
        return 0.0
    taken = [set() for _ in true_boxes]
    hits = []
    for _, p, j in detections:
        hit = False
        if len(true_boxes[p]):
            overlaps = ops.box_iou(pred_boxes[p][j:j + 1], true_boxes[p])[0]
            best = int(overlaps.argmax())
            hit = bool(overlaps[best] >= iou_threshold) and best not in taken[p]
            if hit and mark:
                taken[p].add(best)
        hits.append(hit)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / (num_truths if recall_over == "truths" else max(tp[-1], 1))
    if envelope:
        precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


def test_average_precision_accepts_a_correct_answer(capsys):
    assert check_average_precision(average_precision) is True
    assert "[OK] average_precision" in capsys.readouterr().out


@pytest.mark.parametrize("variant, case", [
    ({"envelope": False}, "precision rises"),
    ({"mark": False}, "a duplicate of an object found before it"),
    ({"recall_over": "found"}, "one object never found"),
])
def test_average_precision_rejects_a_wrong_rule_on_its_own_case(variant, case, capsys):
    assert check_average_precision(lambda *args: average_precision(*args, **variant)) is False
    assert case in capsys.readouterr().out


def test_average_precision_rejects_a_fixed_threshold(capsys):
    assert check_average_precision(lambda b, s, t, thr: average_precision(b, s, t, 0.5)) is False
    assert "not at 0.7" in capsys.readouterr().out


def test_average_precision_rejects_a_tensor_of_several_numbers(capsys):
    assert check_average_precision(lambda *args: torch.tensor([0.5, 0.5])) is False
    assert "a number" in capsys.readouterr().out
