"""Self-checks for lab 08 (recurrent networks): character data, the RNN cell and loop, LSTM windows.

The RNN checks copy the weights of a freshly made ``nn.RNNCell`` / ``nn.RNN`` (private seed) into
the student's function and compare the outputs with PyTorch's. The data checks run the slides'
examples ("hihello", " My name is Joongheon Kim.", the 5-step sequences) plus random strings and
series, so a hard-coded answer fails.
"""
from __future__ import annotations

import random
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from labhelpers.checks import attempt, close, report

__all__ = ["check_char_data", "check_rnn_cell", "check_rnn_forward", "check_make_windows",
           "reference_char_data", "reference_windows", "SENTENCE"]

SENTENCE = " My name is Joongheon Kim."   # the sentence the slides' char-RNN learns


def reference_char_data(sample: str) -> tuple[list[str], dict[str, int], list[int], list[int]]:
    """(idx2char, char2idx, x_idx, y_idx): characters in order of first appearance, input/target shifted by one."""
    idx2char = list(dict.fromkeys(sample))
    char2idx = {c: i for i, c in enumerate(idx2char)}
    sample_idx = [char2idx[c] for c in sample]
    return idx2char, char2idx, sample_idx[:-1], sample_idx[1:]


def reference_windows(series: Any, window: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """X (N, window, 1) of consecutive values and y (N,) the value after each window; N = len - window."""
    s = np.asarray(series, dtype=float)
    X = np.stack([s[j:j + window] for j in range(len(s) - window)])[:, :, None]   # (N, window, 1)
    return X, s[window:]


def _int_list(value: Any) -> list[int] | None:
    """A flat list of ints from a list/tuple/array/tensor of integers, or None."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return None
    if len(value) == 1 and isinstance(value[0], (list, tuple)):   # the slide's [sample_idx[:-1]]
        value = value[0]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return None
    return [int(v) for v in value]


def _samples() -> list[str]:
    rng = random.Random(99)
    letters = "abcdefgh .,"
    return ["hihello", SENTENCE] + ["".join(rng.choice(letters) for _ in range(n)) for n in (12, 30)]


def check_char_data(fn: Callable[[str], tuple]) -> bool:
    """Check ``fn(sample)`` -> (idx2char, char2idx, x_idx, y_idx) (lab 08, exercise 1).

    idx2char lists each character once, in the order it first appears ("hihello" -> h, i, e, l, o as on
    the slide); char2idx inverts it; x_idx is the sample without its last character, y_idx without its first.
    """
    name = "char_data"
    for sample in _samples():
        idx2char, char2idx, x_ref, y_ref = reference_char_data(sample)
        ok, received = attempt(name, fn, sample)
        if not ok:
            return False
        if not isinstance(received, (tuple, list)) or len(received) != 4:
            return report(name, False, expected="(idx2char, char2idx, x_idx, y_idx)", received=repr(received)[:80],
                          hint="return the four values as a tuple")
        got_i2c, got_c2i, got_x, got_y = received
        got_i2c = list(got_i2c) if isinstance(got_i2c, (list, tuple, str)) else got_i2c
        if not isinstance(got_i2c, list) or sorted(got_i2c) != sorted(idx2char):
            return report(name, False, expected=idx2char, received=got_i2c,
                          hint=f"{sample!r}: one entry per distinct character (set(sample) has them)")
        if got_i2c != idx2char:
            return report(name, False, expected=idx2char, received=got_i2c,
                          hint="order the characters by first appearance: list(dict.fromkeys(sample)) "
                               "(list(set(sample)) changes order from run to run)")
        if not isinstance(got_c2i, dict) or got_c2i != char2idx:
            return report(name, False, expected=char2idx, received=got_c2i,
                          hint="char2idx = {c: i for i, c in enumerate(idx2char)}")
        got_x, got_y = _int_list(got_x), _int_list(got_y)
        if got_x is None or got_y is None:
            return report(name, False, expected="two lists of ints", received=f"{type(received[2]).__name__}, "
                          f"{type(received[3]).__name__}", hint="x_idx and y_idx are lists of character indices")
        if got_x == y_ref and got_y == x_ref:
            return report(name, False, expected=x_ref, received=got_x, hint="x and y are swapped: "
                          "the input is sample_idx[:-1], the target (the next character) sample_idx[1:]")
        if got_x != x_ref or got_y != y_ref:
            return report(name, False, expected=(x_ref, y_ref), received=(got_x, got_y),
                          hint=f"{sample!r}: sample_idx = [char2idx[c] for c in sample]; "
                               "x = sample_idx[:-1], y = sample_idx[1:]")
    return report(name, True)


def _cell_case(seed: int, batch: int, n_in: int, n_hidden: int):
    """Weights of a fresh nn.RNNCell and random inputs, all from a private seed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        cell = nn.RNNCell(n_in, n_hidden)
    x = torch.randn(batch, n_in, generator=generator)
    h = torch.randn(batch, n_hidden, generator=generator) * 0.5
    return cell, x, h


def check_rnn_cell(fn: Callable) -> bool:
    """Check ``fn(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)`` equals nn.RNNCell (lab 08, exercise 2).

    h_t = tanh(x_t W_ih^T + b_ih + h_prev W_hh^T + b_hh); x_t (B, input), h_prev (B, hidden).
    """
    name = "rnn_cell"
    for seed, batch, n_in, n_hidden in [(0, 3, 4, 5), (1, 1, 15, 15), (2, 2, 1, 6)]:
        cell, x, h = _cell_case(seed, batch, n_in, n_hidden)
        W_ih, W_hh, b_ih, b_hh = (p.detach().clone()
                                  for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
        with torch.no_grad():
            expected = cell(x, h)                                                # (B, hidden)
        ok, received = attempt(name, fn, x.clone(), h.clone(), W_ih, W_hh, b_ih, b_hh)
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a tensor", received=type(received).__name__,
                          hint="return h_t, a tensor of shape (batch, hidden)")
        if tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"shape {tuple(expected.shape)}",
                          received=f"shape {tuple(received.shape)}",
                          hint="x_t @ W_ih.T is (batch, hidden): the weights are stored (hidden, input)")
        if not close(received, expected, atol=1e-5):
            pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
            hint = "h_t = tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)"
            if close(received, pre, atol=1e-5):
                hint = "apply the tanh non-linearity to the sum"
            elif close(received, torch.relu(pre), atol=1e-5):
                hint = "nn.RNN's default non-linearity is tanh, not ReLU"
            elif close(received, torch.tanh(x @ W_ih.T + b_ih + b_hh), atol=1e-5):
                hint = "you left out the previous hidden state: add h_prev @ W_hh.T"
            elif close(received, torch.tanh(x @ W_ih.T + h @ W_hh.T), atol=1e-5):
                hint = "add both biases, b_ih and b_hh"
            return report(name, False, expected=expected.numpy(), received=received.detach().numpy(), hint=hint)
    return report(name, True)


