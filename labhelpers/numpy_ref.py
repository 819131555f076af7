"""Convolution and max pooling written from scratch in NumPy, as the slides teach (lab 01_cnn_arithmetic).

Conventions follow the seed slides: ``conv1d_numpy`` and ``conv2d_numpy`` are *true* convolutions
(the filter is rotated before the sliding dot product), while ``correlate2d_numpy`` does not rotate
it, which is what ``torch.nn.functional.conv2d`` (and every CNN layer) computes. Padding is zeros.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["conv_output_size", "padding_for", "conv1d_numpy", "conv2d_numpy",
           "correlate2d_numpy", "max_pool2d_numpy"]


def _check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int, or raise when it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _as_array(x: Any, name: str) -> np.ndarray:
    """Turn a list, NumPy array or torch tensor into a float64 NumPy array."""
    if hasattr(x, "detach"):  # torch tensor: leave the autograd graph, move to the CPU
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array.astype(np.float64)


def conv_output_size(n: int, k: int, p: int = 0, s: int = 1) -> int:
    """Output length o = floor((n + 2p - k) / s) + 1 of a convolution or pooling (lab 01).

    n: input size, k: kernel (filter) size, p: zero padding on each side, s: stride.
    """
    n, k = _check_int("n (input size)", n, 1), _check_int("k (kernel size)", k, 1)
    p, s = _check_int("p (padding)", p, 0), _check_int("s (stride)", s, 1)
    if k > n + 2 * p:
        raise ValueError(f"kernel size k={k} is larger than the padded input n + 2p = {n + 2 * p}; "
                         "use a smaller kernel or more padding")
    return (n + 2 * p - k) // s + 1


def padding_for(mode: str, k: int) -> int:
    """Zero padding p that gives the 'valid', 'same' (odd k, stride 1) or 'full' convolution (lab 01)."""
    k = _check_int("k (kernel size)", k, 1)
    if mode == "valid":
        return 0
    if mode == "full":
        return k - 1
    if mode == "same":
        if k % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel size (got k={k}): symmetric "
                             "padding cannot keep the size with an even kernel")
        return (k - 1) // 2
    raise ValueError(f"mode must be 'valid', 'same' or 'full', got {mode!r}")


def conv1d_numpy(x: Any, w: Any, p: int = 0, s: int = 1) -> np.ndarray:
    """1-D convolution y = x * w with zero padding p and stride s, rotating the filter (lab 01)."""
    x, w = _as_array(x, "x"), _as_array(w, "w")
    if x.ndim != 1 or w.ndim != 1:
        raise ValueError(f"x and w must be 1-D vectors, got shapes {x.shape} and {w.shape}")
    o = conv_output_size(len(x), len(w), p, s)
    x_pad = np.pad(x, (p, p), mode="constant", constant_values=0)  # (n + 2p,)
    w_rot = w[::-1]  # Step 1: rotate the filter
    m = len(w)
    y = np.zeros(o)
    for i in range(o):  # Step 2: dot product with the window, moving s cells each time
        y[i] = np.dot(x_pad[i * s:i * s + m], w_rot)
    return y


def _bias_vector(bias: Any, num_filters: int) -> np.ndarray:
    """Bias as a (num_filters,) vector; accepts None, a scalar or one value per filter."""
    if bias is None:
        return np.zeros(num_filters)
    b = _as_array(bias, "bias").reshape(-1)  # (F,)
    if b.size == 1:
        return np.full(num_filters, b[0])
    if b.size != num_filters:
        raise ValueError(f"bias must be a scalar or hold one value per filter ({num_filters}), "
                         f"got {b.size} values")
    return b


def correlate2d_numpy(X: Any, W: Any, pad: int = 0, stride: int = 1, bias: Any = None) -> np.ndarray:
    """2-D cross-correlation (no filter rotation), what PyTorch's F.conv2d computes (lab 01).

    Shapes: X (H, W) with W (kH, kW) -> (oH, oW); X (C, H, W) with W (C, kH, kW) -> (oH, oW),
    summed over channels; X (C, H, W) with W (F, C, kH, kW) -> (F, oH, oW), one map per filter.
    ``bias`` is a scalar or one value per filter, added after the sum.
    """
    X, W = _as_array(X, "X"), _as_array(W, "W")
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be (H, W) or (C, H, W), got shape {X.shape}")
    if W.ndim not in (2, 3, 4):
        raise ValueError(f"W must be (kH, kW), (C, kH, kW) or (F, C, kH, kW), got shape {W.shape}")
    if (X.ndim == 2) != (W.ndim == 2):
        raise ValueError(f"a 2-D X (H, W) needs a 2-D kernel and a (C, H, W) X a 3-D or 4-D one; "
                         f"got X {X.shape} and W {W.shape}")
    single = W.ndim < 4  # one filter: return (oH, oW) instead of (1, oH, oW)
    X3 = X[None] if X.ndim == 2 else X  # (C, H, W)
    W4 = W.reshape((1, 1) + W.shape) if W.ndim == 2 else (W[None] if W.ndim == 3 else W)
    num_filters, C, kH, kW = W4.shape  # (F, C, kH, kW)
    if C != X3.shape[0]:
        raise ValueError(f"X has {X3.shape[0]} channels but the kernel has {C}; they must match")
    oH = conv_output_size(X3.shape[1], kH, pad, stride)
    oW = conv_output_size(X3.shape[2], kW, pad, stride)
    b = _bias_vector(bias, num_filters)  # (F,)
    X_pad = np.pad(X3, ((0, 0), (pad, pad), (pad, pad)), mode="constant")  # (C, H+2p, W+2p)
    out = np.zeros((num_filters, oH, oW))
    for f in range(num_filters):
        for i in range(oH):
            for j in range(oW):
                window = X_pad[:, i * stride:i * stride + kH, j * stride:j * stride + kW]  # (C, kH, kW)
                out[f, i, j] = np.sum(window * W4[f]) + b[f]
    return out[0] if single else out


def conv2d_numpy(X: Any, W: Any, pad: int = 0, stride: int = 1, bias: Any = None) -> np.ndarray:
    """2-D true convolution as the seed's conv2d: rotate the kernel 180 degrees, then slide (lab 01).

    Same shapes as ``correlate2d_numpy``; conv2d_numpy(X, W) == correlate2d_numpy(X, W[..., ::-1, ::-1]).
    """
    W = _as_array(W, "W")
    if W.ndim < 2:
        raise ValueError(f"W must be (kH, kW), (C, kH, kW) or (F, C, kH, kW), got shape {W.shape}")
    return correlate2d_numpy(X, W[..., ::-1, ::-1], pad=pad, stride=stride, bias=bias)


def _pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of ints as (rows, cols), each >= 1."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (rows, cols), got {value!r}")
        return _check_int(name, value[0], 1), _check_int(name, value[1], 1)
    v = _check_int(name, value, 1)
    return v, v


def max_pool2d_numpy(X: Any, pool_size: int | tuple[int, int],
                     stride: int | tuple[int, int] | None = None) -> np.ndarray:
    """Max pooling as the seed's max_pool2d: the largest value of each window (lab 01).

    X is (H, W) or (C, H, W) (each channel pooled alone); stride defaults to pool_size, like PyTorch.
    The result keeps the dtype of X.
    """
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be (H, W) or (C, H, W), got shape {X.shape}")
    p_x, p_y = _pair("pool_size", pool_size)
    s_x, s_y = _pair("stride", pool_size if stride is None else stride)
    X3 = X[None] if X.ndim == 2 else X  # (C, H, W)
    opt_x = conv_output_size(X3.shape[1], p_x, 0, s_x)
    opt_y = conv_output_size(X3.shape[2], p_y, 0, s_y)
    mp = np.zeros((X3.shape[0], opt_x, opt_y), dtype=X.dtype)
    for i in range(opt_x):
        for j in range(opt_y):
            window = X3[:, i * s_x:i * s_x + p_x, j * s_y:j * s_y + p_y]  # (C, p_x, p_y)
            mp[:, i, j] = window.max(axis=(1, 2))
    return mp[0] if X.ndim == 2 else mp
