"""Self-checks for lab 11 (architectures and detection): the Inception module, ResNet's basic and
bottleneck blocks, intersection over union, non-maximum suppression and RoI pooling.

The modules are checked by behaviour, not by attribute names: the student's convolution weights are
copied (matched by their shapes, which are all different in the configurations used) into a
reference built here or taken from torchvision, and both must give the same output. The box
functions are compared with ``torchvision.ops`` on random boxes from a private generator.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops as ops

from labhelpers.checks import attempt, report

__all__ = ["check_inception", "check_residual_blocks", "check_iou", "check_nms", "check_roi_pool"]

INCEPTION_3A = (192, 64, 96, 128, 16, 32, 32)  # GoogLeNet's inception (3a): in, #1x1, #3x3 reduce, #3x3, ...


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


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _copy_by_shape(student: nn.Module, reference: nn.Module) -> str | None:
    """Copy the student's conv weights (and biases) into the reference's conv of the same weight shape.

    Convolutions of equal shape are paired in the order the modules were created.

    Returns None on success, else a sentence saying which convolution is missing or doubled.
    """
    theirs, ours = _convs(student), _convs(reference)
    for conv in ours:
        shape = tuple(conv.weight.shape)
        same = [c for c in theirs if tuple(c.weight.shape) == shape]
        wanted = [c for c in ours if tuple(c.weight.shape) == shape]
        if len(same) != len(wanted):
            return (f"{len(same)} convolution(s) with weight shape {shape} (out, in, kH, kW); "
                    f"expected {len(wanted)}")
        match = same[wanted.index(conv)]  # equal shapes (a block's two 3x3 convs) pair up in order
        if (match.bias is None) != (conv.bias is None):
            return f"the convolution with weight shape {shape} should {'not ' if conv.bias is None else ''}have a bias"
        with torch.no_grad():
            conv.weight.copy_(match.weight)
            if conv.bias is not None:
                conv.bias.copy_(match.bias)
    return None


def _build(name: str, cls, *args):
    ok, module = attempt(name, cls, *args)
    if ok and not isinstance(module, nn.Module):
        report(name, False, expected="an nn.Module", received=type(module).__name__)
        return False, None
    return ok, module


def check_inception(cls: Callable[..., nn.Module]) -> bool:
    """Check ``cls(in, 1x1, 3x3red, 3x3, 5x5red, 5x5, pool_proj)``: inception (3a) and another (lab 11, ex. 1).

    Parameters (weights and biases), output shape and, with the student's weights, the output itself.
    """
    name = "Inception"
    generator = torch.Generator().manual_seed(1101)
    for config, size in ((INCEPTION_3A, 28), ((12, 4, 6, 8, 2, 3, 5), 9)):
        reference = ReferenceInception(*config).eval()
        ok, module = _build(name, cls, *config)
        if not ok:
            return False
        module.eval()
        n_ref, n_got = sum(p.numel() for p in reference.parameters()), sum(p.numel() for p in module.parameters())
        if n_got != n_ref:
            return report(name, False, expected=f"{n_ref:,} parameters for config {config}",
                          received=f"{n_got:,}",
                          hint="four branches: 1x1; 1x1 reduce -> 3x3 (padding 1); 1x1 reduce -> 5x5 (padding 2); "
                               "3x3 max pool (stride 1, padding 1) -> 1x1; every conv with a bias")
        problem = _copy_by_shape(module, reference)
        if problem:
            return report(name, False, expected="the paper's six convolutions", received=problem)
        X = torch.randn(2, config[0], size, size, generator=generator)
        with torch.no_grad():
            expected = reference(X)
            ok, received = attempt(name, module, X)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"output shape {tuple(expected.shape)}",
                          received=f"shape {tuple(getattr(received, 'shape', ()))}",
                          hint="keep the 28 x 28 size in every branch (padding) and concatenate on dim=1")
        if not torch.allclose(received, expected, atol=1e-4):
            return report(name, False, expected="the same output as the reference with your weights",
                          received=f"largest difference {float((received - expected).abs().max()):.3g}",
                          hint="ReLU after every conv; concatenate in the order 1x1, 3x3, 5x5, pool branch")
    return report(name, True)


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The shortcut's 1x1 conv + BatchNorm when the shape changes, else None (identity shortcut)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


def reference_basic_block(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """torchvision's ResNet BasicBlock with the shortcut the slides draw (lab 11, hidden tests)."""
    from torchvision.models.resnet import BasicBlock
    return BasicBlock(in_channels, out_channels, stride, _downsample(in_channels, out_channels, stride))


