"""Self-checks of lab 08 (recurrent networks): character windows, the RNN cell and loop, LSTM windows, the
training loop of an LSTM.

No check holds an implementation of its exercise. The RNN checks copy NumPy-seeded weights into
PyTorch's ``nn.RNNCell`` / ``nn.RNN`` and the student's function and compare the outputs (a wrong answer is
named by comparing it with nn.RNNCell on altered weights: a missing bias, a transposed weight); the window
check compares with NumPy's ``sliding_window_view``; the character check and the training-loop check compare
with the answers the solution notebook gave to the same fixed cases (the slides' strings and NumPy-seeded ones;
small LSTMs with NumPy-seeded weights, watched through their optimizer; ``expected/08_recurrent_networks.json``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from numpy.lib.stride_tricks import sliding_window_view

from labhelpers.checks import Case, attempt, close, report, run_cases, skip_during_grading, stored
from labhelpers.checks.watch import WatchedOptimizer

__all__ = ["check_char_data", "check_rnn_cell", "check_rnn_forward", "check_make_windows", "check_fit_lstm"]

LAB = "08_recurrent_networks"
SENTENCE = " My name is Joongheon Kim."   # the sentence the slides' char-RNN learns


# ----------------------------------------------------------------------------- exercise 1
def _int_rows(value: Any) -> list[list[int]] | None:
    """A list of lists of ints from nested lists/tuples or a 2-D integer array/tensor, or None."""
    if isinstance(value, torch.Tensor):
        if value.ndim != 2 or value.is_floating_point():
            return None
        value = value.tolist()
    elif isinstance(value, np.ndarray):
        if value.ndim != 2 or not np.issubdtype(value.dtype, np.integer):
            return None
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return None
    rows = []
    for row in value:
        if isinstance(row, (torch.Tensor, np.ndarray)):
            row = row.tolist()
        if not isinstance(row, (list, tuple)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in row):
            return None
        rows.append([int(v) for v in row])
    return rows


def _char_cases() -> list[Case]:
    """The slides' strings (the slide's single window, shorter windows) and NumPy-seeded random ones."""
    rng = np.random.default_rng(99)
    letters = list("abcdefgh .,")
    random_texts = ["".join(rng.choice(letters, size=n)) for n in (12, 30)]
    samples = [("hihello", 6), ("hihello", 3), (SENTENCE, 10), (random_texts[0], 1), (random_texts[1], 7)]
    return [Case((text, k), f"text={text!r}, seq_length={k}") for text, k in samples]


def _char_form(name: str, case: Case, received: Any) -> tuple | None:
    """The answer as (list of str, dict, rows of ints, rows of ints), or None after reporting what is wrong."""
    if not isinstance(received, (tuple, list)) or len(received) != 4:
        report(name, False, expected="(idx2char, char2idx, x_data, y_data)", received=repr(received)[:80],
               hint="return the four values as a tuple")
        return None
    got_i2c, got_c2i, got_x, got_y = received
    got_i2c = list(got_i2c) if isinstance(got_i2c, (list, tuple, str)) else got_i2c
    if not isinstance(got_i2c, list) or not all(isinstance(c, str) for c in got_i2c):
        report(name, False, expected="idx2char: a list of characters", received=repr(got_i2c)[:80],
               hint=f"{case.label}: one entry per distinct character of the text")
        return None
    if not isinstance(got_c2i, dict):
        report(name, False, expected="char2idx: a dict character -> index", received=type(got_c2i).__name__,
               hint="char2idx maps each character to its position in idx2char")
        return None
    x, y = _int_rows(got_x), _int_rows(got_y)
    if x is None or y is None:
        report(name, False, expected="x_data and y_data: lists of runs, each a list of character indices",
               received=f"{repr(got_x)[:60]}, {repr(got_y)[:60]}",
               hint=f"{case.label}: one list of seq_length ints per run (the slide's x_data = [sample_idx[:-1]] is "
                    "the case of a single run)")
        return None
    return got_i2c, dict(got_c2i), x, y


def _char_hint(case: Case, got_x: list, got_y: list, want_x: list, want_y: list) -> str:
    """What differs between the runs received and the solution's, in words (no code)."""
    text, k = case.args
    if got_x == want_y and got_y == want_x:
        return "x_data and y_data are swapped: the input run comes first, its target one character later"
    if got_x == want_x and got_y == got_x:
        return "each target must be its input run shifted one character on (the next character at every step)"
    if len(got_x) == len(want_x) + 1:
        return (f"{len(got_x)} runs, expected {len(want_x)}: the last run you made has no next character to "
                "predict (its target would run past the end of the text)")
    if len(got_x) != len(want_x):
        return (f"{len(got_x)} runs, expected {len(want_x)}: one per start position whose run of {k} characters is "
                f"followed by at least one more ({len(text)} - {k} of them here)")
    if any(len(row) != k for row in got_x + got_y):
        return f"every run holds seq_length = {k} indices"
    if got_x != want_x:
        return "the input runs start at positions 0, 1, 2, ... of the text (each one position after the previous)"
    return "the target of each run starts one position after its input"


