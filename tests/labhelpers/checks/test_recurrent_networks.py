"""Tests for labhelpers.checks.recurrent_networks: each check passes a correct answer and fails wrong ones.

check_char_data and check_fit_lstm compare with the solution's stored answers
(labhelpers/checks/expected/08_recurrent_networks.json), so these tests also prove that the stored file is current
and right; the others compare with nn.RNNCell, nn.RNN and NumPy's sliding_window_view. The generic behaviours are
tests/labhelpers/checks/test_contract.py's.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import labhelpers.checks.store as store
from labhelpers.checks.recurrent_networks import (check_char_data, check_fit_lstm, check_make_windows, check_rnn_cell,
                                                  check_rnn_forward)


# ---- reference answers (what the solution notebook does) ------------------------------------

def char_data(text, seq_length):
    idx2char = list(dict.fromkeys(text))
    char2idx = {c: i for i, c in enumerate(idx2char)}
    idx = [char2idx[c] for c in text]
    starts = range(len(text) - seq_length)
    return idx2char, char2idx, [idx[j:j + seq_length] for j in starts], [idx[j + 1:j + seq_length + 1] for j in starts]


def rnn_cell(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)


def rnn_forward(X, h0, W_ih, W_hh, b_ih, b_hh):
    h, outputs = h0, []
    for t in range(X.shape[1]):
        h = rnn_cell(X[:, t], h, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


def make_windows(series, window=5):
    s = np.asarray(series, dtype=float)
    X = np.stack([s[j:j + window] for j in range(len(s) - window)])
    return X[:, :, None], s[window:]


def fit_lstm(lstm, X, y, optimizer, num_epochs, batch_size, max_norm, mistake=None):
    if mistake != "no train()":
        lstm.train()
    history = []
    for _ in range(num_epochs):
        total, batches = 0.0, 0
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            _, (h_n, _) = lstm(X_batch.transpose(0, 1))
            loss = F.mse_loss(h_n[-1, :, 0], y_batch, reduction="sum" if mistake == "summed loss" else "mean")
            loss.backward()
            if mistake != "no clipping":
                nn.utils.clip_grad_norm_(lstm.parameters(), max_norm)
            optimizer.step()
            batches += 1
            if mistake == "loss tensor":
                total = total + loss * len(y_batch)
            else:
                total += loss.item() * (1 if mistake == "mean over batches" else len(y_batch))
        history.append(total / (batches if mistake == "mean over batches" else len(X)))
    return history


# ---- the fixtures match the slides ------------------------------------------------------------

def test_char_data_fixture_matches_the_hihello_slide():
    idx2char, char2idx, x, y = char_data("hihello", 6)
    assert idx2char == ["h", "i", "e", "l", "o"]
    assert x == [[0, 1, 0, 2, 3, 3]] and y == [[1, 0, 2, 3, 3, 4]]   # the slide's x_data, y_data
    assert char_data("hihello", 3)[2] == [[0, 1, 0], [1, 0, 2], [0, 2, 3], [2, 3, 3]]   # the exercise's example


def test_make_windows_fixture_matches_the_lstm_slide():
    X, y = make_windows(np.arange(105) / 100, 5)
    slide_x = np.array([[[(i + j) / 100] for i in range(5)] for j in range(100)])
    slide_y = np.array([(i + 5) / 100 for i in range(100)])
    assert np.allclose(X, slide_x) and np.allclose(y, slide_y)


# ---- check_char_data ------------------------------------------------------------------------

def test_char_data_accepts_reference(capsys):
    assert check_char_data(char_data) is True
    assert "[OK] char_data" in capsys.readouterr().out


def test_char_data_accepts_tensors_and_arrays_of_runs():
    def as_arrays(text, seq_length):
        i2c, c2i, x, y = char_data(text, seq_length)
        return i2c, c2i, torch.tensor(x), np.array(y)
    assert check_char_data(as_arrays) is True


def _with(change):
    def student(text, seq_length):
        return change(*char_data(text, seq_length), text, seq_length)
    return student


def test_char_data_rejects_sorted_vocabulary(capsys):
    def sorted_vocab(text, seq_length):
        idx2char = sorted(set(text))
        char2idx = {c: i for i, c in enumerate(idx2char)}
        idx = [char2idx[c] for c in text]
        starts = range(len(text) - seq_length)
        return idx2char, char2idx, [idx[j:j + seq_length] for j in starts], [idx[j + 1:j + seq_length + 1] for j in starts]
    assert check_char_data(sorted_vocab) is False
    assert "first appearance" in capsys.readouterr().out


def test_char_data_rejects_swapped_x_and_y(capsys):
    assert check_char_data(_with(lambda i2c, c2i, x, y, *_: (i2c, c2i, y, x))) is False
    assert "swapped" in capsys.readouterr().out


def test_char_data_rejects_unshifted_targets(capsys):
    assert check_char_data(_with(lambda i2c, c2i, x, y, *_: (i2c, c2i, x, x))) is False
    assert "shifted one character on" in capsys.readouterr().out


def test_char_data_rejects_one_run_too_many(capsys):
    def too_many(text, seq_length):
        i2c, c2i, _, _ = char_data(text, seq_length)
        idx = [c2i[c] for c in text] + [0]
        starts = range(len(text) - seq_length + 1)
        return i2c, c2i, [idx[j:j + seq_length] for j in starts], [idx[j + 1:j + seq_length + 1] for j in starts]
    assert check_char_data(too_many) is False
    assert "has no next character" in capsys.readouterr().out


def test_char_data_rejects_the_slides_single_run_for_every_length(capsys):
    def single(text, seq_length):
        i2c, c2i, _, _ = char_data(text, seq_length)
        idx = [c2i[c] for c in text]
        return i2c, c2i, [idx[:-1]], [idx[1:]]
    assert check_char_data(single) is False
    assert "runs, expected" in capsys.readouterr().out


def test_char_data_rejects_flat_index_lists(capsys):
    assert check_char_data(_with(lambda i2c, c2i, x, y, *_: (i2c, c2i, x[0], y[0]))) is False
    assert "lists of runs" in capsys.readouterr().out


def test_char_data_rejects_missing_characters(capsys):
    assert check_char_data(_with(lambda i2c, c2i, x, y, *_: ([c for c in i2c if c != " "], c2i, x, y))) is False
    assert "one entry per distinct character" in capsys.readouterr().out


def test_char_data_rejects_a_wrong_dictionary(capsys):
    assert check_char_data(_with(lambda i2c, c2i, x, y, *_: (i2c, {c: i + 1 for c, i in c2i.items()}, x, y))) is False
    assert "inverse of idx2char" in capsys.readouterr().out


def test_char_data_rejects_a_hard_coded_hihello():
    assert check_char_data(lambda text, k: char_data("hihello", 6)) is False


def test_char_data_stored_answers_must_belong_to_its_cases(tmp_path, monkeypatch, capsys):
    data = json.loads((store.EXPECTED_DIR / "08_recurrent_networks.json").read_text())
    data["exercises"]["char_data"]["inputs"] = "0" * 64
    (tmp_path / "08_recurrent_networks.json").write_text(json.dumps(data))
    monkeypatch.setattr(store, "EXPECTED_DIR", tmp_path)
    assert check_char_data(char_data) is False
    assert "cannot run" in capsys.readouterr().out


# ---- check_rnn_cell ---------------------------------------------------------------------------

def test_rnn_cell_accepts_reference(capsys):
    assert check_rnn_cell(rnn_cell) is True
    assert "[OK] rnn_cell" in capsys.readouterr().out


def test_rnn_cell_rejects_missing_tanh(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: x @ Wi.T + bi + h @ Wh.T + bh) is False
    assert "tanh" in capsys.readouterr().out


def test_rnn_cell_rejects_ignoring_the_previous_state(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi.T + bi + bh)) is False
    assert "previous hidden state" in capsys.readouterr().out


def test_rnn_cell_rejects_relu(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.relu(x @ Wi.T + bi + h @ Wh.T + bh)) is False
    assert "not ReLU" in capsys.readouterr().out


def test_rnn_cell_rejects_no_bias(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi.T + h @ Wh.T)) is False
    assert "both biases" in capsys.readouterr().out


def test_rnn_cell_names_a_missing_b_hh(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi.T + bi + h @ Wh.T)) is False
    out = capsys.readouterr().out
    assert "b_hh is missing" in out and "@" not in out.split("hint:")[1]   # named, not the formula repeated


def test_rnn_cell_names_a_missing_b_ih(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi.T + h @ Wh.T + bh)) is False
    assert "b_ih is missing" in capsys.readouterr().out


@pytest.mark.parametrize("student", [
    lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi + bi + h @ Wh + bh),    # both untransposed
    lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi + bi + h @ Wh.T + bh),  # the input weight untransposed
], ids=["both", "W_ih"])
def test_rnn_cell_explains_an_untransposed_weight(student, capsys):
    assert check_rnn_cell(student) is False
    out = capsys.readouterr().out
    assert "transposed" in out and "stored as in nn.RNN" in out
    assert "shapes cannot be multiplied" not in out.split("hint:")[-1]


def test_rnn_cell_explains_the_shape_error_of_an_untransposed_weight(capsys):
    """On a case with input size != hidden size the product fails: the hint says why, not only torch's message."""
    def untransposed_unless_square(x, h, Wi, Wh, bi, bh):
        if Wi.shape[0] == Wi.shape[1]:
            return torch.tanh(x @ Wi.T + bi + h @ Wh.T + bh)   # right on the square case, so that the next one
        return torch.tanh(x @ Wi + bi + h @ Wh.T + bh)          # (input 4, hidden 5) raises
    assert check_rnn_cell(untransposed_unless_square) is False
    out = capsys.readouterr().out
    assert "shapes cannot be multiplied" in out and "hint: the weights are stored as in nn.RNN" in out


