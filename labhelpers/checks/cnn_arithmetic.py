"""Self-checks for lab 01 (CNN arithmetic): output size, convolution, max pooling, parameter counts,
LeNet shapes.

Every check compares the student's answer with two independent references: the NumPy versions in
``labhelpers.numpy_ref`` and PyTorch itself (``torch.nn.functional`` or an ``nn.Conv2d``). Inputs
are several cases, random ones from a private generator, so a hard-coded answer fails.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import as_int, attempt, close, report, report_not_int
from labhelpers.numpy_ref import conv2d_numpy, conv_output_size, correlate2d_numpy, max_pool2d_numpy

__all__ = ["check_conv_output_size", "check_conv2d", "check_max_pool2d", "check_conv_params",
           "check_lenet_shapes", "lenet_reference_shapes"]

# (n, k, p, s) -> where the case comes from; the expected value is computed, not typed in
_SIZE_CASES = [
    (28, 5, 0, 1),    # seed "Size of Feature Map": 28 -> 24
    (8, 4, 0, 2),     # seed 1-D worked example: 8 inputs, 4-tap filter, stride 2 -> 3
    (5, 3, 1, 2),     # seed 7x7x3 example: 5x5 input, pad 1, stride 2 -> 3
    (28, 5, 2, 1),    # 'same' padding keeps 28
    (28, 5, 4, 1),    # 'full' padding grows to 32
    (7, 3, 0, 3),     # floor: (7 - 3) / 3 = 1.33 -> 1, plus 1
    (6, 2, 0, 2),     # 2x2 max pooling of the seed's 6x6 examples
    (224, 7, 3, 2),   # ResNet's first layer: 224 -> 112
    (227, 11, 0, 4),  # AlexNet's first layer: 227 -> 55
    (13, 2, 0, 2),    # pooling an odd size drops the last row: 6
]

# Seed "Max Pooling" (Yan-Fu Kuo): 6x6 -> 2x2 pool, stride 2
SEED_POOL_X = np.array([[146, 155, 144, 130, 145, 151],
                        [142, 153, 150, 128, 131, 151],
                        [131, 141, 142, 130, 128, 148],
                        [122, 123, 125, 127, 130, 135],
                        [130, 123, 107, 118, 150, 154],
                        [127, 120, 125, 143, 153, 161]])


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """Shape of an array-like answer, or None when it is not one (None, a scalar, text...)."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape) if value.ndim else None
    try:
        shape = np.asarray(value, dtype=float).shape
    except (TypeError, ValueError):
        return None
    return shape if value is not None and shape else None


def check_conv_output_size(fn: Callable[[int, int, int, int], int]) -> bool:
    """Check ``fn(n, k, p, s)`` == floor((n + 2p - k) / s) + 1 on the slides' cases (lab 01, ex. 1)."""
    name = "conv_output_size"
    for n, k, p, s in _SIZE_CASES:
        expected = conv_output_size(n, k, p, s)
        ok, received = attempt(name, fn, n, k, p, s)
        if not ok:
            return False
        got = as_int(received)
        case = f"n={n}, k={k}, p={p}, s={s}"
        if got is None:
            return report_not_int(name, received, expected, case,
                                  hint="return an int: // divides and rounds down in one step")
        if got != expected:
            hint = "o = floor((n + 2p - k) / s) + 1"
            if got == (n + 2 * p - k) // s:
                hint = "you forgot the + 1 (the first window position also counts)"
            elif got == (n + p - k) // s + 1:
                hint = "padding p is added on both sides: n + 2p"
            elif got == -(-(n + 2 * p - k) // s) + 1:
                hint = "round down (floor), not up: a window that does not fit is dropped"
            return report(name, False, expected=expected, received=got, hint=f"{case}: {hint}")
    return report(name, True)


def _conv_cases() -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """Random (X, kernel, pad, stride) cases: square and non-square, with padding and stride."""
    rng = np.random.default_rng(2021)
    specs = [((5, 5), (3, 3), 0, 1), ((7, 7), (3, 3), 1, 2), ((6, 8), (2, 3), 0, 1),
             ((9, 9), (5, 5), 2, 3), ((8, 6), (4, 4), 1, 1)]
    return [(rng.standard_normal(xs), rng.standard_normal(ks), p, s) for xs, ks, p, s in specs]


def _torch_conv(X: np.ndarray, kernel: np.ndarray, pad: int, stride: int) -> np.ndarray:
    """True convolution computed by PyTorch: F.conv2d (a cross-correlation) with the kernel flipped."""
    x = torch.from_numpy(X)[None, None]                                     # (1, 1, H, W)
    w = torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1]))[None, None]  # (1, 1, kH, kW)
    return F.conv2d(x, w, padding=pad, stride=stride)[0, 0].numpy()        # (oH, oW)