def check_char_data(fn: Callable[[str, int], tuple]) -> bool:
    """Check ``fn(text, seq_length)`` -> (idx2char, char2idx, x_data, y_data) (lab 08, exercise 1).

    idx2char lists each character once, in the order it first appears ("hihello" -> h, i, e, l, o as on
    the slide); char2idx inverts it; x_data holds every run of seq_length indices that has a next character,
    y_data the same runs one character further on.
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
        want_i2c, want_c2i, want_x, want_y = (list(want[0]), dict(want[1]), [list(r) for r in want[2]],
                                              [list(r) for r in want[3]])
        if sorted(got_i2c) != sorted(want_i2c):
            return report(name, False, expected=want_i2c, received=got_i2c,
                          hint=f"{case.label}: one entry per distinct character, each once")
        if got_i2c != want_i2c:
            return report(name, False, expected=want_i2c, received=got_i2c,
                          hint="order the characters by first appearance (a set has no fixed order: it changes "
                               "from one run of Python to the next)")
        if got_c2i != want_c2i:
            return report(name, False, expected=want_c2i, received=got_c2i,
                          hint="char2idx is the inverse of idx2char: character -> its position in idx2char")
        if got_x != want_x or got_y != want_y:
            return report(name, False, expected=(want_x[:3], want_y[:3]), received=(got_x[:3], got_y[:3]),
                          hint=f"{case.label}: {_char_hint(case, got_x, got_y, want_x, want_y)}")
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


SHAPE_ERRORS = ("shapes cannot be multiplied", "size mismatch", "must match the size", "mismatch in dimension")
TRANSPOSE_HINT = ("the weights are stored as in nn.RNN: W_ih (hidden, input) and W_hh (hidden, hidden); a batch of "
                  "inputs (batch, input) meets W_ih transposed, so that the product is (batch, hidden)")


def _attempt_rnn(name: str, fn: Callable, *args) -> tuple[bool, Any]:
    """``attempt`` that explains a matrix-shape error (a weight used untransposed) instead of torch's raw message."""
    try:
        return True, fn(*args)
    except NotImplementedError:
        return attempt(name, fn, *args)
    except RuntimeError as exc:
        if any(words in str(exc) for words in SHAPE_ERRORS):
            shapes = ", ".join(f"{n} {tuple(a.shape)}" for n, a in zip(("first", "second", "W_ih", "W_hh"), args[:4]))
            report(name, False, expected="a product of compatible shapes", received=f"{type(exc).__name__}: {exc}",
                   hint=f"{TRANSPOSE_HINT} (this case: {shapes})")
            return False, None
        print(f"[FAIL] {name}: your code raised {type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - the student's code raised: show it, keep the notebook going
        print(f"[FAIL] {name}: your code raised {type(exc).__name__}: {exc}")
    return False, None


def _cell_hint(got: torch.Tensor, x: torch.Tensor, h: torch.Tensor, weights: list[torch.Tensor],
               expected: torch.Tensor) -> str:
    """Name the mistake when ``got`` is one of the classic wrong cells (each computed by nn.RNNCell)."""
    W_ih, W_hh, b_ih, b_hh = weights
    zeros = torch.zeros_like(b_ih)
    variants = [("relu", weights, "nn.RNN's default non-linearity is tanh, not ReLU"),
                ("tanh", [W_ih, W_hh, zeros, zeros], "add both biases, b_ih and b_hh (nn.RNN keeps two)"),
                ("tanh", [W_ih, W_hh, b_ih, zeros], "b_hh is missing: nn.RNN adds a second bias, b_hh, with the "
                                                    "recurrent term (one bias each for the input and the state)"),
                ("tanh", [W_ih, W_hh, zeros, b_hh], "b_ih is missing: nn.RNN adds the bias b_ih with the input term"),
                ("tanh", [W_ih, W_hh.T.contiguous(), b_ih, b_hh], "W_hh is used untransposed: like W_ih it is "
                                                                  "stored (hidden, in); the state meets it transposed")]
    if W_ih.shape[0] == W_ih.shape[1]:
        variants += [("tanh", [W_ih.T.contiguous(), W_hh, b_ih, b_hh], TRANSPOSE_HINT),
                     ("tanh", [W_ih.T.contiguous(), W_hh.T.contiguous(), b_ih, b_hh], TRANSPOSE_HINT)]
    if close(torch.tanh(got), expected, atol=1e-5):
        return "apply the tanh non-linearity to the sum"
    with torch.no_grad():
        if close(got, _torch_cell(weights)(x, torch.zeros_like(h)), atol=1e-5):
            return "you left out the previous hidden state: its term, through W_hh, belongs in the sum"
        for nonlinearity, variant, hint in variants:
            if close(got, _torch_cell(variant, nonlinearity)(x, h), atol=1e-5):
                return hint
    return ("compare with section 3's formula: the input's term through W_ih and the state's through W_hh, each "
            "with its own bias, added and then squashed by tanh")


def check_rnn_cell(fn: Callable) -> bool:
    """Check ``fn(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)`` equals nn.RNNCell (lab 08, exercise 2).

    h_t = tanh(x_t W_ih^T + b_ih + h_prev W_hh^T + b_hh); x_t (B, input), h_prev (B, hidden). The first case is
    square (input = hidden), so that a transposed weight gives wrong numbers there (named) rather than an error.
    """
    name = "rnn_cell"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(8)
    for batch, n_in, n_hidden in [(1, 15, 15), (3, 4, 5), (2, 1, 6)]:
        weights = _rnn_weights(rng, n_in, n_hidden)
        x, h = _normal(rng, batch, n_in), _normal(rng, batch, n_hidden, scale=0.5)
        cell = _torch_cell(weights)
        with torch.no_grad():
            expected = cell(x, h)                                                # (B, hidden)
        ok, received = _attempt_rnn(name, fn, x.clone(), h.clone(), *(w.clone() for w in weights))
        if not ok:
            return False
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a tensor", received=type(received).__name__,
                          hint="return h_t, a tensor of shape (batch, hidden)")
        if tuple(received.shape) != tuple(expected.shape):
            return report(name, False, expected=f"shape {tuple(expected.shape)}",
                          received=f"shape {tuple(received.shape)}", hint=TRANSPOSE_HINT)
        if not close(received, expected, atol=1e-5):
            got = received.detach().float()
            return report(name, False, expected=expected.numpy(), received=got.numpy(),
                          hint=_cell_hint(got, x, h, weights, expected))
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
        ok, received = _attempt_rnn(name, fn, X.clone(), h0.clone(), *(w.clone() for w in weights))
        if not ok:
            return False
        if not isinstance(received, (tuple, list)) or len(received) != 2:
            return report(name, False, expected="a pair (outputs, h_T)", received=repr(received)[:80],
                          hint="return two things: all the states stacked, and the last state")
        got_out, got_h = received
        if not isinstance(got_out, torch.Tensor) or tuple(got_out.shape) != tuple(outputs.shape):
            shape = tuple(got_out.shape) if isinstance(got_out, torch.Tensor) else type(got_out).__name__
            return report(name, False, expected=f"outputs of shape {tuple(outputs.shape)} (batch, time, hidden)",
                          received=shape, hint="stack the T hidden states along a new time axis, dim 1")
        if not close(got_out, outputs, atol=1e-5):
            cell = _torch_cell(weights)
            with torch.no_grad():                             # a wrong variant: nn.RNNCell from h0 at every step
                no_carry = torch.stack([cell(X[:, t], h0) for t in range(steps)], dim=1)
            hint = ("one cell step per time step t, on X[:, t] and the previous state, the same weights every step; "
                    "keep every new state")
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


