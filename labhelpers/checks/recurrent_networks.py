"""Self-checks of lab 08 (recurrent networks): character data, the RNN cell and loop, LSTM windows.

No check holds an implementation of its exercise. The RNN checks copy NumPy-seeded weights into
PyTorch's ``nn.RNNCell`` / ``nn.RNN`` and the student's function and compare the outputs; the window
check compares with NumPy's ``sliding_window_view``; the character check compares with the answers the
solution notebook gave to the same strings (the slides' "hihello" and " My name is Joongheon Kim.", and
two NumPy-seeded random strings; ``expected/08_recurrent_networks.json``), so a hard-coded answer fails.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from numpy.lib.stride_tricks import sliding_window_view

from labhelpers.checks import Case, attempt, close, report, run_cases, skip_during_grading, stored

__all__ = ["check_char_data", "check_rnn_cell", "check_rnn_forward", "check_make_windows"]

LAB = "08_recurrent_networks"
SENTENCE = " My name is Joongheon Kim."   # the sentence the slides' char-RNN learns


# ----------------------------------------------------------------------------- exercise 1
def _int_list(value: Any) -> list[int] | None:
    """A flat list of ints from a list/tuple/array/tensor of integers, or None."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return None
    if len(value) == 1 and isinstance(value[0], (list, tuple)):   # the slide's [sample_idx[:-1]]
        value = value[0]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return None
    return [int(v) for v in value]


def _char_cases() -> list[Case]:
    """The slides' two strings and two NumPy-seeded random ones (repeated letters, spaces, punctuation)."""
    rng = np.random.default_rng(99)
    letters = list("abcdefgh .,")
    samples = ["hihello", SENTENCE] + ["".join(rng.choice(letters, size=n)) for n in (12, 30)]
    return [Case((s,), repr(s)) for s in samples]


def _char_form(name: str, case: Case, received: Any) -> tuple | None:
    """The answer as (list of str, dict, list of int, list of int), or None after reporting what is wrong."""
    if not isinstance(received, (tuple, list)) or len(received) != 4:
        report(name, False, expected="(idx2char, char2idx, x_idx, y_idx)", received=repr(received)[:80],
               hint="return the four values as a tuple")
        return None
    got_i2c, got_c2i, got_x, got_y = received
    got_i2c = list(got_i2c) if isinstance(got_i2c, (list, tuple, str)) else got_i2c
    if not isinstance(got_i2c, list) or not all(isinstance(c, str) for c in got_i2c):
        report(name, False, expected="idx2char: a list of characters", received=repr(got_i2c)[:80],
               hint=f"{case.label}: one entry per distinct character (set(sample) has them)")
        return None
    if not isinstance(got_c2i, dict):
        report(name, False, expected="char2idx: a dict character -> index", received=type(got_c2i).__name__,
               hint="char2idx = {c: i for i, c in enumerate(idx2char)}")
        return None
    x, y = _int_list(got_x), _int_list(got_y)
    if x is None or y is None:
        report(name, False, expected="two lists of ints", received=f"{type(got_x).__name__}, {type(got_y).__name__}",
               hint="x_idx and y_idx are lists of character indices")
        return None
    return got_i2c, dict(got_c2i), x, y


def check_char_data(fn: Callable[[str], tuple]) -> bool:
    """Check ``fn(sample)`` -> (idx2char, char2idx, x_idx, y_idx) (lab 08, exercise 1).

    idx2char lists each character once, in the order it first appears ("hihello" -> h, i, e, l, o as on
    the slide); char2idx inverts it; x_idx is the sample without its last character, y_idx without its first.
    """
    name = "char_data"
    if skip_during_grading(name):
        return True
    cases = _char_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    forms = []
    for case, received in zip(cases, answers):
        form = _char_form(name, case, received)
        if form is None:
            return False
        forms.append(form)
    expected = stored(LAB, name, forms, cases)
    if expected is None:
        return False
    for case, (got_i2c, got_c2i, got_x, got_y), want in zip(cases, forms, expected):
        want_i2c, want_c2i, want_x, want_y = want
        if sorted(got_i2c) != sorted(want_i2c):
            return report(name, False, expected=list(want_i2c), received=got_i2c,
                          hint=f"{case.label}: one entry per distinct character (set(sample) has them)")
        if got_i2c != list(want_i2c):
            return report(name, False, expected=list(want_i2c), received=got_i2c,
                          hint="order the characters by first appearance: list(dict.fromkeys(sample)) "
                               "(list(set(sample)) changes order from run to run)")
        if got_c2i != dict(want_c2i):
            return report(name, False, expected=dict(want_c2i), received=got_c2i,
                          hint="char2idx = {c: i for i, c in enumerate(idx2char)}")
        if got_x == list(want_y) and got_y == list(want_x):
            return report(name, False, expected=list(want_x), received=got_x, hint="x and y are swapped: "
                          "the input is sample_idx[:-1], the target (the next character) sample_idx[1:]")
        if got_x != list(want_x) or got_y != list(want_y):
            return report(name, False, expected=(list(want_x), list(want_y)), received=(got_x, got_y),
                          hint=f"{case.label}: sample_idx = [char2idx[c] for c in sample]; "
                               "x = sample_idx[:-1], y = sample_idx[1:]")
    return report(name, True)


# ----------------------------------------------------------------------------- exercises 2 and 3
def _rnn_weights(rng: np.random.Generator, n_in: int, n_hidden: int) -> list[torch.Tensor]:
    """W_ih (hidden, input), W_hh (hidden, hidden), b_ih, b_hh in nn.RNN's range +-1/sqrt(hidden), float32."""
    k = 1 / np.sqrt(n_hidden)
    shapes = [(n_hidden, n_in), (n_hidden, n_hidden), (n_hidden,), (n_hidden,)]
    return [torch.from_numpy(rng.uniform(-k, k, size=s).astype(np.float32)) for s in shapes]


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy((scale * rng.normal(size=shape)).astype(np.float32))


