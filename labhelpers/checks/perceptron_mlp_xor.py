"""Self-checks for lab 04 (perceptron, MLP and XOR): perceptron, learning rule, activations, XOR, gradients.

Every check builds its own inputs (a private ``torch.Generator``), computes the expected answer
independently (plain loops, NumPy or autograd), calls the student's function through ``attempt``
and prints "expected / received". Hard-coded outputs therefore fail.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from labhelpers.checks import attempt, close, report

__all__ = ["check_perceptron_predict", "check_train_perceptron", "check_activation_derivatives",
           "check_xor_weights", "check_layer_gradient_norms"]

LEAKY_SLOPE = 0.1  # the slides' leaky ReLU max(0.1x, x)
ELU_ALPHA = 1.0


def _is_tensor(name: str, value: object) -> bool:
    """Report a failure and return False unless ``value`` is a torch tensor."""
    if isinstance(value, torch.Tensor):
        return True
    return report(name, False, expected="a torch.Tensor", received=type(value).__name__,
                  hint="return a tensor (torch.Tensor), not a list or NumPy array")


def reference_step(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Perceptron outputs by a plain loop: 1 if w0 + sum_i w_i x_i > 0 else 0."""
    return np.array([1.0 if w[0] + sum(wi * xi for wi, xi in zip(w[1:], row)) > 0 else 0.0 for row in X])