def reference_bottleneck(in_channels: int, mid_channels: int, stride: int, stride_on_3x3: bool) -> nn.Module:
    """torchvision's ResNet Bottleneck (1x1, 3x3, 1x1 to 4 x mid_channels) (lab 11, hidden tests)."""
    from torchvision.models.resnet import Bottleneck
    block = Bottleneck(in_channels, mid_channels, stride, _downsample(in_channels, 4 * mid_channels, stride))
    if not stride_on_3x3:  # the paper's ResNet (v1): stride on the first 1x1, torchvision's (v1.5) on the 3x3
        block.conv1.stride, block.conv2.stride = (stride, stride), (1, 1)
    return block


def _randomise_batchnorm(module: nn.Module) -> None:
    """Give every BatchNorm random statistics and affine parameters, the same for the same channel count."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            g = torch.Generator().manual_seed(m.num_features)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _check_block(name: str, cls, args: tuple, references: list[nn.Module], size: int,
                 generator: torch.Generator) -> bool | None:
    """None when the block matches one of the references, else the printed verdict (False)."""
    ok, module = _build(name, cls, *args)
    if not ok:
        return False
    module.eval()
    n_ref, n_got = sum(p.numel() for p in references[0].parameters()), sum(p.numel() for p in module.parameters())
    if n_got != n_ref:
        return report(name, False, expected=f"{n_ref:,} parameters for {name}{args}", received=f"{n_got:,}",
                      hint="convs without bias (BatchNorm follows each), a BatchNorm after every conv, and a "
                           "1x1 conv + BatchNorm shortcut only when the stride or the channel count changes")
    X = torch.randn(2, args[0], size, size, generator=generator)
    _randomise_batchnorm(module)
    with torch.no_grad():
        ok, received = attempt(name, module, X)
    if not ok:
        return False
    best = None
    for reference in references:
        problem = _copy_by_shape(module, reference)
        if problem:
            return report(name, False, expected=f"{name}{args} convolutions", received=problem)
        _randomise_batchnorm(reference)
        with torch.no_grad():
            expected = reference.eval()(X)
        if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"output shape {tuple(expected.shape)} for {name}{args}",
                          received=f"shape {tuple(getattr(received, 'shape', ()))}",
                          hint="padding 1 on the 3x3 convs; the stride on one conv of the branch and on the shortcut")
        error = float((received - expected).abs().max())
        best = error if best is None else min(best, error)
        if error < 1e-4:
            return None
    return report(name, False, expected=f"the same output as the reference {name}{args} with your weights",
                  received=f"largest difference {best:.3g}",
                  hint="conv-BN-ReLU, ..., the last conv-BN without ReLU, add the shortcut, then ReLU")


def check_residual_blocks(basic_cls: Callable[..., nn.Module], bottleneck_cls: Callable[..., nn.Module]) -> bool:
    """Check ``BasicBlock(in, out, stride)`` and ``Bottleneck(in, mid, stride)`` (out = 4 mid) (lab 11, ex. 2).

    Outputs are compared with torchvision's blocks given the student's weights; a bottleneck may put
    its stride on the first 1x1 conv (the paper) or on the 3x3 conv (torchvision).
    """
    generator = torch.Generator().manual_seed(1102)
    for args, size in (((16, 16, 1), 8), ((16, 32, 2), 8)):
        verdict = _check_block("BasicBlock", basic_cls, args, [reference_basic_block(*args)], size, generator)
        if verdict is not None:
            return verdict
    for args, size in (((64, 16, 1), 8), ((32, 16, 1), 7), ((64, 32, 2), 8)):
        references = [reference_bottleneck(*args, stride_on_3x3=True), reference_bottleneck(*args, stride_on_3x3=False)]
        verdict = _check_block("Bottleneck", bottleneck_cls, args, references, size, generator)
        if verdict is not None:
            return verdict
    return report("residual blocks", True)


def _random_boxes(generator: torch.Generator, n: int, size: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator) * size              # (n, 2) top-left corners
    wh = torch.rand(n, 2, generator=generator) * size / 2 + 1.0    # (n, 2) widths and heights
    return torch.cat([xy, xy + wh], dim=1)                         # (n, 4) x1, y1, x2, y2


def check_iou(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(boxes1 (N, 4), boxes2 (M, 4))`` -> IoU matrix (N, M) against torchvision (lab 11, ex. 3)."""
    name = "iou"
    generator = torch.Generator().manual_seed(1103)
    fixed = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0], [10.0, 0.0, 20.0, 10.0],
                          [20.0, 20.0, 30.0, 40.0], [2.0, 2.0, 4.0, 4.0]])
    cases = [(fixed, fixed), (fixed[:2], fixed[2:]), (_random_boxes(generator, 7), _random_boxes(generator, 5))]
    for boxes1, boxes2 in cases:
        expected = ops.box_iou(boxes1, boxes2)
        ok, received = attempt(name, fn, boxes1.clone(), boxes2.clone())
        if not ok:
            return False
        if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"a tensor of shape {tuple(expected.shape)} (one row per box of boxes1)",
                          received=f"{type(received).__name__} {tuple(getattr(received, 'shape', ()))}",
                          hint="broadcast: boxes1[:, None, :2] against boxes2[None, :, :2] gives (N, M, 2)")
        if not torch.allclose(received.double(), expected.double(), atol=1e-5):
            hint = ("boxes that do not overlap must give 0: clamp the intersection's width and height at 0"
                    if float(received.min()) < 0 else
                    "IoU = intersection / (area1 + area2 - intersection); the intersection is "
                    "[max(x1), max(y1), min(x2), min(y2)]")
            return report(name, False, expected=expected.numpy().round(3), received=received.detach().numpy().round(3),
                          hint=hint)
    return report(name, True)