def _torch_cell(weights: list[torch.Tensor], nonlinearity: str = "tanh") -> nn.RNNCell:
    """PyTorch's nn.RNNCell holding ``weights`` (W_ih, W_hh, b_ih, b_hh)."""
    W_ih = weights[0]
    cell = nn.RNNCell(W_ih.shape[1], W_ih.shape[0], nonlinearity=nonlinearity)
    with torch.no_grad():
        for attribute, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
            getattr(cell, attribute).copy_(w)
    return cell


def check_rnn_cell(fn: Callable) -> bool:
    """Check ``fn(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)`` equals nn.RNNCell (lab 08, exercise 2).

    h_t = tanh(x_t W_ih^T + b_ih + h_prev W_hh^T + b_hh); x_t (B, input), h_prev (B, hidden).
    """
    name = "rnn_cell"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(8)
    for batch, n_in, n_hidden in [(3, 4, 5), (1, 15, 15), (2, 1, 6)]:
        weights = _rnn_weights(rng, n_in, n_hidden)
        x, h = _normal(rng, batch, n_in), _normal(rng, batch, n_hidden, scale=0.5)
        cell = _torch_cell(weights)
        with torch.no_grad():
            expected = cell(x, h)                                                # (B, hidden)
        ok, received = attempt(name, fn, x.clone(), h.clone(), *(w.clone() for w in weights))
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
            got = received.detach().float()
            hint = "h_t = tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)"
            with torch.no_grad():                                                # wrong variants, by nn.RNNCell
                relu = _torch_cell(weights, "relu")(x, h)
                no_state = cell(x, torch.zeros_like(h))
                no_bias = _torch_cell(weights[:2] + [torch.zeros(n_hidden)] * 2)(x, h)
            if close(torch.tanh(got), expected, atol=1e-5):
                hint = "apply the tanh non-linearity to the sum"
            elif close(got, relu, atol=1e-5):
                hint = "nn.RNN's default non-linearity is tanh, not ReLU"
            elif close(got, no_state, atol=1e-5):
                hint = "you left out the previous hidden state: add h_prev @ W_hh.T"
            elif close(got, no_bias, atol=1e-5):
                hint = "add both biases, b_ih and b_hh"
            return report(name, False, expected=expected.numpy(), received=got.numpy(), hint=hint)
    return report(name, True)


def check_rnn_forward(fn: Callable) -> bool:
    """Check ``fn(X, h0, W_ih, W_hh, b_ih, b_hh)`` -> (outputs, h_T) equals nn.RNN(batch_first=True) (lab 08, ex. 3).

    X (B, T, input), h0 (B, hidden); outputs (B, T, hidden) holds h_1 .. h_T; h_T (B, hidden) is the last one.
    """
    name = "rnn_forward"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(80)
    for batch, steps, n_in, n_hidden in [(2, 6, 5, 5), (1, 25, 15, 15), (3, 4, 1, 7)]:
        weights = _rnn_weights(rng, n_in, n_hidden)
        X, h0 = _normal(rng, batch, steps, n_in), _normal(rng, batch, n_hidden, scale=0.5)
        rnn = nn.RNN(n_in, n_hidden, batch_first=True)
        with torch.no_grad():
            for attribute, w in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), weights):
                getattr(rnn, attribute).copy_(w)
            outputs, h_n = rnn(X, h0.unsqueeze(0))                              # (B, T, H), (1, B, H)
        ok, received = attempt(name, fn, X.clone(), h0.clone(), *(w.clone() for w in weights))
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
            cell = _torch_cell(weights)
            with torch.no_grad():                             # a wrong variant: nn.RNNCell from h0 at every step
                no_carry = torch.stack([cell(X[:, t], h0) for t in range(steps)], dim=1)
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


# ----------------------------------------------------------------------------- exercise 4
def check_make_windows(fn: Callable) -> bool:
    """Check ``fn(series, window)`` -> (X (N, window, 1), y (N,)) like the slides' LSTM data (lab 08, ex. 4).

    Compared with NumPy's ``sliding_window_view(series, window + 1)``: in each run of window + 1 values the
    first ``window`` are the input, the last one the target.
    """
    name = "make_windows"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(5)
    cases = [(np.arange(105) / 100, 5), (rng.standard_normal(30), 5), (rng.standard_normal(12), 3)]
    for series, window in cases:
        runs = sliding_window_view(series, window + 1)                           # (N, window + 1)
        X_ref, y_ref = runs[:, :-1, None], runs[:, -1]                           # (N, window, 1), (N,)
        ok, received = attempt(name, fn, series.copy(), window)
        if not ok:
            return False
        if not isinstance(received, (tuple, list)) or len(received) != 2:
            return report(name, False, expected="a pair (X, y)", received=repr(received)[:80], hint="return X, y")
        try:
            X, y = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=float) for v in received)
        except (TypeError, ValueError):
            return report(name, False, expected="two arrays (X, y)", received=repr(received)[:80],
                          hint="return NumPy arrays (or tensors) of numbers")
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
            if close(y.reshape(-1), runs[:, -2]):                               # a wrong variant: inside the window
                hint = "that is the last value inside the window; the target is the one after it, series[j + window]"
            return report(name, False, expected=y_ref[:5], received=y.reshape(-1)[:5], hint=f"{case}: {hint}")
    return report(name, True)
