"""Self-checks of lab 01 (CNN arithmetic): output size, convolution, max pooling, parameter counts,
LeNet shapes.

No check holds an implementation of its exercise. The convolution is compared with PyTorch's
``F.conv2d`` given the flipped kernel (a cross-correlation of the rotated kernel is a true convolution),
max pooling with ``F.max_pool2d``, the parameter count with ``nn.Conv2d``'s own parameters; the output
size and the LeNet shapes with the answers the solution notebook gave to the same fixed cases
(``expected/01_cnn_arithmetic.json``). Inputs are several cases, random ones from NumPy's seeded
generator, so a hard-coded answer fails.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import (Case, as_int, attempt, close, report, report_not_int, run_cases, skip_during_grading,
                               stored)

__all__ = ["check_conv_output_size", "check_conv2d", "check_max_pool2d", "check_conv_params",
           "check_lenet_shapes"]

LAB = "01_cnn_arithmetic"

# (n, k, p, s) -> where the case comes from; the expected values are the solution's (stored)
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


# ----------------------------------------------------------------------------- exercise 1
def check_conv_output_size(fn: Callable[[int, int, int, int], int]) -> bool:
    """Check ``fn(n, k, p, s)`` == floor((n + 2p - k) / s) + 1 on the slides' cases, against the solution's
    stored answers (lab 01, exercise 1)."""
    name = "conv_output_size"
    if skip_during_grading(name):
        return True
    cases = [Case((n, k, p, s), f"n={n}, k={k}, p={p}, s={s}") for n, k, p, s in _SIZE_CASES]
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if as_int(received) is None:
            return report_not_int(name, received, "an int", case.label,
                                  hint="return an int: // divides and rounds down in one step")
    expected = stored(LAB, name, [as_int(a) for a in answers], cases)
    if expected is None:
        return False
    got = [as_int(a) for a in answers]
    wrong = [(case, g, want) for case, g, want in zip(cases, got, expected) if g != want]
    if not wrong:
        return report(name, True)
    case, g, want = wrong[0]
    return report(name, False, expected=want, received=g,
                  hint=f"{case.label}: {_explained_by(_SIZE_MISTAKES, cases, got, 'o = floor((n + 2p - k) / s) + 1')}")


def _explained_by(mistakes: list[tuple[str, Callable]], cases: list[Case], got: list, otherwise: str) -> str:
    """The hint of the one wrong variant that gives every answer in ``got`` (all cases, not just the first wrong
    one: a single case can fit several mistakes), else ``otherwise``."""
    fits = [hint for hint, variant in mistakes if all(g == variant(*c.args) for c, g in zip(cases, got))]
    return fits[0] if len(fits) == 1 else otherwise


_SIZE_MISTAKES = [  # (hint, a wrong formula computed from the inputs); the cases tell every pair apart
    ("you forgot the + 1 (the first window position also counts)", lambda n, k, p, s: (n + 2 * p - k) // s),
    ("padding p is added on both sides: n + 2p, not n + p", lambda n, k, p, s: (n + p - k) // s + 1),
    ("you left out the padding: the padded input has n + 2p cells", lambda n, k, p, s: (n - k) // s + 1),
    ("round down (floor), not up: a window that does not fit is dropped",
     lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1),
    ("the stride is missing: the window moves s cells per step, so divide the steps by s",
     lambda n, k, p, s: n + 2 * p - k + 1),
]


# ----------------------------------------------------------------------------- exercise 2
def _conv_cases() -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """Random (X, kernel, pad, stride) cases: square and non-square, with padding and stride."""
    rng = np.random.default_rng(2021)
    specs = [((5, 5), (3, 3), 0, 1), ((7, 7), (3, 3), 1, 2), ((6, 8), (2, 3), 0, 1),
             ((9, 9), (5, 5), 2, 3), ((8, 6), (4, 4), 1, 1)]
    return [(rng.standard_normal(xs), rng.standard_normal(ks), p, s) for xs, ks, p, s in specs]


def _torch_conv(X: np.ndarray, kernel: np.ndarray, pad: int, stride: int, flip: bool = True) -> np.ndarray:
    """PyTorch's F.conv2d (a cross-correlation), in float64; with ``flip`` the kernel is rotated by 180
    degrees first, which makes it a true convolution."""
    x = torch.from_numpy(X)[None, None]                                              # (1, 1, H, W)
    k = (kernel[::-1, ::-1] if flip else kernel).copy()                              # copy: positive strides
    return F.conv2d(x, torch.from_numpy(k)[None, None], padding=pad, stride=stride)[0, 0].numpy()  # (oH, oW)


def _answers(name: str, fn: Callable, cases: list[tuple]) -> list | None:
    """``fn`` on a copy of every case (array inputs copied); None (the reason printed) when a call raised."""
    answers = []
    for args in cases:
        ok, received = attempt(name, fn, *(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        if not ok:
            return None
        answers.append(received)
    return answers


def _fits_all(answers: list, variants: list[np.ndarray]) -> bool:
    """True when every answer equals its case's wrong variant (shape and values)."""
    return all(close(a, v, atol=1e-8) for a, v in zip(answers, variants))


