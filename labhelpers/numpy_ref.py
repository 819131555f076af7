"""The 1-D convolution of lab 01's worked example, written from scratch in NumPy, and the padding modes.

``conv1d_numpy`` is a *true* convolution, as the seed slides teach: the filter is rotated before the
sliding dot product (``torch.nn.functional.conv1d``, like every CNN layer, does not rotate it). Padding
is zeros. The lab's graded exercises (the output-size formula, 2-D convolution, max pooling) have no
counterpart here: the lab compares them with SciPy and PyTorch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["padding_for", "conv1d_numpy"]


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
    p, s = _check_int("p (padding)", p, 0), _check_int("s (stride)", s, 1)
    m = len(w)
    if m == 0 or m > len(x) + 2 * p:
        raise ValueError(f"the filter ({m} taps) must be non-empty and fit in the padded input "
                         f"({len(x)} + 2 * {p} cells); use a shorter filter or more padding")
    x_pad = np.pad(x, (p, p), mode="constant", constant_values=0)  # (n + 2p,)
    w_rot = w[::-1]  # Step 1: rotate the filter
    starts = range(0, len(x_pad) - m + 1, s)  # Step 2: every window start that fits, s cells apart
    return np.array([np.dot(x_pad[i:i + m], w_rot) for i in starts])  # one dot product per window
