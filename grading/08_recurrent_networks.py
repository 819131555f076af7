"""Hidden tests of lab 08 (recurrent networks: character data, the RNN cell and its loop, LSTM windows).

Instructor only: never released. Fresh random cases per submission; references run in the grader
(the RNN ones are PyTorch's own nn.RNNCell / nn.RNN with the probe's weights copied in, the windows NumPy's
sliding_window_view, the character tables below).
"""
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from numpy.lib.stride_tricks import sliding_window_view

from labkit.grading.spec import Call, Exercise
from labkit.grading.verdict import compare, describe, is_integer, kind

LAB = "08_recurrent_networks"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}
CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?'-éüß한글")
ARRAYS = ("tensor", "ndarray")


# ----------------------------------------------------------------------------- exercise 1
def reference_char_data(sample: str) -> tuple[list[str], dict[str, int], list[int], list[int]]:
    """(idx2char, char2idx, x_idx, y_idx): characters in order of first appearance, input/target shifted by one."""
    idx2char = list(dict.fromkeys(sample))
    char2idx = {c: i for i, c in enumerate(idx2char)}
    sample_idx = [char2idx[c] for c in sample]
    return idx2char, char2idx, sample_idx[:-1], sample_idx[1:]


def _char_probes(rng):
    def text(n, k):
        return "".join(rng.choice(rng.choice(CHARS, k, replace=False), n))
    samples = [text(int(rng.integers(3, 9)), int(rng.integers(2, 5))), text(int(rng.integers(25, 61)),
               int(rng.integers(6, 16))), str(rng.choice(CHARS)) * int(rng.integers(2, 7)), text(2, 2)]
    return [Call((s,), label=f"sample {s!r} ({len(set(s))} distinct characters)") for s in samples]


def _plain(enc):
    """Integers as plain ints, integer arrays as lists, the slide's [x_idx] as x_idx (the public check accepts them)."""
    if is_integer(enc) and not isinstance(enc, int):
        return int(enc["__nd__"][0])
    if kind(enc) in ARRAYS and "int" in enc["dtype"]:
        return {"__seq__": [int(v) for v in enc["__nd__"]], "type": "list"}
    if kind(enc) in ("list", "tuple"):
        items = [_plain(item) for item in enc["__seq__"]]
        return items[0] if len(items) == 1 and kind(items[0]) in ("list", "tuple") else dict(enc, __seq__=items)
    return {"__map__": [[k, _plain(v)] for k, v in enc["__map__"]]} if kind(enc) == "dict" else enc


def _char_compare(got, want):
    if kind(got) not in ("list", "tuple") or len(got["__seq__"]) != 4:
        return f"expected a tuple (idx2char, char2idx, x_idx, y_idx), received {describe(got)}"
    items = [_plain(item) for item in got["__seq__"]]
    if isinstance(items[0], str):
        items[0] = {"__seq__": list(items[0]), "type": "list"}
    for name, g, w in zip(("idx2char", "char2idx", "x_idx", "y_idx"), items, want["__seq__"]):
        reason = compare(g, w, atol=0, rtol=0, strict=True)
        if reason and name == "idx2char" and kind(g) in ("list", "tuple") \
                and sorted(map(repr, g["__seq__"])) == sorted(map(repr, w["__seq__"])):
            return "idx2char: the right characters in the wrong order (order them by first appearance)"
        if reason:
            return f"{name}: {reason}"
    return None


# ----------------------------------------------------------------------------- exercises 2 and 3
def _rnn_case(rng, batch, steps=None, n_in=None):
    """Random float32 inputs and nn.RNN-like weights; input size != hidden size, so a transposed weight fails."""
    n_in = int(rng.integers(1, 10)) if n_in is None else n_in
    n_hidden = int(rng.integers(2, 12))
    n_hidden += n_hidden == n_in
    k = 1 / np.sqrt(n_hidden)  # nn.RNN's own initialisation range
    shapes = [(batch, n_in) if steps is None else (batch, steps, n_in), (batch, n_hidden),
              (n_hidden, n_in), (n_hidden, n_hidden), (n_hidden,), (n_hidden,)]
    args = [rng.normal(size=s) if i < 2 else rng.uniform(-k, k, size=s) for i, s in enumerate(shapes)]
    return Call(tuple(torch.from_numpy(a.astype(np.float32)) for a in args), label=f"batch {batch}, "
                + ("" if steps is None else f"{steps} time steps, ") + f"input size {n_in}, hidden size {n_hidden}")


def _cell_probes(rng):
    return [_rnn_case(rng, 1), _rnn_case(rng, int(rng.integers(2, 9))), _rnn_case(rng, int(rng.integers(2, 6)), n_in=1)]


def _with_weights(module, weights, suffix=""):
    with torch.no_grad():
        for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
            getattr(module, name + suffix).copy_(w)
    return module