def check_rnn_forward(fn: Callable) -> bool:
    """Check ``fn(X, h0, W_ih, W_hh, b_ih, b_hh)`` -> (outputs, h_T) equals nn.RNN(batch_first=True) (lab 08, ex. 3).

    X (B, T, input), h0 (B, hidden); outputs (B, T, hidden) holds h_1 .. h_T; h_T (B, hidden) is the last one.
    """
    name = "rnn_forward"
    for seed, batch, steps, n_in, n_hidden in [(3, 2, 6, 5, 5), (4, 1, 25, 15, 15), (5, 3, 4, 1, 7)]:
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            rnn = nn.RNN(n_in, n_hidden, batch_first=True)
        X = torch.randn(batch, steps, n_in, generator=generator)
        h0 = torch.randn(batch, n_hidden, generator=generator) * 0.5
        weights = [p.detach().clone() for p in (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)]
        with torch.no_grad():
            outputs, h_n = rnn(X, h0.unsqueeze(0))                              # (B, T, H), (1, B, H)
        ok, received = attempt(name, fn, X.clone(), h0.clone(), *weights)
        if not ok:
            return False
        if not isinstance(received, (tuple, list)) or len(received) != 2:
            return report(name, False, expected="a pair (outputs, h_T)", received=repr(received)[:80],
                          hint="return torch.stack(outputs, dim=1), h")
        got_out, got_h = received
        if not isinstance(got_out, torch.Tensor) or tuple(got_out.shape) != tuple(outputs.shape):
            shape = tuple(got_out.shape) if isinstance(got_out, torch.Tensor) else type(got_out).__name__
            return report(name, False, expected=f"outputs of shape {tuple(outputs.shape)} (batch, time, hidden)",
                          received=shape, hint="stack the hidden states along dim=1: torch.stack(hs, dim=1)")
        if not close(got_out, outputs, atol=1e-5):
            W_ih, W_hh, b_ih, b_hh = weights
            no_carry = torch.tanh(X @ W_ih.T + b_ih + (h0 @ W_hh.T + b_hh).unsqueeze(1))
            hint = "for t in range(T): h = tanh(X[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh); keep every h"
            if close(got_out, no_carry, atol=1e-5):
                hint = "carry the state: the h of step t is the h_prev of step t + 1 (not h0 every time)"
            return report(name, False, expected=outputs.numpy(), received=got_out.detach().numpy(), hint=hint)
        last = h_n[0]                                                            # (B, H)
        if (not isinstance(got_h, torch.Tensor) or got_h.numel() != last.numel()
                or not close(got_h.reshape(last.shape), last, atol=1e-5)):
            return report(name, False, expected=last.numpy(), received=got_h,
                          hint="h_T is the hidden state after the last step, outputs[:, -1]")
    return report(name, True)