def _array_verdict(name: str, answers: list, expected: list[np.ndarray], labels: list[str],
                   shape_mistakes: list[tuple[str, list]], value_mistakes: list[tuple[str, list]],
                   shape_hint: str, value_hint: str, what: str) -> bool:
    """Compare every answer with its expected array; name a mistake only when its wrong variant gives every
    answer (all cases: one case alone can fit several mistakes)."""
    shapes = [_shape_of(a) for a in answers]
    if any(shape is None for shape in shapes):
        bad = next(a for a, shape in zip(answers, shapes) if shape is None)
        return report(name, False, expected="a 2-D NumPy array", received=type(bad).__name__,
                      hint=f"return the {what} array (e.g. np.zeros((opt_x, opt_y)) filled in)")
    for i, (shape, want) in enumerate(zip(shapes, expected)):
        if shape != want.shape:
            fits = [hint for hint, variants in shape_mistakes
                    if all(s == v.shape for s, v in zip(shapes, variants))]
            hint = fits[0] if len(fits) == 1 else shape_hint
            return report(name, False, expected=want.shape, received=shape,
                          hint=f"output shape for {labels[i]}: {hint}")
    for i, (received, want) in enumerate(zip(answers, expected)):
        if not close(received, want, atol=1e-8):
            fits = [hint for hint, variants in value_mistakes if _fits_all(answers, variants)]
            hint = fits[0] if len(fits) == 1 else f"differs from {value_hint.format(case=labels[i])}"
            return report(name, False, expected=want, received=np.asarray(received, dtype=float), hint=hint)
    return report(name, True)


def check_conv2d(fn: Callable[[np.ndarray, np.ndarray, int, int], Any]) -> bool:
    """Check ``fn(X, kernel, pad, stride)`` computes the true 2-D convolution (lab 01, exercise 2),
    compared with ``F.conv2d`` given the flipped kernel."""
    name = "conv2d"
    if skip_during_grading(name):
        return True
    cases = _conv_cases()
    answers = _answers(name, fn, cases)
    if answers is None:
        return False
    labels = [f"X {X.shape}, kernel {kernel.shape}, pad={pad}, stride={stride}" for X, kernel, pad, stride in cases]
    expected = [_torch_conv(*case) for case in cases]
    no_padding = [_torch_conv(X, kernel, 0, stride) for X, kernel, pad, stride in cases]
    no_stride = [_torch_conv(X, kernel, pad, 1) for X, kernel, pad, stride in cases]
    unflipped = [_torch_conv(*case, flip=False) for case in cases]
    return _array_verdict(
        name, answers, expected, labels,
        shape_mistakes=[("you did not pad: pad X first (np.pad), then slide over the padded array", no_padding),
                        ("the stride is missing: window (i, j) starts at (i * stride, j * stride)", no_stride)],
        value_mistakes=[("rotate the kernel by 180 degrees (kernel[::-1, ::-1]) before sliding: without it you "
                         "computed a cross-correlation, like F.conv2d", unflipped)],
        shape_hint="pad first, then opt = (padded size - kernel size) // stride + 1 per axis",
        value_hint="F.conv2d with the flipped kernel for {case}; window (i, j) starts at (i * stride, j * stride) "
                   "of the padded X", what="output")


