"""Tests for labhelpers.checks.perceptron_mlp_xor: each check passes a correct answer and fails wrong ones.

Three checks compare with the solution's stored answers (labhelpers/checks/expected/04_perceptron_mlp_xor.json),
so these tests also prove that the stored file is current and right. (Not implemented, raising and None
answers, and skipping while graded: tests/labhelpers/checks/test_contract.py.)
"""
import torch
from torch import nn

from labhelpers.checks.perceptron_mlp_xor import (check_activation_derivatives, check_layer_gradient_norms, check_perceptron_predict,
                                   check_train_perceptron, check_xor_weights)


# ---- reference answers (what the solution notebook does) ------------------------------------

def perceptron_predict(X, w):
    return (X @ w[1:] + w[0] > 0).float()


def train_perceptron(X, y, num_epochs=10, lr=1.0):
    Xb = torch.cat([torch.ones(len(X), 1, dtype=X.dtype), X], dim=1)
    w = torch.zeros(Xb.shape[1], dtype=torch.float64)
    for _ in range(num_epochs):
        for xb, target in zip(Xb.double(), y.double()):
            y_hat = 1.0 if float(w @ xb) > 0 else 0.0
            w = w + lr * (target - y_hat) * xb
    return w


def activation_derivatives(z):
    s, t = torch.sigmoid(z), torch.tanh(z)
    return {"sigmoid": s * (1 - s), "tanh": 1 - t**2, "relu": (z > 0).to(z.dtype),
            "leaky_relu": torch.where(z > 0, 1.0, 0.1).to(z.dtype),
            "elu": torch.where(z > 0, torch.ones_like(z), torch.exp(z))}


def xor_weights():
    W1 = torch.tensor([[1.0, -1.0], [1.0, -1.0]])  # column 0: OR, column 1: NAND
    b1 = torch.tensor([-0.5, 1.5])
    W2 = torch.tensor([[1.0], [1.0]])              # AND of the two hidden units
    b2 = torch.tensor([-1.5])
    return W1, b1, W2, b2


def layer_gradient_norms(model, X, y):
    model.zero_grad()
    nn.functional.binary_cross_entropy(model(X), y).backward()
    return [m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)]


# ---- check_perceptron_predict ---------------------------------------------------------------

def test_perceptron_predict_accepts_reference(capsys):
    assert check_perceptron_predict(perceptron_predict) is True
    assert "[OK] perceptron_predict" in capsys.readouterr().out


def test_perceptron_predict_rejects_greater_or_equal(capsys):
    assert check_perceptron_predict(lambda X, w: (X @ w[1:] + w[0] >= 0).float()) is False
    assert "strictly" in capsys.readouterr().out


def test_perceptron_predict_rejects_missing_bias():
    assert check_perceptron_predict(lambda X, w: (X @ w[1:] > 0).float()) is False


def test_perceptron_predict_rejects_column_shape():
    assert check_perceptron_predict(lambda X, w: perceptron_predict(X, w)[:, None]) is False


# ---- check_train_perceptron -------------------------------------------------------------------

def test_train_perceptron_accepts_reference():
    assert check_train_perceptron(train_perceptron) is True


def test_train_perceptron_rejects_one_epoch_only():
    assert check_train_perceptron(lambda X, y, num_epochs=10, lr=1.0: train_perceptron(X, y, 1, lr)) is False


def test_train_perceptron_rejects_ignoring_lr():
    assert check_train_perceptron(lambda X, y, num_epochs=10, lr=1.0: train_perceptron(X, y, num_epochs)) is False


# ---- check_activation_derivatives -------------------------------------------------------------

def test_activation_derivatives_accepts_reference():
    assert check_activation_derivatives(activation_derivatives) is True


def test_activation_derivatives_rejects_sigmoid_itself(capsys):
    def wrong(z):
        d = activation_derivatives(z)
        d["sigmoid"] = torch.sigmoid(z)
        return d
    assert check_activation_derivatives(wrong) is False
    assert "sigmoid" in capsys.readouterr().out


def test_activation_derivatives_rejects_pytorch_default_leaky_slope():
    def wrong(z):
        d = activation_derivatives(z)
        d["leaky_relu"] = torch.where(z > 0, 1.0, 0.01).to(z.dtype)
        return d
    assert check_activation_derivatives(wrong) is False


def test_activation_derivatives_rejects_missing_key(capsys):
    def partial(z):
        d = activation_derivatives(z)
        del d["elu"]
        return d
    assert check_activation_derivatives(partial) is False
    assert "elu" in capsys.readouterr().out


# ---- check_xor_weights ------------------------------------------------------------------------

def test_xor_weights_accepts_or_nand_and():
    assert check_xor_weights(xor_weights) is True


def test_xor_weights_accepts_swapped_hidden_units_and_lists():
    W1, b1, W2, b2 = xor_weights()
    assert check_xor_weights(lambda: (W1[:, [1, 0]].tolist(), b1[[1, 0]].tolist(), W2.tolist(), b2.tolist())) is True