# ----------------------------------------------------------------------------- exercise 5
# (label, LSTM layers, windows, batch size, optimizer, hyper-parameters, epochs, max_norm)
FIT_CASES = [("the slide's windows 0.00-0.36, LSTM(1), 32 windows in batches of 8, Adam", 1, 32, 8, "Adam",
              {"lr": 0.01}, 3, 10.0),
             ("30 random-walk windows in batches of 8 (the last one holds 6), SGD with momentum", 1, 30, 8, "SGD",
              {"lr": 0.2, "momentum": 0.9}, 2, 10.0),
             ("2-layer LSTM, 20 random-walk windows in batches of 10, max_norm 0.0001 (clipping every step)", 2, 20,
              10, "Adam", {"lr": 0.01}, 2, 1e-4)]


def _fit_inputs(index: int) -> tuple[nn.LSTM, torch.Tensor, torch.Tensor]:
    """Case ``index``'s LSTM (NumPy-seeded weights, evaluation mode) and windows X (N, 5, 1), y (N,)."""
    _, layers, n, *_ = FIT_CASES[index]
    rng = np.random.default_rng(58 + index)
    series = np.arange(n + 5) / 100 if index == 0 else np.cumsum(rng.normal(0, 0.1, n + 5))
    X = np.stack([series[j:j + 5] for j in range(n)])[:, :, None]                # (N, 5, 1) the windows
    with torch.random.fork_rng(devices=[]):                                       # leave the notebook's RNG alone
        lstm = nn.LSTM(1, 1, layers)
    with torch.no_grad():
        for name, tensor in lstm.state_dict().items():
            tensor.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, size=tuple(tensor.shape)).astype(np.float32)))
    return lstm.eval(), torch.from_numpy(X.astype(np.float32)), torch.from_numpy(series[5:].astype(np.float32))