def check_conv2d(fn: Callable[[np.ndarray, np.ndarray, int, int], Any]) -> bool:
    """Check ``fn(X, kernel, pad, stride)`` computes the true 2-D convolution (lab 01, exercise 2).

    Compared with ``labhelpers.numpy_ref.conv2d_numpy`` and with ``F.conv2d`` on the flipped kernel.
    """
    name = "conv2d"
    for X, kernel, pad, stride in _conv_cases():
        expected = conv2d_numpy(X, kernel, pad=pad, stride=stride)
        by_torch = _torch_conv(X, kernel, pad, stride)
        ok, received = attempt(name, fn, X.copy(), kernel.copy(), pad, stride)
        if not ok:
            return False
        case = f"X {X.shape}, kernel {kernel.shape}, pad={pad}, stride={stride}"
        shape = _shape_of(received)
        if shape is None:
            return report(name, False, expected="a 2-D NumPy array", received=type(received).__name__,
                          hint="return the output array (e.g. np.zeros((opt_x, opt_y)) filled in)")
        if shape != expected.shape:
            return report(name, False, expected=expected.shape, received=shape,
                          hint=f"output shape for {case}: pad first, then "
                               "opt = (padded size - kernel size) // stride + 1 per axis")
        if close(received, correlate2d_numpy(X, kernel, pad=pad, stride=stride)) and not close(received, expected):
            return report(name, False, expected=expected, received=np.asarray(received, dtype=float),
                          hint="rotate the kernel by 180 degrees (kernel[::-1, ::-1]) before sliding: "
                               "without it you computed a cross-correlation, like F.conv2d")
        for reference, what in [(expected, "conv2d_numpy"), (by_torch, "F.conv2d with the flipped kernel")]:
            if not close(received, reference, atol=1e-8):
                return report(name, False, expected=reference, received=np.asarray(received, dtype=float),
                              hint=f"differs from {what} for {case}; window (i, j) starts at "
                                   "(i * stride, j * stride) of the padded X")
    return report(name, True)


def _pool_cases() -> list[tuple[np.ndarray, int, int]]:
    """(X, pool_size, stride) cases: the seed's 6x6 example, then random ones incl. overlap and floor."""
    rng = np.random.default_rng(7)
    return [(SEED_POOL_X.astype(float), 2, 2), (rng.standard_normal((8, 8)), 2, 2),
            (rng.standard_normal((7, 9)), 3, 2), (rng.standard_normal((5, 6)), 2, 1),
            (rng.standard_normal((9, 7)), 3, 3)]


def check_max_pool2d(fn: Callable[[np.ndarray, int, int], Any]) -> bool:
    """Check ``fn(X, pool_size, stride)`` against max_pool2d_numpy and F.max_pool2d (lab 01, ex. 3)."""
    name = "max_pool2d"
    for X, pool_size, stride in _pool_cases():
        expected = max_pool2d_numpy(X, pool_size, stride)
        by_torch = F.max_pool2d(torch.from_numpy(X)[None, None], pool_size, stride)[0, 0].numpy()
        ok, received = attempt(name, fn, X.copy(), pool_size, stride)
        if not ok:
            return False
        case = f"X {X.shape}, pool_size={pool_size}, stride={stride}"
        shape = _shape_of(received)
        if shape is None:
            return report(name, False, expected="a 2-D NumPy array", received=type(received).__name__,
                          hint="return the pooled array (e.g. np.zeros((opt_x, opt_y)) filled in)")
        if shape != expected.shape:
            return report(name, False, expected=expected.shape, received=shape,
                          hint=f"output shape for {case}: opt = (size - pool_size) // stride + 1 per axis")
        for reference, what in [(expected, "max_pool2d_numpy"), (by_torch, "F.max_pool2d")]:
            if not close(received, reference, atol=1e-8):
                mean = F.avg_pool2d(torch.from_numpy(X)[None, None], pool_size, stride)[0, 0].numpy()
                hint = ("that is average pooling; take the largest value (np.max) of each window"
                        if close(received, mean, atol=1e-8) else
                        f"differs from {what} for {case}; window (i, j) is "
                        "X[i*stride : i*stride+pool_size, j*stride : j*stride+pool_size]")
                return report(name, False, expected=reference, received=np.asarray(received, dtype=float),
                              hint=hint)
    return report(name, True)


