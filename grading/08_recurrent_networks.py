"""Hidden tests of lab 08 (recurrent networks: character windows, the RNN cell and its loop, LSTM windows, the
training loop of an LSTM).

Instructor only: never released. Fresh random cases per submission; references run in the grader
(the RNN ones are PyTorch's own nn.RNNCell / nn.RNN with the probe's weights copied in, the windows NumPy's
sliding_window_view, the character tables and the training loop below).

fit_lstm is graded by behaviour (labkit.grading.training): the student's loop and the reference train the same
seeded nn.LSTM (codec Layers: PyTorch's default time-first layout, in evaluation mode on arrival) on the same
random-walk windows with the same watched optimizer, and the parts compare what came back. Two probes: one whose
max_norm is never reached (it tells a missing zero_grad and a summed loss apart: the gradients of every step are
compared) and one with max_norm = 1e-4, far below the gradients' natural norms (0.01 to 0.6 at these weights), so
that every step clips (an unclipped gradient is more than 10 times the clipped one: the part uses a factor 2).
No outcome part: the task asks for the loop's history, not for a target loss.
"""
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from numpy.lib.stride_tricks import sliding_window_view

import torch.nn.functional as F

from labkit.grading.codec import decode, resolve_attrs, seed_everything
from labkit.grading.spec import Call, Exercise, Layers, Optim, Part, wire
from labkit.grading.training import mode_and_grad, same_steps, same_weights
from labkit.grading.verdict import as_array, compare, describe, ignore_answer, is_integer, kind

LAB = "08_recurrent_networks"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}
CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?'-éüß한글")
ARRAYS = ("tensor", "ndarray")


# ----------------------------------------------------------------------------- exercise 1
def reference_char_data(text: str, seq_length: int) -> tuple[list[str], dict[str, int], list[list[int]], list[list[int]]]:
    """(idx2char, char2idx, x_data, y_data): characters by first appearance; every run of seq_length indices
    that has a next character, and the same runs one character further on."""
    idx2char = list(dict.fromkeys(text))
    char2idx = {c: i for i, c in enumerate(idx2char)}
    idx = [char2idx[c] for c in text]
    starts = range(len(text) - seq_length)
    return idx2char, char2idx, [idx[j:j + seq_length] for j in starts], [idx[j + 1:j + seq_length + 1] for j in starts]


def _char_probes(rng):
    def text(n, k):
        return "".join(rng.choice(rng.choice(CHARS, k, replace=False), n))
    short, long_ = text(int(rng.integers(4, 9)), int(rng.integers(2, 5))), text(int(rng.integers(25, 61)),
                                                                                int(rng.integers(6, 16)))
    repeated = str(rng.choice(CHARS)) * int(rng.integers(3, 7))
    cases = [(short, len(short) - 1),                          # a single run: the slide's x_data = [sample_idx[:-1]]
             (long_, int(rng.integers(2, 11))), (repeated, 1), (text(3, 2), 2)]
    return [Call((s, k), label=f"text {s!r} ({len(set(s))} distinct characters), seq_length={k}") for s, k in cases]


def _rows(enc):
    """Encoded runs (a list of lists, or a 2-D integer array/tensor) as a list of lists of ints, or None."""
    if kind(enc) in ARRAYS and "int" in enc["dtype"] and len(enc["shape"]) == 2:
        width = enc["shape"][1]
        flat = [int(v) for v in enc["__nd__"]]
        return [flat[i:i + width] for i in range(0, len(flat), width)]
    if kind(enc) not in ("list", "tuple"):
        return None
    rows = []
    for row in enc["__seq__"]:
        if kind(row) in ARRAYS and "int" in row["dtype"] and len(row["shape"]) == 1:
            rows.append([int(v) for v in row["__nd__"]])
        elif kind(row) in ("list", "tuple") and all(is_integer(v) for v in row["__seq__"]):
            rows.append([int(v) if isinstance(v, int) else int(v["__nd__"][0]) for v in row["__seq__"]])
        else:
            return None
    return rows


