"""A self-check names a mistake only when its cases tell the mistakes apart (issue 15).

Two kinds of case, one row each:

* ``named``: the wrong variant a check names (its ``hint``), written out as a student would; the check must fail
  it and print that hint;
* ``confused``: another plausible mistake that gives the same number as a named one on the first case where it
  fails; the check must fail it WITHOUT naming the other mistake (the issue's example: lab 01's
  ``(n - k) // s + 1``, padding forgotten, was told "you forgot the + 1").

A row that cannot pass yet may carry an ``xfail(strict=True)`` reason (its last column); none does now: the three
that did (lab 02's 20 channels, lab 04's prediction without bias and frozen bias) are fixed, the lab 04 checks
naming a mistake only when every wrong case shows it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import architectures_detection as lab11
from labhelpers.checks import backprop_by_hand as lab06
from labhelpers.checks import cnn_arithmetic as lab01
from labhelpers.checks import colab_gpu_setup as lab00
from labhelpers.checks import gan_mnist as lab09
from labhelpers.checks import perceptron_mlp_xor as lab04
from labhelpers.checks import recurrent_networks as lab08
from labhelpers.checks import regression_classification as lab05
from labhelpers.checks import training_tricks as lab07
from labhelpers.checks import week13_imagenet as lab03
from labhelpers.checks import week13_mnist as lab02


# ----------------------------------------------------------------------------- lab 00
def _outer_difference(a, b):
    return a[:, None] - b[None, :]


def _reshape_copy(x):
    return x.reshape(2, 8).clone()


def _reshape_transposed(x):
    return x.reshape(8, 2).T


def _roundtrip_float64(x):
    a = x.numpy().astype(np.float64)
    return a, torch.from_numpy(a)


def _roundtrip_copies(x):
    a = np.array(x.numpy())
    return a, torch.tensor(a)


def _value_not_derivative(f, x0):
    return float(f(torch.tensor(float(x0))))


def _autograd(X, y, w, scale=1.0):
    w = w.detach().clone().requires_grad_(True)
    (scale * ((X @ w - y) ** 2).sum()).backward()
    return w.grad


# ----------------------------------------------------------------------------- lab 01
def _correlate(X, kernel, pad, stride, flip=False):
    X = np.pad(X, pad)
    k = kernel[::-1, ::-1] if flip else kernel
    kh, kw = k.shape
    out = np.zeros(((X.shape[0] - kh) // stride + 1, (X.shape[1] - kw) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (X[i * stride:i * stride + kh, j * stride:j * stride + kw] * k).sum()
    return out


def _pool(X, size, stride, reduce=np.mean):
    out = np.zeros(((X.shape[0] - size) // stride + 1, (X.shape[1] - size) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = reduce(X[i * stride:i * stride + size, j * stride:j * stride + size])
    return out


# ----------------------------------------------------------------------------- lab 04
def _predict(X, w, rule=lambda s: s > 0):
    return rule(w[0] + X @ w[1:]).to(X.dtype)


def _train(X, y, num_epochs, lr, bias=True, update=True):
    w = torch.zeros(X.shape[1] + 1, dtype=X.dtype)
    for _ in range(num_epochs):
        for x, target in zip(X, y):
            row = torch.cat([torch.ones(1, dtype=X.dtype), x])
            step = lr * (target - (w @ row > 0).to(X.dtype)) * row
            if not bias:
                step[0] = 0
            if update:
                w = w + step
    return w


def _grad_norms(model, X, y, zero=True, reduction="mean"):
    if zero:
        model.zero_grad()
    F.binary_cross_entropy(model(X), y, reduction=reduction).backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]


# ----------------------------------------------------------------------------- lab 05
def _mse(X, y, W, b, factor=2.0, mean=True, sign=1.0):
    e = X @ W + b - y
    m = len(X) if mean else 1
    return sign * factor * X.T @ e / m, sign * factor * e.sum(axis=0) / m


def _stable_lr(X, kind="right"):
    Xt = np.hstack([X, np.ones((len(X), 1))]) if kind != "no bias" else X
    H = (2.0 / len(X) if kind != "no 2/m" else 1.0) * Xt.T @ Xt
    lam = float(np.linalg.eigvalsh(H).max())
    return {"right": 2 / lam, "no bias": 2 / lam, "no 2/m": 2 / lam, "1/lambda": 1 / lam, "lambda": lam}[kind]


def _bce(X, y, W, b, sign=1.0, mean=True):
    p = 1 / (1 + np.exp(-(X @ W + b)))
    m = len(X) if mean else 1
    return sign * X.T @ (p - y) / m, sign * (p - y).sum(axis=0) / m


def _softmax_columns(Z):
    e = torch.exp(Z - Z.max(dim=0, keepdim=True).values)
    return e / e.sum(dim=0, keepdim=True)


def _error_ce(P, y, accuracy=False, log=torch.log, sign=1.0, mean=True, true_class=True):
    pred = P.argmax(dim=1)
    error = float((pred == y).double().mean()) if accuracy else float((pred != y).double().mean())
    chosen = P[torch.arange(len(y)), y] if true_class else P.max(dim=1).values
    total = -sign * log(chosen)
    return error, float(total.mean() if mean else total.sum())


# ----------------------------------------------------------------------------- lab 06
def _neuron(w, x, switched=True):
    f = torch.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    dz = (1 - f) * f
    if switched:
        return f, torch.stack([x[0] * dz, x[1] * dz, dz]), torch.stack([w[0] * dz, w[1] * dz])
    return f, torch.stack([w[0] * dz, w[1] * dz, dz]), torch.stack([x[0] * dz, x[1] * dz])


def _numerical(f, x, h, central=False, restore=True):
    grad = torch.zeros_like(x)
    flat, out = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = float(flat[i])
        flat[i] = old + h
        up = float(f(x))
        flat[i] = old - h if central else old
        down = float(f(x))
        out[i] = (up - down) / (2 * h if central else h)
        if restore:
            flat[i] = old
        else:
            flat[i] = old + h
    return grad


# ----------------------------------------------------------------------------- lab 07
def _momentum(W, V, grad, lr, beta, kind):
    if kind == "plain":
        V = -lr * grad
        return W + V, V
    if kind == "sign":
        V = beta * V + lr * grad
        return W + V, V
    buffer = beta * V + grad                              # torch's buffer returned as V
    return W - lr * buffer, buffer


def _adagrad(W, n, grad, lr, eps, kind):
    if kind == "not summed":
        n = grad ** 2
        return W - lr * grad / torch.sqrt(n + eps), n
    if kind == "not squared":
        n = n + grad
        return W - lr * grad / torch.sqrt(n + eps), n
    if kind == "old n":
        return W - lr * grad / torch.sqrt(n + eps), n + grad ** 2
    n = n + grad ** 2
    if kind == "no sqrt":
        return W - lr * grad / (n + eps), n
    return W - lr * grad, n                               # plain SGD


def _dropout(X, p, training, keep=False, scale=True):
    if not training:
        return X
    mask = (torch.rand_like(X) < p) if keep else (torch.rand_like(X) >= p)
    kept = p if keep else 1 - p
    return X * mask / (kept if scale else 1.0)


def _kaiming(m, mode="fan_out", normal=False):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        (nn.init.kaiming_normal_ if normal else nn.init.kaiming_uniform_)(m.weight, mode=mode)


# ----------------------------------------------------------------------------- lab 08
def _rnn_no_carry(X, h0, W_ih, W_hh, b_ih, b_hh):
    states = [torch.tanh(X[:, t] @ W_ih.T + b_ih + h0 @ W_hh.T + b_hh) for t in range(X.shape[1])]
    outputs = torch.stack(states, dim=1)
    return outputs, outputs[:, -1]


def _windows(series, window, feature=True, target_inside=False):
    N = len(series) - window
    X = np.stack([series[j:j + window] for j in range(N)])
    y = np.array([series[j + window - 1] if target_inside else series[j + window] for j in range(N)])
    return (X[..., None] if feature else X), y


# ----------------------------------------------------------------------------- lab 09
def _logit_grads(a, kind):
    D = torch.sigmoid(a)
    if kind == "sign":
        return D, -(D - 1)                                # both signs flipped
    return -1 / (1 - D), -1 / D                           # d/dD, not d/da


def _normal_init(layer, std):
    with torch.no_grad():
        layer.weight.normal_(0.0, std(*layer.weight.shape[::-1]))
        layer.bias.zero_()


# ----------------------------------------------------------------------------- lab 11
def _iou_unclamped(b1, b2):
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = torch.minimum(b1[:, None, 2:], b2[None, :, 2:])
    wh = rb - lt                                          # not clamped at 0
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def _nms_sorted_by_index(boxes, scores, iou_threshold):
    import torchvision
    return torch.sort(torchvision.ops.nms(boxes, scores, iou_threshold)).values


# ----------------------------------------------------------------------------- lab 02 and 03
def _flat(image_size, kind):
    side = ((image_size - 4) // 2 - 4) // 2
    return {"no channels": side * side, "20 channels": 20 * side * side, "side": 50 * side}[kind]


def _per_class(output, target, kind):
    pred = output.argmax(dim=1)
    if kind == "broadcast":
        return [int(((pred[:, None] == target) & (target == c)).sum()) for c in range(10)]
    if kind == "all":
        return [int((target == c).sum()) for c in range(10)]
    return [int((pred == c).sum()) for c in range(10)]


def _top5(logits, kind):
    if kind == "reversed":
        probs = torch.softmax(logits, dim=-1)
        values, indices = torch.topk(probs, 5, largest=True)
        return list(zip(indices.tolist()[::-1], values.tolist()[::-1]))
    values, indices = torch.topk(logits if kind == "logits" else torch.log_softmax(logits, dim=-1), 5)
    return list(zip(indices.tolist(), values.tolist()))


ROWS = [
    # (id, check, its argument, text the hint must hold, text it must not hold, xfail reason or None)
    ("00-broadcast-subtracts", lab00.check_broadcast_sum, _outer_difference, "a[i] - b[j]", None, None),
    ("00-reshape-copies", lab00.check_reshape, _reshape_copy, "use .view(...)", None, None),
    ("00-reshape-transposes", lab00.check_reshape, _reshape_transposed, "row-major order", None, None),
    ("00-roundtrip-float64", lab00.check_numpy_roundtrip, _roundtrip_float64, "keep the dtype", None, None),
    ("00-roundtrip-copies", lab00.check_numpy_roundtrip, _roundtrip_copies, "no np.array(...)", None, None),
    ("00-derivative-is-f", lab00.check_derivative, _value_not_derivative, "that is f(x0) itself", None, None),
    ("00-grad-half", lab00.check_autograd_grad, lambda X, y, w: _autograd(X, y, w, 0.5), "half the gradient",
     None, None),
    ("00-grad-sign", lab00.check_autograd_grad, lambda X, y, w: _autograd(X, y, w, -1.0), "sign is flipped",
     None, None),
    ("00-grad-mean-confused", lab00.check_autograd_grad, lambda X, y, w: _autograd(X, y, w, 1 / len(X)), None,
     "half the gradient", None),

    ("01-size-no-plus-one", lab01.check_conv_output_size, lambda n, k, p, s: (n + 2 * p - k) // s,
     "you forgot the + 1", None, None),
    ("01-size-one-sided-padding", lab01.check_conv_output_size, lambda n, k, p, s: (n + p - k) // s + 1,
     "added on both sides", None, None),
    ("01-size-ceil", lab01.check_conv_output_size, lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1,
     "round down (floor)", None, None),
    ("01-size-no-padding", lab01.check_conv_output_size, lambda n, k, p, s: (n - k) // s + 1,
     "you left out the padding", None, None),
    ("01-size-no-stride", lab01.check_conv_output_size, lambda n, k, p, s: n + 2 * p - k + 1,
     "the stride is missing", None, None),
    # the example: on (5, 3, 1, 2) padding left out, the + 1 left out and one-sided padding all give 2
    ("01-size-no-padding-confused", lab01.check_conv_output_size, lambda n, k, p, s: (n - k) // s + 1,
     None, "you forgot the + 1", None),
    ("01-size-two-mistakes-named-neither", lab01.check_conv_output_size, lambda n, k, p, s: (n - k) // s,
     "o = floor((n + 2p - k) / s) + 1", "you", None),
    ("01-conv-no-flip", lab01.check_conv2d, _correlate, "rotate the kernel by 180 degrees", None, None),
    ("01-pool-average", lab01.check_max_pool2d, _pool, "that is average pooling", None, None),
    ("01-params-no-bias", lab01.check_conv_params, lambda ci, co, k, bias=True: k * k * ci * co,
     "add the biases", None, None),
    ("01-params-bias-anyway", lab01.check_conv_params, lambda ci, co, k, bias=True: (k * k * ci + 1) * co,
     "with bias=False there are only the weights", None, None),
    ("01-params-one-filter", lab01.check_conv_params, lambda ci, co, k, bias=True: k * k * ci + int(bias),
     "that is one filter", None, None),
    ("01-params-no-in-channels", lab01.check_conv_params, lambda ci, co, k, bias=True: (k * k + int(bias)) * co,
     "spans all in_channels", None, None),

    ("02-flat-no-channels", lab02.check_flat_size, lambda n: _flat(n, "no channels"), "multiply by the 50 channels",
     None, None),
    ("02-flat-20-channels", lab02.check_flat_size, lambda n: _flat(n, "20 channels"), "50 output channels, not 20",
     None, None),
    ("02-flat-side-not-squared", lab02.check_flat_size, lambda n: _flat(n, "side"), "the feature map is square",
     None, None),
    ("02-per-class-broadcast", lab02.check_correct_per_class, lambda o, t: _per_class(o, t, "broadcast"),
     "broadcasts to (B, B)", None, None),
    ("02-per-class-all-images", lab02.check_correct_per_class, lambda o, t: _per_class(o, t, "all"),
     "counted every image of each class", None, None),
    ("02-per-class-predictions", lab02.check_correct_per_class, lambda o, t: _per_class(o, t, "pred"),
     "counted the predictions of each class", None, None),

    ("03-top5-reversed", lab03.check_top5, lambda z: _top5(z, "reversed"), "largest first", None, None),
    ("03-top5-logits", lab03.check_top5, lambda z: _top5(z, "logits"), "these are logits", None, None),
    ("03-top5-log-probabilities", lab03.check_top5, lambda z: _top5(z, "log"), "log-probabilities", None, None),

    ("04-predict-ge", lab04.check_perceptron_predict, lambda X, w: _predict(X, w, lambda s: s >= 0),
     "strictly", None, None),
    ("04-predict-inverted", lab04.check_perceptron_predict, lambda X, w: _predict(X, w, lambda s: s <= 0),
     "not the other way round", None, None),
    # on the slide's case (w = (-1, 1, 1)) leaving out the bias and `>= 0` give the same four outputs
    ("04-predict-no-bias-confused", lab04.check_perceptron_predict, lambda X, w: (X @ w[1:] > 0).to(X.dtype),
     None, "a sum of exactly 0 gives 0", None),
    ("04-train-no-update", lab04.check_train_perceptron, lambda X, y, e, lr: _train(X, y, e, lr, update=False),
     "w is still all zeros", None, None),
    ("04-train-bias-frozen", lab04.check_train_perceptron, lambda X, y, e, lr: _train(X, y, e, lr, bias=False),
     "update the bias w[0] too", None, None),
    ("04-norms-no-zero-grad", lab04.check_layer_gradient_norms, lambda m, X, y: _grad_norms(m, X, y, zero=False),
     "reset them first", None, None),
    ("04-norms-sum", lab04.check_layer_gradient_norms, lambda m, X, y: _grad_norms(m, X, y, reduction="sum"),
     "MEAN binary cross-entropy", None, None),

    ("05-mse-no-factor-2", lab05.check_mse_gradients, lambda X, y, W, b: _mse(X, y, W, b, factor=1.0),
     "factor 2 is missing", None, None),
    ("05-mse-sum", lab05.check_mse_gradients, lambda X, y, W, b: _mse(X, y, W, b, mean=False), "divide by m",
     None, None),
    ("05-mse-sign", lab05.check_mse_gradients, lambda X, y, W, b: _mse(X, y, W, b, sign=-1.0), "wrong sign",
     None, None),
    ("05-lr-1-over-lambda", lab05.check_max_stable_lr, lambda X: _stable_lr(X, "1/lambda"),
     "2 / lambda_max, not 1 / lambda_max", None, None),
    ("05-lr-lambda", lab05.check_max_stable_lr, lambda X: _stable_lr(X, "lambda"), "lambda_max itself", None, None),
    ("05-lr-no-2-over-m", lab05.check_max_stable_lr, lambda X: _stable_lr(X, "no 2/m"), "factor 2/m", None, None),
    ("05-lr-no-bias", lab05.check_max_stable_lr, lambda X: _stable_lr(X, "no bias"), "the bias is a parameter",
     None, None),
    ("05-bce-sign", lab05.check_bce_gradients, lambda X, y, W, b: _bce(X, y, W, b, sign=-1.0), "wrong sign",
     None, None),
    ("05-bce-sum", lab05.check_bce_gradients, lambda X, y, W, b: _bce(X, y, W, b, mean=False), "divide by m",
     None, None),
    ("05-softmax-columns", lab05.check_softmax, _softmax_columns, "normalise each ROW", None, None),
    ("05-error-is-accuracy", lab05.check_error_rate_and_cross_entropy, lambda P, y: _error_ce(P, y, accuracy=True),
     "that is the accuracy", None, None),
    ("05-ce-log10", lab05.check_error_rate_and_cross_entropy, lambda P, y: _error_ce(P, y, log=torch.log10),
     "natural log", None, None),
    ("05-ce-sign", lab05.check_error_rate_and_cross_entropy, lambda P, y: _error_ce(P, y, sign=-1.0),
     "MINUS the mean", None, None),
    ("05-ce-sum", lab05.check_error_rate_and_cross_entropy, lambda P, y: _error_ce(P, y, mean=False),
     "not the sum", None, None),
    ("05-ce-largest", lab05.check_error_rate_and_cross_entropy, lambda P, y: _error_ce(P, y, true_class=False),
     "TRUE class y_i in each row", None, None),

    ("06-neuron-not-switched", lab06.check_neuron_backward, lambda w, x: _neuron(w, x, switched=False),
     "SWITCHES", None, None),
    ("06-numerical-one-sided", lab06.check_numerical_gradient, lambda f, x, h: _numerical(f, x, h), "CENTRAL",
     None, None),
    ("06-numerical-not-restored", lab06.check_numerical_gradient,
     lambda f, x, h: _numerical(f, x, h, central=True, restore=False), "put every entry back", None, None),

    ("07-momentum-plain", lab07.check_momentum_step, lambda W, V, g, lr, b: _momentum(W, V, g, lr, b, "plain"),
     "like plain SGD", None, None),
    ("07-momentum-sign", lab07.check_momentum_step, lambda W, V, g, lr, b: _momentum(W, V, g, lr, b, "sign"),
     "wrong sign", None, None),
    ("07-momentum-buffer", lab07.check_momentum_step, lambda W, V, g, lr, b: _momentum(W, V, g, lr, b, "buffer"),
     "PyTorch's buffer", None, None),
    ("07-adagrad-not-summed", lab07.check_adagrad_step, lambda W, n, g, lr, e: _adagrad(W, n, g, lr, e, "not summed"),
     "running SUM", None, None),
    ("07-adagrad-not-squared", lab07.check_adagrad_step,
     lambda W, n, g, lr, e: _adagrad(W, n, g, lr, e, "not squared"), "square the gradient", None, None),
    ("07-adagrad-old-n", lab07.check_adagrad_step, lambda W, n, g, lr, e: _adagrad(W, n, g, lr, e, "old n"),
     "update n first", None, None),
    ("07-adagrad-no-sqrt", lab07.check_adagrad_step, lambda W, n, g, lr, e: _adagrad(W, n, g, lr, e, "no sqrt"),
     "square root of n", None, None),
    ("07-adagrad-plain", lab07.check_adagrad_step, lambda W, n, g, lr, e: _adagrad(W, n, g, lr, e, "plain"),
     "that is plain SGD", None, None),
    ("07-dropout-keep-probability", lab07.check_dropout, lambda X, p, t: _dropout(X, p, t, keep=True),
     "probability of DROPPING", None, None),
    ("07-dropout-not-scaled", lab07.check_dropout, lambda X, p, t: _dropout(X, p, t, scale=False),
     "kept the survivors as they were", None, None),
    ("07-init-fan-out", lab07.check_init_weights, lambda m: _kaiming(m, "fan_out"), "mode='fan_in'", None, None),
    ("07-init-normal", lab07.check_init_weights, lambda m: _kaiming(m, "fan_in", normal=True), "kaiming_normal_",
     None, None),

    ("08-rnn-no-carry", lab08.check_rnn_forward, _rnn_no_carry, "carry the state", None, None),
    ("08-windows-no-feature", lab08.check_make_windows, lambda s, w: _windows(s, w, feature=False),
     "add the feature dimension", None, None),
    ("08-windows-target-inside", lab08.check_make_windows, lambda s, w: _windows(s, w, target_inside=True),
     "last value inside the window", None, None),

    ("09-logit-grads-sign", lab09.check_logit_gradients, lambda a: _logit_grads(a, "sign"), "wrong sign", None,
     None),
    ("09-logit-grads-dD", lab09.check_logit_gradients, lambda a: _logit_grads(a, "dD"),
     "derivative with respect to D", None, None),
    ("09-glorot-fan-out", lab09.check_glorot_init,
     lambda layer: _normal_init(layer, lambda n_in, n_out: 1 / math.sqrt(n_out / 2)), "you used fan_out", None, None),
    ("09-glorot-no-sqrt", lab09.check_glorot_init,
     lambda layer: _normal_init(layer, lambda n_in, n_out: 1 / (n_in / 2)), "square root is missing", None, None),
    ("09-glorot-textbook", lab09.check_glorot_init,
     lambda layer: _normal_init(layer, lambda n_in, n_out: math.sqrt(2 / (n_in + n_out))), "textbook Glorot",
     None, None),

    ("11-iou-unclamped", lab11.check_iou, _iou_unclamped, "clamp the intersection", None, None),
    ("11-nms-order", lab11.check_nms, _nms_sorted_by_index, "from the highest score down", None, None),
]


def _row(row):
    ident, check, answer, says, never, xfail = row
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(check, answer, says, never, id=ident, marks=marks)


def _hint(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip().startswith("hint:")]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("check, answer, says, never", [_row(r) for r in ROWS])
def test_a_named_mistake_gets_its_hint_and_no_other(check, answer, says, never, capsys, monkeypatch):
    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    assert check(answer) is False
    out = capsys.readouterr().out
    assert "[FAIL]" in out, out
    hint = _hint(out)
    if says is not None:
        assert says in hint, out
    if never is not None:
        assert never not in hint, out


def test_every_row_names_a_check_of_the_kit():
    assert len({r[0] for r in ROWS}) == len(ROWS)
    assert all(r[1].__name__.startswith("check_") for r in ROWS)