def check_perceptron_predict(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(X, w)`` -> (N,) outputs 0/1 of a perceptron with bias w[0] (lab 04, exercise 1)."""
    name = "perceptron_predict"
    generator = torch.Generator().manual_seed(404)
    cases = [  # the slide's perceptron on all four inputs (the sum is exactly 0 for (0,1) and (1,0))
        (torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), torch.tensor([-1.0, 1.0, 1.0]))]
    for n, d in [(7, 2), (9, 3), (5, 1)]:  # integer inputs and weights: many sums are exactly 0
        X = torch.randint(-2, 3, (n, d), generator=generator).float()
        w = torch.randint(-2, 3, (d + 1,), generator=generator).float()
        cases.append((X, w))
    for X, w in cases:
        expected = reference_step(X.numpy(), w.numpy())
        ok, received = attempt(name, fn, X.clone(), w.clone())
        if not ok or not _is_tensor(name, received):
            return False
        if tuple(received.shape) != (len(X),):
            return report(name, False, expected=f"shape {(len(X),)}", received=f"shape {tuple(received.shape)}",
                          hint="one output per row of X: (N,), not (N, 1)")
        if not close(received, expected):
            return report(name, False, expected=expected, received=received.detach().cpu().numpy(),
                          hint="output 1 only when w[0] + w[1:] . x is strictly > 0 (a sum of exactly 0 gives 0)")
    return report(name, True)


def reference_perceptron_rule(X: np.ndarray, y: np.ndarray, num_epochs: int, lr: float) -> np.ndarray:
    """Rosenblatt's rule with plain loops: start at 0, visit the rows in order, w += lr (y - y_hat) [1, x]."""
    w = np.zeros(X.shape[1] + 1)
    for _ in range(num_epochs):
        for row, target in zip(X, y):
            xb = np.concatenate([[1.0], row])
            y_hat = 1.0 if float(w @ xb) > 0 else 0.0
            w = w + lr * (target - y_hat) * xb
    return w


def check_train_perceptron(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``fn(X, y, num_epochs, lr)`` -> weights (d+1,) of the perceptron learning rule (lab 04, ex. 2)."""
    name = "train_perceptron"
    gates = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
    generator = torch.Generator().manual_seed(2)
    X_rand = torch.randn(12, 2, generator=generator, dtype=torch.float64)  # (12, 2)
    y_rand = (X_rand[:, 0] - 0.5 * X_rand[:, 1] > 0.2).double()            # separable by a line
    cases = [("AND", gates, torch.tensor([0.0, 0.0, 0.0, 1.0]), 10, 1.0),
             ("OR", gates, torch.tensor([0.0, 1.0, 1.0, 1.0]), 10, 1.0),
             ("NAND", gates, torch.tensor([1.0, 1.0, 1.0, 0.0]), 10, 0.5),
             ("random line", X_rand, y_rand, 30, 0.1)]
    for label, X, y, num_epochs, lr in cases:
        expected = reference_perceptron_rule(X.double().numpy(), y.double().numpy(), num_epochs, lr)
        ok, received = attempt(name, fn, X.clone(), y.clone(), num_epochs, lr)
        if not ok or not _is_tensor(name, received):
            return False
        if tuple(received.shape) != expected.shape:
            return report(name, False, expected=f"shape {expected.shape} (bias first)",
                          received=f"shape {tuple(received.shape)}", hint="return w = [w0, w1, ..., wd]")
        if not close(received, expected, atol=1e-5):
            return report(name, False, expected=f"{label}: {np.round(expected, 4)}",
                          received=np.round(received.detach().double().cpu().numpy(), 4),
                          hint="start from zeros; for each row in order: y_hat = step(w . [1, x]), "
                               "then w += lr * (y - y_hat) * [1, x]")
    return report(name, True)


def reference_derivatives(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """d/dz of every activation at every point of z, by autograd (the reference)."""
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                 "leaky_relu": lambda t: nn.functional.leaky_relu(t, LEAKY_SLOPE),
                 "elu": lambda t: nn.functional.elu(t, ELU_ALPHA)}
    result = {}
    for key, f in functions.items():
        t = z.detach().clone().requires_grad_(True)
        f(t).sum().backward()
        result[key] = t.grad
    return result


def check_activation_derivatives(fn: Callable[[torch.Tensor], dict]) -> bool:
    """Check ``fn(z)`` -> {"sigmoid", "tanh", "relu", "leaky_relu", "elu"} derivatives (lab 04, ex. 3)."""
    name = "activation_derivatives"
    generator = torch.Generator().manual_seed(33)
    z = torch.randn(50, generator=generator, dtype=torch.float64) * 3  # (50,)
    z = z[z.abs() > 1e-3]  # no point exactly at the kink of ReLU / leaky ReLU / ELU
    expected = reference_derivatives(z)
    ok, received = attempt(name, fn, z.clone())
    if not ok:
        return False
    if not isinstance(received, dict):
        return report(name, False, expected="a dict {name: tensor}", received=type(received).__name__)
    missing = sorted(set(expected) - set(received))
    if missing:
        return report(name, False, expected=sorted(expected), received=sorted(received),
                      hint=f"add the key(s) {missing}")
    for key, value in expected.items():
        got = received[key]
        if isinstance(got, torch.Tensor) and got.requires_grad:
            got = got.detach()
        if not close(got, value, atol=1e-6):
            return report(name, False, expected=f"{key}'(z) = {value.numpy()[:4].round(4)} ...",
                          received=np.asarray(got)[:4] if not isinstance(got, torch.Tensor)
                          else got.cpu().numpy()[:4].round(4),
                          hint=f"check the formula of {key}' (leaky slope {LEAKY_SLOPE}, ELU alpha {ELU_ALPHA}); "
                               "write it with the function's own output where you can, e.g. s (1 - s)")
    return report(name, True)


GATE_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2): (x1, x2)
GATE_TABLES = {"OR": np.array([0, 1, 1, 1]), "NAND": np.array([1, 1, 1, 0]), "AND": np.array([0, 0, 0, 1]),
               "XOR": np.array([0, 1, 1, 0]), "NOR": np.array([1, 0, 0, 0]), "XNOR": np.array([1, 0, 0, 1])}


def gate_name(column: np.ndarray) -> str:
    """The name of the logic gate whose truth table is ``column`` (or the table itself)."""
    for gate, table in GATE_TABLES.items():
        if np.array_equal(column, table):
            return gate
    return f"the table {column.tolist()}"


def check_xor_weights(fn: Callable[[], tuple]) -> bool:
    """Check ``fn()`` -> (W1 (2,2), b1 (2,), W2 (2,1), b2 (1,)): step units OR, NAND, then XOR (lab 04, ex. 4)."""
    name = "xor_weights"
    ok, received = attempt(name, fn)
    if not ok:
        return False
    try:
        W1, b1, W2, b2 = (np.asarray(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v, dtype=float)
                          for v in received)
    except (TypeError, ValueError):
        return report(name, False, expected="a tuple (W1, b1, W2, b2) of numbers", received=repr(received)[:80],
                      hint="return four tensors, e.g. torch.tensor([[...], [...]]) for W1")
    shapes = [W.shape for W in (W1, b1, W2, b2)]
    if shapes != [(2, 2), (2,), (2, 1), (1,)]:
        return report(name, False, expected="shapes [(2, 2), (2,), (2, 1), (1,)]", received=str(shapes),
                      hint="W1 column j holds the two input weights of hidden unit j (X @ W1 + b1, as the slides)")
    H = (GATE_INPUTS @ W1 + b1 > 0).astype(int)  # (4, 2), the hidden step units
    found = sorted(gate_name(H[:, j]) for j in range(2))
    if found != ["NAND", "OR"]:
        return report(name, False, expected="hidden units computing OR and NAND (in any order)",
                      received=f"hidden units computing {found[0]} and {found[1]}",
                      hint="OR: weights (1, 1), bias -0.5; NAND: the AND unit with every sign flipped")
    y_hat = (H @ W2 + b2 > 0).astype(int).reshape(-1)  # (4,)
    if not np.array_equal(y_hat, GATE_TABLES["XOR"]):
        return report(name, False, expected=f"XOR {GATE_TABLES['XOR'].tolist()}", received=y_hat.tolist(),
                      hint="XOR = AND(OR, NAND): the output unit is an AND of the two hidden units")
    return report(name, True)


def _small_model(generator: torch.Generator, sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    """A float64 MLP with the given layer sizes, ``activation`` between layers and a sigmoid output."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out).double()
        with torch.no_grad():
            linear.weight.copy_(torch.randn(n_out, n_in, generator=generator, dtype=torch.float64))
            linear.bias.copy_(torch.randn(n_out, generator=generator, dtype=torch.float64))
        layers += [linear, activation() if i < len(sizes) - 2 else nn.Sigmoid()]
    return nn.Sequential(*layers)


def check_layer_gradient_norms(fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], list]) -> bool:
    """Check ``fn(model, X, y)`` -> [||dL/dW|| per nn.Linear], L = BCE(model(X), y) (lab 04, exercise 5)."""
    name = "layer_gradient_norms"
    generator = torch.Generator().manual_seed(55)
    for sizes, activation in [([2, 4, 3, 1], nn.Sigmoid), ([3, 5, 5, 5, 1], nn.ReLU)]:
        model = _small_model(generator, sizes, activation)
        X = torch.randn(8, sizes[0], generator=generator, dtype=torch.float64)  # (8, d)
        y = (torch.rand(8, 1, generator=generator) > 0.5).double()             # (8, 1)
        weights = [m.weight for m in model if isinstance(m, nn.Linear)]
        loss = nn.functional.binary_cross_entropy(model(X), y)
        expected = [g.norm().item() for g in torch.autograd.grad(loss, weights)]
        for attempt_number in (1, 2):  # a second call must give the same numbers (no accumulated .grad)
            ok, received = attempt(name, fn, model, X, y)
            if not ok:
                return False
            try:
                values = [float(v) for v in received]
            except (TypeError, ValueError):
                return report(name, False, expected="a list of floats", received=type(received).__name__,
                              hint="one float per nn.Linear layer: [w.grad.norm().item() for ...]")
            if len(values) != len(expected):
                return report(name, False, expected=f"{len(expected)} values (one per nn.Linear)",
                              received=f"{len(values)} values", hint="only the weights of the nn.Linear layers")
            if not close(values, expected, rtol=1e-6, atol=1e-12):
                hint = ("the second call gave different numbers: reset the gradients first (model.zero_grad())"
                        if attempt_number == 2 else
                        "loss = binary cross-entropy of model(X) and y (mean); backward(); norm of each weight.grad")
                return report(name, False, expected=np.round(expected, 6), received=np.round(values, 6), hint=hint)
    return report(name, True)