def check_nms(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``fn(boxes, scores, iou_threshold)`` keeps what ``torchvision.ops.nms`` keeps, in order (lab 11, ex. 4)."""
    name = "nms"
    generator = torch.Generator().manual_seed(1104)
    base = torch.tensor([[10.0, 10.0, 50.0, 50.0], [12.0, 12.0, 52.0, 52.0], [60.0, 60.0, 90.0, 90.0],
                         [11.0, 9.0, 49.0, 51.0], [62.0, 61.0, 91.0, 88.0], [100.0, 0.0, 120.0, 20.0]])
    chain = torch.tensor([[0.0, 0.0, 10.0, 10.0], [4.0, 0.0, 14.0, 10.0], [8.0, 0.0, 18.0, 10.0]])  # A~B, B~C
    cases = [(base, torch.tensor([0.9, 0.8, 0.7, 0.95, 0.6, 0.3]), 0.5),
             (base, torch.tensor([0.9, 0.8, 0.7, 0.95, 0.6, 0.3]), 0.95),
             (chain, torch.tensor([0.9, 0.8, 0.7]), 0.3)]  # B is suppressed by A, so C survives
    for n, threshold in ((30, 0.3), (40, 0.6)):
        cases.append((_random_boxes(generator, n, 60.0), torch.rand(n, generator=generator), threshold))
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
    """Check ``fn(features (C, H, W), boxes (K, 4), output_size, spatial_scale)`` vs torchvision (lab 11, ex. 5)."""
    name = "roi_pool"
    generator = torch.Generator().manual_seed(1105)
    features = torch.randn(3, 12, 16, generator=generator)                       # (C, H, W)
    boxes = torch.tensor([[0.0, 0.0, 63.0, 47.0], [13.0, 9.0, 41.0, 30.0], [40.0, 20.0, 44.0, 23.0]])
    cases = [(boxes, (2, 2), 0.25), (boxes, (3, 4), 0.25),
             (_random_boxes(generator, 6, 40.0), (2, 3), 0.25), (_random_boxes(generator, 4, 14.0), (4, 4), 1.0)]
    for rois, output_size, scale in cases:
        expected = ops.roi_pool(features[None], [rois], output_size, scale)       # (K, C, h, w)
        ok, received = attempt(name, fn, features.clone(), rois.clone(), output_size, scale)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor) or tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"shape {tuple(expected.shape)} (boxes, channels, *output_size)",
                          received=f"{type(received).__name__} {tuple(getattr(received, 'shape', ()))}")
        if not torch.allclose(received.float(), expected, atol=1e-5):
            wrong = int((received.float() - expected).abs().gt(1e-5).flatten(1).any(1).nonzero()[0])
            return report(name, False, expected=expected[wrong, 0].numpy().round(3),
                          received=received[wrong, 0].detach().numpy().round(3),
                          hint=f"box {rois[wrong].tolist()}, output {output_size}, scale {scale}: round the scaled "
                               "corners (half away from zero), width = x2 - x1 + 1, bin i covers "
                               "[floor(i * bin), ceil((i + 1) * bin)) and takes the max")
    return report(name, True)