# (in_channels, out_channels, kernel_size, bias)
_PARAM_CASES = [(1, 32, 3, True), (32, 64, 3, True), (1, 20, 5, True), (20, 50, 5, True),
                (3, 6, 5, True), (3, 64, 7, True), (256, 256, 3, False), (256, 64, 1, False),
                (64, 64, 3, False)]


def check_conv_params(fn: Callable[..., int]) -> bool:
    """Check ``fn(in_channels, out_channels, kernel_size, bias=True)`` equals nn.Conv2d's count (lab 01, ex. 4)."""
    name = "conv_params"
    for c_in, c_out, k, bias in _PARAM_CASES:
        layer = nn.Conv2d(c_in, c_out, k, bias=bias)
        expected = sum(p.numel() for p in layer.parameters())
        ok, received = attempt(name, fn, c_in, c_out, k, bias=bias)
        if not ok:
            return False
        got = as_int(received)
        case = f"nn.Conv2d({c_in}, {c_out}, {k}, bias={bias})"
        if got is None:
            return report_not_int(name, received, expected, case,
                                  hint="return an int (products and sums of ints stay ints)")
        if got != expected:
            weights = k * k * c_in * c_out
            if bias and got == weights:
                hint = "add the biases: one per filter (out_channels of them)"
            elif not bias and got == weights + c_out:
                hint = "with bias=False there are only the weights"
            elif got == k * k * c_in + int(bias):
                hint = "that is one filter; there are out_channels filters"
            elif got == k * k * c_out + int(bias) * c_out:
                hint = "each filter spans all in_channels: k * k * in_channels weights"
            else:
                hint = "(k * k * in_channels + 1) * out_channels with a bias, k * k * in * out without"
            return report(name, False, expected=expected, received=got, hint=f"{case}: {hint}")
    return report(name, True)


LENET_LAYERS = ["input", "conv1 (5x5, 20 filters)", "max_pool2d 2x2", "conv2 (5x5, 50 filters)",
                "max_pool2d 2x2", "flatten"]


def lenet_reference_shapes(n: int = 28) -> list[tuple[int, ...]]:
    """Shapes (no batch) of one n x n image through labhelpers.LeNet's conv part: input .. flatten."""
    from labhelpers.models import LeNet  # local: the model is only needed by this check

    model = LeNet()
    x = torch.zeros(1, 1, n, n)                                # (1, 1, n, n)
    shapes = [tuple(x.shape[1:])]
    with torch.no_grad():
        for step in (model.conv1, lambda t: F.max_pool2d(t, 2), model.conv2,
                     lambda t: F.max_pool2d(t, 2), lambda t: t.flatten(1)):
            x = step(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def _normalise_shapes(value: Any) -> list[tuple[int, ...]] | None:
    """A list of shapes (tuples, lists, torch.Size; a bare int for the flatten) as tuples, else None."""
    if not isinstance(value, (list, tuple)):
        return None
    shapes = []
    for item in value:
        single = as_int(item)
        if single is not None:
            shapes.append((single,))
            continue
        if not isinstance(item, (list, tuple, torch.Size)):
            return None
        dims = [as_int(d) for d in item]
        if any(d is None for d in dims):
            return None
        shapes.append(tuple(dims))
    return shapes


def check_lenet_shapes(answer: Callable[[int], list] | list) -> bool:
    """Check the LeNet feature-map shapes (C, H, W) from the input to the flatten (lab 01, ex. 5).

    ``answer`` is a function ``fn(n)`` giving the shapes for an n x n input (checked for n = 28, 32
    and 29) or a plain list for n = 28. Expected shapes come from running labhelpers.LeNet.
    """
    name = "lenet_shapes"
    sizes = [28, 32, 29] if callable(answer) else [28]
    for n in sizes:
        expected = lenet_reference_shapes(n)
        if callable(answer):
            ok, received = attempt(name, answer, n)
            if not ok:
                return False
        else:
            received = answer
        shapes = _normalise_shapes(received)
        if shapes is None:
            return report(name, False, expected=f"a list of {len(expected)} shapes like {expected[:2]} ...",
                          received=repr(received),
                          hint="one tuple of ints per layer: (channels, height, width), (features,) last")
        if len(shapes) != len(expected):
            return report(name, False, expected=f"{len(expected)} shapes ({', '.join(LENET_LAYERS)})",
                          received=f"{len(shapes)} shapes", hint="list input, conv1, pool, conv2, pool, flatten")
        for layer, want, got in zip(LENET_LAYERS, expected, shapes):
            if want != got:
                return report(name, False, expected=want, received=got,
                              hint=f"{layer} of a {n}x{n} input; conv: o = n - k + 1 (no padding, "
                                   "stride 1), channels = filters; pool 2x2: o = n // 2; flatten: C * H * W")
    return report(name, True)