def test_rnn_cell_names_an_untransposed_recurrent_weight(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi.T + bi + h @ Wh + bh)) is False
    assert "W_hh is used untransposed" in capsys.readouterr().out


def test_rnn_cell_hints_never_repeat_the_formula(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(0.5 * (x @ Wi.T + bi + h @ Wh.T + bh))) is False
    out = capsys.readouterr().out
    assert "section 3's formula" in out and "W_ih.T" not in out


# ---- check_rnn_forward ------------------------------------------------------------------------

def test_rnn_forward_accepts_reference(capsys):
    assert check_rnn_forward(rnn_forward) is True
    assert "[OK] rnn_forward" in capsys.readouterr().out


def test_rnn_forward_accepts_h_with_a_layer_dimension():
    def layered(*args):
        out, h = rnn_forward(*args)
        return out, h.unsqueeze(0)
    assert check_rnn_forward(layered) is True


def test_rnn_forward_rejects_not_carrying_the_state(capsys):
    def no_carry(X, h0, *w):
        outs = [rnn_cell(X[:, t], h0, *w) for t in range(X.shape[1])]
        return torch.stack(outs, dim=1), outs[-1]
    assert check_rnn_forward(no_carry) is False
    assert "carry the state" in capsys.readouterr().out


def test_rnn_forward_rejects_time_first_outputs(capsys):
    def time_first(*args):
        out, h = rnn_forward(*args)
        return out.transpose(0, 1).contiguous(), h
    assert check_rnn_forward(time_first) is False
    assert "(batch, time, hidden)" in capsys.readouterr().out