def _char_compare(got, want):
    if kind(got) not in ("list", "tuple") or len(got["__seq__"]) != 4:
        return f"expected a tuple (idx2char, char2idx, x_data, y_data), received {describe(got)}"
    i2c, c2i, x, y = got["__seq__"]
    if isinstance(i2c, str):
        i2c = {"__seq__": list(i2c), "type": "list"}
    for name, g, w in (("idx2char", i2c, want["__seq__"][0]), ("char2idx", c2i, want["__seq__"][1])):
        reason = compare(g, w, atol=0, rtol=0, strict=True)
        if reason and name == "idx2char" and kind(g) in ("list", "tuple") \
                and sorted(map(repr, g["__seq__"])) == sorted(map(repr, w["__seq__"])):
            return "idx2char: the right characters in the wrong order (order them by first appearance)"
        if reason:
            return f"{name}: {reason}"
    want_x, want_y = (_rows(w) for w in want["__seq__"][2:])
    got_x, got_y = _rows(x), _rows(y)
    if got_x is None or got_y is None:
        return "x_data and y_data must be lists of runs, each a list of int character indices"
    if got_x == want_y and got_y == want_x and want_x != want_y:
        return "x_data and y_data are swapped"
    if len(got_x) != len(want_x):
        return (f"x_data holds {len(got_x)} runs, expected {len(want_x)}: one for every start position whose run is "
                "followed by at least one more character")
    if got_x != want_x:
        return "x_data: wrong runs (each holds seq_length indices, starting at positions 0, 1, 2, ...)"
    if got_y != want_y:
        return "y_data: each target is its input run shifted one character on"
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


# ----------------------------------------------------------------------------- exercise 5
def reference_fit_lstm(lstm: nn.LSTM, X: torch.Tensor, y: torch.Tensor, optimizer, num_epochs: int, batch_size: int,
                       max_norm: float, per_batch: bool = False) -> list[float]:
    """The loop: per batch in order zero_grad, the time-first LSTM's last-layer final state, MSE, backward, clip,
    step; the mean loss over windows per epoch (``per_batch``: the wrong mean over batches, to name it)."""
    lstm.train()
    history = []
    for _ in range(num_epochs):
        total, batches = 0.0, 0
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]   # (B, T, 1), (B,)
            optimizer.zero_grad()
            _, (h_n, _) = lstm(X_batch.transpose(0, 1))                                 # h_n (layers, B, 1)
            loss = F.mse_loss(h_n[-1, :, 0], y_batch)
            loss.backward()
            nn.utils.clip_grad_norm_(lstm.parameters(), max_norm)
            optimizer.step()
            total += loss.item() * (1 if per_batch else len(y_batch))
            batches += 1
        history.append(total / (batches if per_batch else len(X)))
    return history


NEVER_CLIPS, CLIPS = "max_norm never reached", "max_norm 1e-4: every step clips"


def _fit_probes(rng):
    calls = []
    for label, layers, kind_, hyper, max_norm in ((NEVER_CLIPS, 1, "SGD", (("lr", 0.2), ("momentum", 0.9)), 100.0),
                                                  (CLIPS, 2, "Adam", (("lr", 0.01),), 1e-4)):
        batch_size = int(rng.integers(4, 9))
        n = batch_size * int(rng.integers(2, 5)) + int(rng.integers(1, batch_size))    # a smaller last batch
        steps = int(rng.integers(3, 8))
        series = np.cumsum(rng.normal(0, 0.1, n + steps))
        X = np.stack([series[j:j + steps] for j in range(n)])[:, :, None]              # (N, T, 1)
        seed = int(rng.integers(2**31))
        lstm = Layers((("LSTM", 1, 1, layers),), seed, watch=True, train=False)        # time-first, evaluation mode
        calls.append(Call((lstm, torch.from_numpy(X.astype(np.float32)), torch.from_numpy(series[steps:].astype(np.float32)),
                           Optim(kind_, 0, hyper), int(rng.integers(2, 4)), batch_size, max_norm), seed=seed + 1,
                          collect=True, label=f"{label}: {layers}-layer LSTM, {n} windows of {steps} steps in batches "
                                              f"of {batch_size}, {kind_}"))
    return calls


def _returned(enc):
    """What the student's function returned, from a collect() record (None when the record is unreadable)."""
    record = {k: v for k, v in enc["__map__"]} if kind(enc) == "dict" else {}
    return record.get("returned") if "returned" in record else None


def _history_numbers(call, got, want):
    value = _returned(got)
    epochs = call.args[4]
    if kind(value) not in ("list", "tuple"):
        return f"return the loss history, a list of {epochs} numbers; received {describe(value)}"
    items = value["__seq__"]
    if any(kind(v) == "tensor" for v in items):
        return "the history holds tensors: add up loss.item() (a Python number), not the loss tensor"
    if len(items) != epochs or not all(kind(v) in ("float", "int", "numpy-scalar") for v in items):
        return f"expected {epochs} numbers, one per epoch; received {describe(value)}"
    return None


