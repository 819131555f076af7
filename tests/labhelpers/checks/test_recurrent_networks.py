"""Tests for labhelpers.checks.recurrent_networks: each check passes a correct answer and fails wrong ones.

check_char_data compares with the solution's stored answers (labhelpers/checks/expected/08_recurrent_networks.json),
so these tests also prove that the stored file is current and right; the others compare with nn.RNNCell, nn.RNN
and NumPy's sliding_window_view. The generic behaviours are tests/labhelpers/checks/test_contract.py's.
"""
import json

import numpy as np
import torch

import labhelpers.checks.store as store
from labhelpers.checks.recurrent_networks import check_char_data, check_make_windows, check_rnn_cell, check_rnn_forward


# ---- reference answers (what the solution notebook does) ------------------------------------

def char_data(sample):
    idx2char = list(dict.fromkeys(sample))
    char2idx = {c: i for i, c in enumerate(idx2char)}
    sample_idx = [char2idx[c] for c in sample]
    return idx2char, char2idx, sample_idx[:-1], sample_idx[1:]


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


# ---- the fixtures match the slides ------------------------------------------------------------

def test_char_data_fixture_matches_the_hihello_slide():
    idx2char, char2idx, x, y = char_data("hihello")
    assert idx2char == ["h", "i", "e", "l", "o"]
    assert x == [0, 1, 0, 2, 3, 3] and y == [1, 0, 2, 3, 3, 4]


def test_make_windows_fixture_matches_the_lstm_slide():
    X, y = make_windows(np.arange(105) / 100, 5)
    slide_x = np.array([[[(i + j) / 100] for i in range(5)] for j in range(100)])
    slide_y = np.array([(i + 5) / 100 for i in range(100)])
    assert np.allclose(X, slide_x) and np.allclose(y, slide_y)


# ---- check_char_data ------------------------------------------------------------------------

def test_char_data_accepts_reference(capsys):
    assert check_char_data(char_data) is True
    assert "[OK] char_data" in capsys.readouterr().out


def test_char_data_accepts_the_slides_nested_lists_and_tensors():
    def nested(sample):
        i2c, c2i, x, y = char_data(sample)
        return i2c, c2i, [x], torch.tensor(y)
    assert check_char_data(nested) is True


def test_char_data_rejects_sorted_vocabulary(capsys):
    def sorted_vocab(sample):
        idx2char = sorted(set(sample))
        char2idx = {c: i for i, c in enumerate(idx2char)}
        idx = [char2idx[c] for c in sample]
        return idx2char, char2idx, idx[:-1], idx[1:]
    assert check_char_data(sorted_vocab) is False
    assert "first appearance" in capsys.readouterr().out


def test_char_data_rejects_swapped_x_and_y(capsys):
    def swapped(sample):
        i2c, c2i, x, y = char_data(sample)
        return i2c, c2i, y, x
    assert check_char_data(swapped) is False
    assert "swapped" in capsys.readouterr().out


def test_char_data_rejects_unshifted_target(capsys):
    def same(sample):
        i2c, c2i, x, _ = char_data(sample)
        return i2c, c2i, x, x
    assert check_char_data(same) is False
    assert "sample_idx[1:]" in capsys.readouterr().out


def test_char_data_rejects_missing_characters(capsys):
    def no_space(sample):
        i2c, c2i, x, y = char_data(sample)
        return [c for c in i2c if c != " "], c2i, x, y
    assert check_char_data(no_space) is False
    assert "one entry per distinct character" in capsys.readouterr().out


def test_char_data_rejects_a_wrong_dictionary(capsys):
    def one_based(sample):
        i2c, c2i, x, y = char_data(sample)
        return i2c, {c: i + 1 for c, i in c2i.items()}, x, y
    assert check_char_data(one_based) is False
    assert "enumerate(idx2char)" in capsys.readouterr().out


def test_char_data_rejects_a_hard_coded_hihello():
    assert check_char_data(lambda s: char_data("hihello")) is False


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


def test_rnn_cell_rejects_a_single_bias(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi.T + h @ Wh.T)) is False
    assert "both biases" in capsys.readouterr().out


def test_rnn_cell_rejects_untransposed_weights(capsys):
    assert check_rnn_cell(lambda x, h, Wi, Wh, bi, bh: torch.tanh(x @ Wi + bi + h @ Wh + bh)) is False
    assert "FAIL" in capsys.readouterr().out


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