def test_xor_weights_rejects_slide_weights_with_other_hidden_gates(capsys):
    slide = (torch.tensor([[5.0, -7.0], [5.0, -7.0]]), torch.tensor([-8.0, 3.0]),
             torch.tensor([[-11.0], [-11.0]]), torch.tensor([6.0]))
    assert check_xor_weights(lambda: slide) is False  # its hidden units are AND and NOR
    assert "AND and NOR" in capsys.readouterr().out


def test_xor_weights_rejects_or_output(capsys):
    W1, b1, W2, _ = xor_weights()
    assert check_xor_weights(lambda: (W1, b1, W2, torch.tensor([-0.5]))) is False
    assert "XOR" in capsys.readouterr().out


def test_xor_weights_rejects_wrong_shapes():
    W1, b1, W2, b2 = xor_weights()
    assert check_xor_weights(lambda: (W1, b1, W2.view(-1), b2)) is False


# ---- check_layer_gradient_norms -----------------------------------------------------------------

def test_layer_gradient_norms_accepts_reference():
    assert check_layer_gradient_norms(layer_gradient_norms) is True


def test_layer_gradient_norms_rejects_accumulated_gradients(capsys):
    def no_reset(model, X, y):
        nn.functional.binary_cross_entropy(model(X), y).backward()
        return [m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)]
    assert check_layer_gradient_norms(no_reset) is False
    assert "zero_grad" in capsys.readouterr().out


def test_layer_gradient_norms_rejects_bias_included():
    def with_bias(model, X, y):
        model.zero_grad()
        nn.functional.binary_cross_entropy(model(X), y).backward()
        return [p.grad.norm().item() for p in model.parameters()]
    assert check_layer_gradient_norms(with_bias) is False


def test_layer_gradient_norms_rejects_sum_loss(capsys):
    def summed(model, X, y):
        model.zero_grad()
        nn.functional.binary_cross_entropy(model(X), y, reduction="sum").backward()
        return [m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)]
    assert check_layer_gradient_norms(summed) is False
    assert "MEAN" in capsys.readouterr().out


def test_perceptron_predict_rejects_inverted_outputs(capsys):
    assert check_perceptron_predict(lambda X, w: (X @ w[1:] + w[0] <= 0).float()) is False
    assert "not the other way round" in capsys.readouterr().out


def test_perceptron_predict_rejects_a_numpy_answer(capsys):
    assert check_perceptron_predict(lambda X, w: perceptron_predict(X, w).numpy()) is False
    assert "torch.Tensor" in capsys.readouterr().out


def test_train_perceptron_reports_a_missing_bias_update(capsys):
    def no_bias(X, y, num_epochs=10, lr=1.0):
        w = train_perceptron(X, y, num_epochs, lr)
        w[0] = 0.0
        return w
    assert check_train_perceptron(no_bias) is False
    assert "update the bias w[0] too" in capsys.readouterr().out


def test_train_perceptron_reports_weights_never_updated(capsys):
    assert check_train_perceptron(lambda X, y, num_epochs=10, lr=1.0: torch.zeros(X.shape[1] + 1)) is False
    assert "still all zeros" in capsys.readouterr().out


def test_train_perceptron_rejects_the_bias_last(capsys):
    def bias_last(X, y, num_epochs=10, lr=1.0):
        w = train_perceptron(X, y, num_epochs, lr)
        return torch.cat([w[1:], w[:1]])
    assert check_train_perceptron(bias_last) is False


def test_activation_derivatives_rejects_tanh_itself(capsys):
    def tanh_itself(z):
        d = activation_derivatives(z)
        d["tanh"] = torch.tanh(z)
        return d
    assert check_activation_derivatives(tanh_itself) is False
    assert "tanh'" in capsys.readouterr().out


def test_layer_gradient_norms_rejects_an_optimiser_step(capsys):
    def steps(model, X, y):
        norms = layer_gradient_norms(model, X, y)
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        return norms
    assert check_layer_gradient_norms(steps) is False
    assert "no optimiser step" in capsys.readouterr().out


def test_layer_gradient_norms_cannot_be_hard_coded():
    assert check_layer_gradient_norms(lambda model, X, y: [1.0] * sum(isinstance(m, nn.Linear) for m in model)) is False


# ---- matrix shapes that do not fit ------------------------------------------------------------

def test_perceptron_predict_explains_a_transposed_product(capsys):
    assert check_perceptron_predict(lambda X, w: (w[1:] @ X + w[0] > 0).float()) is False
    out = capsys.readouterr().out
    assert "mat1 and mat2 shapes cannot be multiplied" in out and "the bias w[0] first" in out, out


def test_perceptron_predict_explains_the_bias_left_in(capsys):
    assert check_perceptron_predict(lambda X, w: (X @ w > 0).float()) is False
    out = capsys.readouterr().out
    assert "size mismatch" in out and "the bias left in" in out, out