# ----------------------------------------------------------------------------- exercise 3
def _pool_cases() -> list[tuple[np.ndarray, int, int]]:
    """(X, pool_size, stride) cases: the seed's 6x6 example, then random ones incl. overlap and floor."""
    rng = np.random.default_rng(7)
    return [(SEED_POOL_X.astype(float), 2, 2), (rng.standard_normal((8, 8)), 2, 2),
            (rng.standard_normal((7, 9)), 3, 2), (rng.standard_normal((5, 6)), 2, 1),
            (rng.standard_normal((9, 7)), 3, 3)]


def _torch_pool(X: np.ndarray, pool_size: int, stride: int, average: bool = False) -> np.ndarray:
    """PyTorch's F.max_pool2d (or, for a wrong variant, F.avg_pool2d) of a 2-D array, in float64."""
    x = torch.from_numpy(X)[None, None]                                          # (1, 1, H, W)
    return (F.avg_pool2d if average else F.max_pool2d)(x, pool_size, stride)[0, 0].numpy()   # (oH, oW)


def check_max_pool2d(fn: Callable[[np.ndarray, int, int], Any]) -> bool:
    """Check ``fn(X, pool_size, stride)`` against PyTorch's F.max_pool2d (lab 01, exercise 3)."""
    name = "max_pool2d"
    if skip_during_grading(name):
        return True
    cases = _pool_cases()
    answers = _answers(name, fn, cases)
    if answers is None:
        return False
    labels = [f"X {X.shape}, pool_size={size}, stride={stride}" for X, size, stride in cases]
    return _array_verdict(
        name, answers, [_torch_pool(*case) for case in cases], labels,
        shape_mistakes=[("the windows move by pool_size, not by stride: (size - pool_size) // stride + 1 windows",
                         [_torch_pool(X, size, size) for X, size, _ in cases]),
                        ("the stride is missing: window (i, j) starts at (i * stride, j * stride)",
                         [_torch_pool(X, size, 1) for X, size, _ in cases])],
        value_mistakes=[("that is average pooling; take the largest value (np.max) of each window",
                         [_torch_pool(*case, average=True) for case in cases]),
                        ("that is the smallest value of each window; take the largest (np.max)",
                         [-_torch_pool(-X, size, stride) for X, size, stride in cases])],
        shape_hint="opt = (size - pool_size) // stride + 1 per axis",
        value_hint="F.max_pool2d for {case}; window (i, j) starts at row i * stride and column j * stride of X, "
                   "and is pool_size rows high and pool_size columns wide", what="pooled")


# ----------------------------------------------------------------------------- exercise 4
# (in_channels, out_channels, kernel_size, bias)
_PARAM_CASES = [(1, 32, 3, True), (32, 64, 3, True), (1, 20, 5, True), (20, 50, 5, True),
                (3, 6, 5, True), (3, 64, 7, True), (256, 256, 3, False), (256, 64, 1, False),
                (64, 64, 3, False)]