def _fit_run(name: str, fn: Callable, index: int) -> dict | None:
    """Run the student's loop on case ``index``; what it returned and how it drove the LSTM and the optimizer."""
    label, _, _, batch_size, kind, hyper, epochs, max_norm = FIT_CASES[index]
    lstm, X, y = _fit_inputs(index)
    modes: list[bool] = []
    lstm.register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
    optimizer = WatchedOptimizer(getattr(torch.optim, kind)(lstm.parameters(), **hyper))
    try:
        history = fn(lstm, X, y, optimizer, epochs, batch_size, max_norm)
    except RuntimeError as exc:
        if "must match the size" not in str(exc):
            attempt(name, lambda: (_ for _ in ()).throw(exc))                    # reported as any other error
            return None
        report(name, False, expected="one prediction per window of the batch", received=f"RuntimeError: {exc}",
               hint="a plain nn.LSTM reads (time, batch, features): swap the batch's first two axes before the "
                    "call, so that its final state holds one value per window")
        return None
    except Exception:  # noqa: BLE001 - NotImplementedError and the rest: attempt() reports them as usual
        attempt(name, fn, lstm, X, y, optimizer, epochs, batch_size, max_norm)
        return None
    return {"history": history, "modes": modes, "grad_norms": optimizer.grad_norms, "zero_grads": optimizer.zero_grads,
            "steps": -(-len(X) // batch_size) * epochs, "label": label}


def check_fit_lstm(fn: Callable) -> bool:
    """Check ``fn(lstm, X, y, optimizer, num_epochs, batch_size, max_norm)`` -> loss history (lab 08, exercise 5).

    Three small LSTMs with NumPy-seeded weights are trained on fixed windows; the loss history and the gradient
    norm of every optimizer step are compared with the solution's (``expected/08_recurrent_networks.json``). The
    cases tell apart a missing zero_grad, a summed loss, a missing clip and a mean over batches instead of windows.
    """
    name = "fit_lstm"
    if skip_during_grading(name):
        return True
    runs, zero_grads = [], []
    for index in range(len(FIT_CASES)):
        run = _fit_run(name, fn, index)
        if run is None:
            return False
        history, epochs = run["history"], FIT_CASES[index][6]
        if isinstance(history, (torch.Tensor, np.ndarray)) or not isinstance(history, (list, tuple)):
            return report(name, False, expected=f"a list of {epochs} floats", received=type(history).__name__,
                          hint="return a Python list with one number per epoch")
        if any(isinstance(v, torch.Tensor) for v in history):
            return report(name, False, expected="Python floats", received="tensors", hint="add up loss.item() (a "
                          "number), not the loss tensor: a tensor keeps its whole autograd graph alive")
        if len(history) != epochs or not all(isinstance(v, (float, int, np.floating)) for v in history):
            return report(name, False, expected=f"a list of {epochs} floats", received=repr(history)[:80],
                          hint="one entry per epoch: that epoch's mean loss")
        if not run["modes"]:
            return report(name, False, expected="the LSTM called on every batch", received="never called",
                          hint="run the LSTM on each batch")
        if not all(run["modes"]):
            return report(name, False, expected="training mode", received="evaluation mode",
                          hint="the LSTM arrives in evaluation mode (as after an evaluation): call lstm.train() first")
        if len(run["grad_norms"]) != run["steps"]:
            return report(name, False, expected=f"{run['steps']} optimizer steps", received=len(run["grad_norms"]),
                          hint=f"{run['label']}: one optimizer.step() per mini-batch, every epoch")
        runs.append({"history": [float(v) for v in history], "grad_norms": run["grad_norms"]})
        zero_grads.append(run["zero_grads"])
    inputs = [[list(case), *_fit_inputs(index)[1:], dict(_fit_inputs(index)[0].state_dict())]
              for index, case in enumerate(FIT_CASES)]
    expected = stored(LAB, name, runs, inputs)
    if expected is None:
        return False
    for (label, *_), run, want, zeroed in zip(FIT_CASES, runs, expected, zero_grads):
        mine, theirs = np.asarray(run["grad_norms"]), np.asarray(want["grad_norms"], dtype=float)
        if not np.allclose(mine, theirs, rtol=1e-3, atol=1e-9):
            first = int(np.argmax(~np.isclose(mine, theirs, rtol=1e-3, atol=1e-9)))
            ratio = mine[first] / theirs[first] if theirs[first] else float("inf")
            hint = f"step {first + 1}'s gradient differs from the solution's (norm {mine[first]:.4g}, expected {theirs[first]:.4g})"
            if "clipping" in label and ratio > 2:
                hint = ("the gradients reached the optimizer unclipped: clip their total norm to max_norm after "
                        "backward() and before step()")
            elif first == 0 and ratio > 1.5:
                hint = ("the first gradient is {:.3g} times the solution's: average the squared error over the batch "
                        "(F.mse_loss's default reduction), not its sum".format(ratio))
            elif first > 0 and zeroed == 0:
                hint = (f"from step {first + 1} on the gradients differ from the solution's: they pile up; clear "
                        "them before each backward() (optimizer.zero_grad())")
            return report(name, False, expected=theirs[:4], received=mine[:4], hint=f"{label}: {hint}")
        if not np.allclose(run["history"], want["history"], rtol=1e-4, atol=1e-7):
            hint = "each epoch's entry is the mean loss over its windows"
            if "last one holds" in label:
                hint = ("the batches trained right, but the epoch's mean is off where the last batch is smaller: "
                        "weight each batch's loss by its number of windows, then divide by N")
            return report(name, False, expected=want["history"], received=run["history"], hint=f"{label}: {hint}")
    return report(name, True)