def check_make_windows(fn: Callable) -> bool:
    """Check ``fn(series, window)`` -> (X (N, window, 1), y (N,)) like the slides' LSTM data (lab 08, ex. 4)."""
    name = "make_windows"
    rng = np.random.default_rng(5)
    cases = [(np.arange(105) / 100, 5), (rng.standard_normal(30), 5), (rng.standard_normal(12), 3)]
    for series, window in cases:
        X_ref, y_ref = reference_windows(series, window)
        ok, received = attempt(name, fn, series.copy(), window)
        if not ok:
            return False
        if not isinstance(received, (tuple, list)) or len(received) != 2:
            return report(name, False, expected="a pair (X, y)", received=repr(received)[:80], hint="return X, y")
        X, y = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=float) for v in received)
        case = f"len(series)={len(series)}, window={window}"
        if X.shape != X_ref.shape:
            hint = "N = len(series) - window windows, each (window, 1): one feature per time step"
            if X.shape == X_ref.shape[:2]:
                hint = "add the feature dimension: X[..., None] gives (N, window, 1), what nn.LSTM(1, ...) expects"
            return report(name, False, expected=X_ref.shape, received=X.shape, hint=f"{case}: {hint}")
        if y.reshape(-1).shape != y_ref.shape:
            return report(name, False, expected=f"y of shape {y_ref.shape}", received=y.shape,
                          hint="one target per window")
        if not close(X, X_ref):
            return report(name, False, expected=X_ref[:2, :, 0], received=X[:2, :, 0],
                          hint=f"{case}: window j is series[j : j + window]")
        if not close(y.reshape(-1), y_ref):
            hint = "the target of window j is the NEXT value, series[j + window]"
            if close(y.reshape(-1), np.asarray(series)[window - 1:-1]):
                hint = "that is the last value inside the window; the target is the one after it, series[j + window]"
            return report(name, False, expected=y_ref[:5], received=y.reshape(-1)[:5], hint=f"{case}: {hint}")
    return report(name, True)