def _grad_norms(enc, arg: int) -> list[float] | None:
    """The gradient norm of every step the watched optimizer (argument ``arg``) logged, from a collect() record."""
    record = {k: v for k, v in enc["__map__"]} if kind(enc) == "dict" else {}
    logs = record.get("logs")
    if kind(logs) != "list" or kind(logs["__seq__"][arg]) != "list":
        return None
    entries = [{k: v for k, v in entry["__map__"]} for entry in logs["__seq__"][arg]["__seq__"] if kind(entry) == "dict"]
    return [float(entry["grad_norm"]) for entry in entries if "grad_norm" in entry]


def _variant_history(call, **variant) -> list[float]:
    """The reference's history on the call's own inputs with one mistake made (to name it)."""
    args = resolve_attrs(decode(wire(list(call.args))))
    seed_everything(call.seed)
    return reference_fit_lstm(*args, **variant)


def _same_history(call, got, want):
    mine, theirs = as_array(_returned(got)), as_array(_returned(want))
    if mine is None or mine.shape != theirs.shape:
        return "the loss history could not be compared (expected one number per epoch)"
    if np.allclose(mine, theirs, rtol=1e-4, atol=1e-7):
        return None
    if np.allclose(mine, _variant_history(call, per_batch=True), rtol=1e-4, atol=1e-7):
        return ("each epoch's loss is the mean over batches; the last batch is smaller, so weight every batch by its "
                "number of windows and divide by N")
    return f"the loss history is {np.round(mine, 6).tolist()}, expected {np.round(theirs, 6).tolist()}"


def _steps_with_mse(arg):
    check = same_steps(arg)

    def steps(call, got, want):
        reason = check(call, got, want)
        return reason.replace("F.nll_loss's default reduction", "F.mse_loss's default reduction") if reason else None
    return steps


def _clipped(call, got, want):
    """Every step's gradient norm at most twice the reference's clipped one (unclipped ones are > 10 times)."""
    mine, ref = _grad_norms(got, 3), _grad_norms(want, 3)
    if mine is None:
        return "the answer could not be read"
    if not mine:
        return "the optimizer never stepped"
    if len(mine) != len(ref):
        return f"{len(mine)} optimizer steps, expected {len(ref)} (one per batch)"
    if any(a > 2 * b for a, b in zip(mine, ref)):
        return ("the gradients reached optimizer.step() unclipped: clip their total norm to max_norm after "
                "loss.backward() and before the step")
    return None


FIT_PARTS = (Part("returns the loss history", 0.5, _history_numbers),
             Part("lstm.train()", 0.5, mode_and_grad(0, training=True, grad=True)),
             Part("one step per batch, each on the reference's gradient", 1.0, _steps_with_mse(3), cases=(NEVER_CLIPS,)),
             Part("gradient clipping", 0.5, _clipped, cases=(CLIPS,)),
             Part("same weights", 0.5, same_weights(0)),
             Part("same loss history", 1.0, _same_history))


# What the exercises ask students to write themselves (the run-time guard fails any call into these).
# char_data forbids nothing: no library routine builds the tables (the solution uses dict.fromkeys).
RNN_FORBIDDEN = ("torch.nn.RNNCell", "torch.nn.RNN", "torch.rnn_tanh_cell", "torch.rnn_tanh", "torch._VF.rnn_tanh_cell",
                 "torch._VF.rnn_tanh", "torch.ops.aten.rnn_tanh_cell", "torch.ops.aten.rnn_tanh")
FIT_FORBIDDEN = ()   # every labhelpers function is forbidden by default (lh.fit, lh.train_one_epoch): the loop is the work
WINDOWS_FORBIDDEN = ("numpy.lib.stride_tricks.sliding_window_view", "numpy.lib.stride_tricks.as_strided",
                     "torch.Tensor.unfold", "torch.as_strided", "torch.Tensor.as_strided", "torch.nn.functional.unfold",
                     "torch.nn.Unfold", "scipy.linalg.hankel")

EXERCISES = [
    Exercise("char_data", 2, "list each distinct character once, in the order it first appears (a set forgets "
             "that order), numbered from 0; an input run of seq_length indices starts at every position that leaves "
             "at least one character after the run, and its target is the same run one position later; return the "
             "four values as a tuple",
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
    Exercise("fit_lstm", 4, "per epoch, the batches in order: clear the gradients, run the LSTM on the batch in its "
             "own (time, batch, features) layout, the mean squared error of its last layer's final state, backward, "
             "clip the total gradient norm to max_norm, step; return one Python float per epoch, the loss averaged "
             "over the windows (each batch weighted by its size); put the LSTM in training mode first",
             _fit_probes, reference_fit_lstm, compare=ignore_answer, parts=FIT_PARTS,
             forbidden=FIT_FORBIDDEN),
]