def test_rnn_forward_rejects_wrong_last_state(capsys):
    def first_state(*args):
        out, _ = rnn_forward(*args)
        return out, out[:, 0]
    assert check_rnn_forward(first_state) is False
    assert "after the last step" in capsys.readouterr().out


# ---- check_make_windows -----------------------------------------------------------------------

def test_make_windows_accepts_reference(capsys):
    assert check_make_windows(make_windows) is True
    assert "[OK] make_windows" in capsys.readouterr().out


def test_make_windows_accepts_tensors():
    def as_tensors(series, window=5):
        X, y = make_windows(series, window)
        return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    assert check_make_windows(as_tensors) is True


def test_make_windows_rejects_missing_feature_dimension(capsys):
    assert check_make_windows(lambda s, w=5: (make_windows(s, w)[0][:, :, 0], make_windows(s, w)[1])) is False
    assert "feature dimension" in capsys.readouterr().out


def test_make_windows_rejects_last_value_inside_window_as_target(capsys):
    def inside(series, window=5):
        X, _ = make_windows(series, window)
        return X, np.asarray(series, dtype=float)[window - 1:-1]
    assert check_make_windows(inside) is False
    assert "last value inside the window" in capsys.readouterr().out


def test_make_windows_rejects_hard_coded_slide_data():
    slide = (np.array([[[(i + j) / 100] for i in range(5)] for j in range(100)]),
             np.array([(i + 5) / 100 for i in range(100)]))
    assert check_make_windows(lambda s, w=5: slide) is False


# ---- check_fit_lstm -----------------------------------------------------------------------------

def test_fit_lstm_accepts_reference(capsys):
    assert check_fit_lstm(fit_lstm) is True
    assert "[OK] fit_lstm" in capsys.readouterr().out


def test_fit_lstm_accepts_numpy_floats_and_a_tuple():
    assert check_fit_lstm(lambda *args: tuple(np.float64(v) for v in fit_lstm(*args))) is True


@pytest.mark.parametrize("mistake,words", [
    ("no zero_grad", "pile up"),
    ("no train()", "lstm.train()"),
    ("loss tensor", "loss.item()"),
    ("summed loss", "not its sum"),
    ("no clipping", "unclipped"),
    ("mean over batches", "weight each batch's loss by its number of windows"),
])
def test_fit_lstm_names_each_classic_mistake(mistake, words, capsys):
    assert check_fit_lstm(lambda *args: fit_lstm(*args, mistake=mistake)) is False
    assert words in capsys.readouterr().out


def test_fit_lstm_counts_the_steps(capsys):
    def last_batch_dropped(lstm, X, y, optimizer, num_epochs, batch_size, max_norm):
        keep = len(X) // batch_size * batch_size
        return fit_lstm(lstm, X[:keep], y[:keep], optimizer, num_epochs, batch_size, max_norm)
    assert check_fit_lstm(last_batch_dropped) is False
    assert "one optimizer.step() per mini-batch" in capsys.readouterr().out


def test_fit_lstm_rejects_a_hard_coded_history():
    assert check_fit_lstm(lambda lstm, X, y, opt, epochs, *rest: [0.1] * epochs) is False


def test_fit_lstm_leaves_the_notebooks_random_state_alone():
    torch.manual_seed(0)
    check_fit_lstm(fit_lstm)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