def _cell_reference(x_t, h_prev, *weights):
    with torch.no_grad():
        return _with_weights(nn.RNNCell(weights[0].shape[1], weights[0].shape[0]), weights)(x_t, h_prev)


def _forward_probes(rng):
    return [_rnn_case(rng, 1, 1), _rnn_case(rng, int(rng.integers(2, 7)), int(rng.integers(2, 9))),
            _rnn_case(rng, int(rng.integers(1, 5)), int(rng.integers(20, 41)))]


def _forward_reference(X, h0, *weights):
    rnn = _with_weights(nn.RNN(weights[0].shape[1], weights[0].shape[0], batch_first=True), weights, "_l0")
    with torch.no_grad():
        outputs, h_n = rnn(X, h0.unsqueeze(0))  # (B, T, H), (1, B, H)
    return outputs, h_n[0]


def _pair(names):
    """Compare a pair item by item; like the public check, the second may come in any shape of the right size."""
    def compare_pair(got, want):
        if kind(got) not in ("list", "tuple") or len(got["__seq__"]) != 2:
            return f"expected a pair ({names[0]}, {names[1]}), received {describe(got)}"
        for index, (name, g, w) in enumerate(zip(names, got["__seq__"], want["__seq__"])):
            if index == 1 and kind(g) in ARRAYS and len(g["__nd__"]) == len(w["__nd__"]):
                g = dict(g, shape=w["shape"])
            reason = compare(g, w, atol=1e-5, rtol=1e-4)
            if reason:
                return f"{name}: {reason}"
        return None
    return compare_pair


# ----------------------------------------------------------------------------- exercise 4
def reference_windows(series: Any, window: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """X (N, window, 1) of consecutive values and y (N,) the value after each window; N = len - window:
    NumPy's runs of window + 1 values, the first ``window`` the input, the last the target."""
    runs = sliding_window_view(np.asarray(series, dtype=float), window + 1)   # (N, window + 1)
    return runs[:, :-1, None].copy(), runs[:, -1].copy()


def _window_probes(rng):
    cases = [(int(rng.integers(8, 41)), None), (int(rng.integers(10, 61)), int(rng.integers(2, 9))),
             (int(rng.integers(3, 21)), 1)]
    cases += [(n, n - int(rng.integers(1, 3))) for n in rng.integers(4, 16, size=2)]  # 1 or 2 windows only
    return [Call((rng.normal(size=int(n)),) + (() if w is None else (int(w),)),
                 label=f"len(series)={int(n)}, " + ("the default window" if w is None else f"window={int(w)}"))
            for n, w in cases]


# What the exercises ask students to write themselves (the run-time guard fails any call into these).
# char_data forbids nothing: no library routine builds the tables (the solution uses dict.fromkeys).
RNN_FORBIDDEN = ("torch.nn.RNNCell", "torch.nn.RNN", "torch.rnn_tanh_cell", "torch.rnn_tanh", "torch._VF.rnn_tanh_cell",
                 "torch._VF.rnn_tanh", "torch.ops.aten.rnn_tanh_cell", "torch.ops.aten.rnn_tanh")
WINDOWS_FORBIDDEN = ("numpy.lib.stride_tricks.sliding_window_view", "numpy.lib.stride_tricks.as_strided",
                     "torch.Tensor.unfold", "torch.as_strided", "torch.Tensor.as_strided", "torch.nn.functional.unfold",
                     "torch.nn.Unfold", "scipy.linalg.hankel")

EXERCISES = [
    Exercise("char_data", 2, "list each distinct character once, in the order it first appears (a set forgets "
             "that order), numbered from 0; the inputs are the indices of every character but the last, the targets "
             "those of every character but the first; return the four values as a tuple",
             _char_probes, reference_char_data, compare=_char_compare),
    Exercise("rnn_cell", 2, "add the input's contribution (through the transposed input weights, plus b_ih) and the "
             "previous state's (through the transposed recurrent weights, plus b_hh), then squash with tanh; weights "
             "are stored (hidden, input) as in nn.RNN; the result is a tensor (batch, hidden)",
             _cell_probes, _cell_reference, atol=1e-5, rtol=1e-4, forbidden=RNN_FORBIDDEN),
    Exercise("rnn_forward", 2, "start from h0 and apply the cell once per time step with the same weights, each new "
             "state feeding the next step; stack all the states along dim 1 (batch, time, hidden) and also return "
             "the last one (batch, hidden); any batch size and number of steps, one included",
             _forward_probes, _forward_reference, compare=_pair(("outputs", "h_T")),
             forbidden=RNN_FORBIDDEN),
    Exercise("make_windows", 2, "window j is the `window` consecutive values starting at position j and its target "
             "is the value right after it, so there are len(series) - window windows; X has a last axis of size 1, "
             "y one value per window; use the window argument (default 5)",
             _window_probes, reference_windows, compare=_pair(("X", "y")), forbidden=WINDOWS_FORBIDDEN),
]
