"""Shortcut answers for lab 08: each computes a graded answer through the library routine the exercise asks
students to write by hand (PyTorch's RNN cell and loop, NumPy's and torch's window views, SciPy's Hankel
matrix), reached through getattr with a built string, importlib, sys.modules, functools.partial or map.
Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py).

char_data has no shortcut: no library routine (and no labhelpers function) builds the character tables;
the solution's own tools are dict.fromkeys and a comprehension. fit_lstm's shortcut is labhelpers' own epoch
loop (lh.train_one_epoch) on a wrapper model, with the clipping hidden in an optimizer wrapper."""
import functools
import importlib
import sys

import numpy as np
import torch

LAB = "08_recurrent_networks"


def _nn():
    return importlib.import_module("torch." + "nn")


def cell_via_rnncell(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    cell = getattr(_nn(), "RNN" + "Cell")(W_ih.shape[1], W_ih.shape[0])
    with torch.no_grad():
        for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (W_ih, W_hh, b_ih, b_hh)):
            getattr(cell, name).copy_(w)
        return cell(x_t, h_prev)


def cell_via_rnn_tanh_cell(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return getattr(torch, "rnn_" + "tanh_cell")(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)


def cell_via_partial_vf(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """torch._VF.rnn_tanh_cell (what nn.RNNCell calls), from C through functools.partial and map."""
    step = functools.partial(getattr(sys.modules["torch._VF"], "rnn_tanh" + "_cell"), w_ih=W_ih, w_hh=W_hh,
                             b_ih=b_ih, b_hh=b_hh)
    return next(iter(map(step, [x_t], [h_prev])))


def forward_via_rnn(X, h0, W_ih, W_hh, b_ih, b_hh):
    rnn = getattr(sys.modules["torch.nn"], "R" + "NN")(W_ih.shape[1], W_ih.shape[0], batch_first=True)
    with torch.no_grad():
        for name, w in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), (W_ih, W_hh, b_ih, b_hh)):
            getattr(rnn, name).copy_(w)
        outputs, h_n = rnn(X, h0.unsqueeze(0))
    return outputs, h_n[0]


def forward_via_rnn_tanh(X, h0, W_ih, W_hh, b_ih, b_hh):
    outputs, h_n = getattr(torch, "rnn_" + "tanh")(X, h0.unsqueeze(0), [W_ih, W_hh, b_ih, b_hh], True, 1, 0.0,
                                                  False, False, True)
    return outputs, h_n[0]


def forward_via_cell_loop(X, h0, W_ih, W_hh, b_ih, b_hh):
    """The loop written by hand, but each step through torch.rnn_tanh_cell."""
    cell, h, outputs = getattr(torch, "rnn_tanh" + "_cell"), h0, []
    for t in range(X.shape[1]):
        h = cell(X[:, t], h, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


def windows_via_sliding_window_view(series, window=5):
    view = getattr(importlib.import_module("numpy.lib.stride_" + "tricks"), "sliding_window_" + "view")
    runs = view(np.asarray(series, dtype=float), window + 1)
    return runs[:, :-1, None].copy(), runs[:, -1].copy()


def windows_via_unfold(series, window=5):
    runs = getattr(torch.as_tensor(np.asarray(series, dtype=float)), "un" + "fold")(0, window + 1, 1)
    return runs[:, :-1, None].numpy(), runs[:, -1].numpy()


def windows_via_hankel(series, window=5):
    s = np.asarray(series, dtype=float)
    n = len(s) - window
    runs = getattr(importlib.import_module("scipy.linalg"), "han" + "kel")(s[:n], s[n - 1:])   # (n, window + 1)
    return runs[:, :-1, None], runs[:, -1]


class _Prediction(torch.nn.Module):
    """The time-first LSTM as a model of batch-first windows: (B, T, 1) -> (B, 1), its last layer's final state."""

    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, X):
        return self.lstm(X.transpose(0, 1))[1][0][-1]


class _Clipping:
    """An optimizer that clips the gradients of ``params`` before each step of ``optimizer``."""

    def __init__(self, optimizer, params, max_norm):
        self.optimizer, self.params, self.max_norm = optimizer, list(params), max_norm

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none)

    def step(self):
        torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
        self.optimizer.step()


def fit_via_train_one_epoch(lstm, X, y, optimizer, num_epochs, batch_size, max_norm):
    lh = importlib.import_module("labhelpers")
    model, clipping = _Prediction(lstm), _Clipping(optimizer, lstm.parameters(), max_norm)
    loader = lh.TensorLoader(X, y, batch_size, shuffle=False)
    mse = lambda y_hat, target: torch.nn.functional.mse_loss(y_hat[:, 0], target)  # noqa: E731
    return [getattr(lh, "train_one" + "_epoch")(model, loader, clipping, "cpu", loss_fn=mse)["loss"]
            for _ in range(num_epochs)]


SHORTCUTS = {  # exercise -> [(how, answer)]
    "rnn_cell": [("nn.RNNCell via importlib/getattr", cell_via_rnncell),
                 ("torch.rnn_tanh_cell via getattr", cell_via_rnn_tanh_cell),
                 ("torch._VF.rnn_tanh_cell via sys.modules, functools.partial and map", cell_via_partial_vf)],
    "rnn_forward": [("nn.RNN via sys.modules", forward_via_rnn),
                    ("torch.rnn_tanh via getattr", forward_via_rnn_tanh),
                    ("a loop over torch.rnn_tanh_cell", forward_via_cell_loop)],
    "make_windows": [("numpy sliding_window_view via importlib", windows_via_sliding_window_view),
                     ("torch.Tensor.unfold via getattr", windows_via_unfold),
                     ("scipy.linalg.hankel via importlib", windows_via_hankel)],
    "fit_lstm": [("lh.train_one_epoch on a wrapper model, clipping in the optimizer", fit_via_train_one_epoch)],
}