def check_conv_params(fn: Callable[..., int]) -> bool:
    """Check ``fn(in_channels, out_channels, kernel_size, bias=True)`` equals the number of parameters of
    nn.Conv2d itself (lab 01, exercise 4)."""
    name = "conv_params"
    if skip_during_grading(name):
        return True
    got, layers = [], []
    for c_in, c_out, k, bias in _PARAM_CASES:
        with torch.random.fork_rng(devices=[]):         # building the layer must not shift the notebook's seed
            layers.append(nn.Conv2d(c_in, c_out, k, bias=bias))
        ok, received = attempt(name, fn, c_in, c_out, k, bias=bias)
        if not ok:
            return False
        if as_int(received) is None:
            return report_not_int(name, received, sum(p.numel() for p in layers[-1].parameters()),
                                  f"nn.Conv2d({c_in}, {c_out}, {k}, bias={bias})",
                                  hint="return an int (products and sums of ints stay ints)")
        got.append(as_int(received))
    # wrong variants, from the layer's own tensors: weights and biases counted wrongly
    counts = [(layer.weight.numel(), layer.bias.numel() if bias else 0, c_in, c_out, k, bias)
              for layer, (c_in, c_out, k, bias) in zip(layers, _PARAM_CASES)]
    mistakes = [("add the biases: one per filter (out_channels of them)", [w for w, *_ in counts]),
                ("with bias=False there are only the weights", [w + c_out for w, _, _, c_out, _, _ in counts]),
                ("that is one filter; there are out_channels filters", [(w + b) // c_out for w, b, _, c_out, _, _
                                                                         in counts]),
                ("each filter spans all in_channels: k * k * in_channels weights",
                 [w // c_in + b for w, b, c_in, *_ in counts]),
                ("a k x k kernel has k * k weights per channel, not k", [(w // k) + b for w, b, _, _, k, _ in counts])]
    for (c_in, c_out, k, bias), layer, g in zip(_PARAM_CASES, layers, got):
        want = sum(p.numel() for p in layer.parameters())
        if g != want:
            fits = [hint for hint, variant in mistakes if variant == got]
            hint = fits[0] if len(fits) == 1 else ("weights: out_channels filters of k x k x in_channels; plus one "
                                                   "bias per filter when bias=True")
            return report(name, False, expected=want, received=g,
                          hint=f"nn.Conv2d({c_in}, {c_out}, {k}, bias={bias}): {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
LENET_LAYERS = ["input", "conv1 (5x5, 20 filters)", "max_pool2d 2x2", "conv2 (5x5, 50 filters)",
                "max_pool2d 2x2", "flatten"]
LENET_SIZES = (28, 32, 29)  # 29: the pooling has to round down


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
    """Check the LeNet feature-map shapes (C, H, W) from the input to the flatten (lab 01, exercise 5),
    against the solution's stored answers.

    ``answer`` is a function ``fn(n)`` giving the shapes for an n x n input (checked for n = 28, 32
    and 29) or a plain list for n = 28.
    """
    name = "lenet_shapes"
    if skip_during_grading(name):
        return True
    cases = [Case((n,), f"a {n}x{n} input") for n in LENET_SIZES]
    if callable(answer):
        answers = run_cases(name, answer, cases)
        if answers is None:
            return False
    else:
        answers = [answer]                                    # a plain list: the shapes of a 28x28 input
    shapes = [_normalise_shapes(a) for a in answers]
    for received, normalised in zip(answers, shapes):
        if normalised is None:
            return report(name, False, expected=f"a list of {len(LENET_LAYERS)} shapes like [(1, 28, 28), "
                                                "(20, 24, 24), ...]", received=repr(received)[:200],
                          hint="one tuple of ints per layer: (channels, height, width), (features,) last")
    expected = stored(LAB, name, shapes + [None] * (len(cases) - len(shapes)), cases)
    if expected is None:
        return False
    for case, got_shapes, want_shapes in zip(cases, shapes, expected):
        want_shapes = [tuple(s) for s in want_shapes]
        if len(got_shapes) != len(want_shapes):
            return report(name, False, expected=f"{len(want_shapes)} shapes ({', '.join(LENET_LAYERS)})",
                          received=f"{len(got_shapes)} shapes", hint="list input, conv1, pool, conv2, pool, flatten")
        for layer, want, got in zip(LENET_LAYERS, want_shapes, got_shapes):
            if want != got:
                return report(name, False, expected=want, received=got,
                              hint=f"{layer} of {case.label}; conv: o = n - k + 1 (no padding, stride 1), "
                                   "channels = filters; pool 2x2: o = n // 2; flatten: C * H * W")
    return report(name, True)
