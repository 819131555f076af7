"""Self-checks of lab 04 (perceptron, MLP and XOR): perceptron, learning rule, activations, XOR, gradients.

No check holds an implementation of its exercise. The activation derivatives are compared with
PyTorch's autograd (the library routine the formulas re-derive); the XOR weights are checked by the
property asked for (step units computing OR and NAND, then AND of them); the perceptron's outputs, the
learning rule's weights and the gradient norms are compared with the answers the solution notebook gave
to the same fixed public cases (``expected/04_perceptron_mlp_xor.json``). Every input is written out
or drawn from NumPy's seeded generator, so it is the same on every machine. A matrix product whose shapes do
not fit (a transposed weight, the bias left in) gets a hint with the shapes next to the library's message.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from labhelpers.checks import Case, as_numpy, attempt, close, report, run_cases, skip_during_grading, stored

__all__ = ["check_perceptron_predict", "check_train_perceptron", "check_activation_derivatives",
           "check_xor_weights", "check_layer_gradient_norms"]

LAB = "04_perceptron_mlp_xor"
LEAKY_SLOPE = 0.1  # the slides' leaky ReLU max(0.1x, x)
ELU_ALPHA = 1.0
GATE_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2): (x1, x2)
GATE_TABLES = {"OR": np.array([0, 1, 1, 1]), "NAND": np.array([1, 1, 1, 0]), "AND": np.array([0, 0, 0, 1]),
               "XOR": np.array([0, 1, 1, 0]), "NOR": np.array([1, 0, 0, 0]), "XNOR": np.array([1, 0, 0, 1])}


SHAPE_ERRORS = ("shapes cannot be multiplied", "size mismatch", "mismatch in its core dimension",
                "must match the size of tensor", "could not be broadcast")
SHAPES = ("X has one point per row, shape (N, d), and w has d + 1 weights, the bias w[0] first: a product of X "
          "needs the d input weights (the inner sizes must agree), so a transposed operand or the bias left in "
          "gives this error")


def _with_shape_hint(fn: Callable) -> Callable:
    """``fn``, whose matrix-shape errors also print the shapes of a perceptron's X and w (SHAPES)."""
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, ValueError) as exc:
            if not any(words in str(exc) for words in SHAPE_ERRORS):
                raise
            try:
                hinted = type(exc)(f"{exc}\n  hint: {SHAPES}")
            except Exception:  # noqa: BLE001 - an error type that wants other arguments: keep the original
                raise exc from None
            raise hinted from None
    return call


def _tensor(array: np.ndarray, dtype=np.float32) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array).astype(dtype))


def _is_tensor(name: str, value: object) -> bool:
    """Report a failure and return False unless ``value`` is a torch tensor."""
    if isinstance(value, torch.Tensor):
        return True
    return report(name, False, expected="a torch.Tensor", received=type(value).__name__,
                  hint="return a tensor (torch.Tensor), not a list or NumPy array")


# ----------------------------------------------------------------------------- exercise 1
def _predict_cases() -> list[Case]:
    """The slide's perceptron on all four inputs (the sum is exactly 0 for (0,1) and (1,0)), then integer
    inputs and weights in [-2, 2]: many sums are exactly 0."""
    cases = [Case((_tensor(GATE_INPUTS), _tensor([-1.0, 1.0, 1.0])), "the slide's w = (-1, 1, 1) on the 4 inputs")]
    rng = np.random.default_rng(404)
    for n, d in [(7, 2), (9, 3), (5, 1)]:
        X, w = rng.integers(-2, 3, size=(n, d)), rng.integers(-2, 3, size=d + 1)
        cases.append(Case((_tensor(X), _tensor(w)), f"X ({n}, {d}), w ({d + 1},) of small integers"))
    return cases


def check_perceptron_predict(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(X, w)`` -> (N,) outputs 0/1 of a perceptron with bias w[0] (lab 04, exercise 1)."""
    name = "perceptron_predict"
    if skip_during_grading(name):
        return True
    cases = _predict_cases()
    answers = run_cases(name, _with_shape_hint(fn), cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if not _is_tensor(name, received):
            return False
        n = len(case.args[0])
        if tuple(received.shape) != (n,):
            return report(name, False, expected=f"shape {(n,)}", received=f"shape {tuple(received.shape)}",
                          hint=f"{case.label}: one output per row of X: (N,), not (N, 1)")
    expected = stored(LAB, name, [as_numpy(a) for a in answers], cases)
    if expected is None:
        return False
    wrong = [(case, as_numpy(received), want) for case, received, want in zip(cases, answers, expected)
             if not close(as_numpy(received), want)]
    if not wrong:
        return report(name, True)
    # a mistake is named only when every wrong case shows it (one case alone can fit several mistakes)
    hint = "output 1 where w[0] + w[1:] . x > 0, else 0 (add the bias w[0] to every row's sum)"
    if all(np.all(got >= want) and set(np.unique(got)) <= {0.0, 1.0} for _, got, want in wrong):
        hint = ("you output 1 for some sums that are not > 0: output 1 only when w[0] + w[1:] . x is strictly "
                "> 0 (a sum of exactly 0 gives 0), and add the bias w[0] to every sum")
    elif all(close(got, 1.0 - want) for _, got, want in wrong):
        hint = "1 for a positive sum and 0 otherwise, not the other way round"
    case, got, want = wrong[0]
    return report(name, False, expected=want, received=got, hint=f"{case.label}: {hint}")


# ----------------------------------------------------------------------------- exercise 2
def _train_cases() -> list[Case]:
    """The AND, OR and NAND gates, and 12 random points that a line separates (NumPy-seeded)."""
    gates = _tensor(GATE_INPUTS)                                                 # (4, 2)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 2))                                                 # (12, 2)
    y = (X[:, 0] - 0.5 * X[:, 1] > 0.2).astype(np.float64)                       # separable by a line
    return [Case((gates, _tensor(GATE_TABLES["AND"]), 10, 1.0), "the AND gate, 10 epochs, lr=1.0"),
            Case((gates, _tensor(GATE_TABLES["OR"]), 10, 1.0), "the OR gate, 10 epochs, lr=1.0"),
            Case((gates, _tensor(GATE_TABLES["NAND"]), 10, 0.5), "the NAND gate, 10 epochs, lr=0.5"),
            Case((torch.from_numpy(X), torch.from_numpy(y), 30, 0.1), "12 points separable by a line, 30 epochs, "
                 "lr=0.1")]


def check_train_perceptron(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``fn(X, y, num_epochs, lr)`` -> weights (d+1,) of the perceptron learning rule (lab 04, ex. 2)."""
    name = "train_perceptron"
    if skip_during_grading(name):
        return True
    cases = _train_cases()
    answers = run_cases(name, _with_shape_hint(fn), cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if not _is_tensor(name, received):
            return False
        size = case.args[0].shape[1] + 1
        if tuple(received.shape) != (size,):
            return report(name, False, expected=f"shape ({size},) (bias first)",
                          received=f"shape {tuple(received.shape)}", hint="return w = [w0, w1, ..., wd]")
    expected = stored(LAB, name, [as_numpy(a) for a in answers], cases)
    if expected is None:
        return False
    wrong = [(case, as_numpy(received), want) for case, received, want in zip(cases, answers, expected)
             if not close(as_numpy(received), want, atol=1e-5)]
    if not wrong:
        return report(name, True)
    # a mistake is named only when every wrong case shows it; a frozen bias also changes the other weights' path,
    # so it shows as w[0] left at 0 where the solution's is not
    hint = ("start from zeros; for each row in order: y_hat = step(w . [1, x]) (strict > 0), "
            "then w += lr * (y - y_hat) * [1, x]")
    if not any(np.any(got) for _, got, _ in wrong):
        hint = "w is still all zeros: update it inside the loop over the rows (w = w + ...)"
    elif all(got[0] == 0 for _, got, _ in wrong) and any(want[0] != 0 for _, _, want in wrong):
        hint = "update the bias w[0] too: the row [1, x] starts with the constant input 1"
    case, got, want = wrong[0]
    return report(name, False, expected=np.round(want, 4), received=np.round(got, 4), hint=f"{case.label}: {hint}")


# ----------------------------------------------------------------------------- exercise 3
def check_activation_derivatives(fn: Callable[[torch.Tensor], dict]) -> bool:
    """Check ``fn(z)`` -> {"sigmoid", "tanh", "relu", "leaky_relu", "elu"} derivatives, compared with
    autograd at 50 NumPy-seeded points away from the kinks (lab 04, exercise 3)."""
    name = "activation_derivatives"
    if skip_during_grading(name):
        return True
    z = np.random.default_rng(33).normal(size=50) * 3
    z = torch.from_numpy(z[np.abs(z) > 1e-3])                 # (<= 50,) float64, no point at a kink
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                 "leaky_relu": lambda t: nn.functional.leaky_relu(t, LEAKY_SLOPE),
                 "elu": lambda t: nn.functional.elu(t, ELU_ALPHA)}
    ok, received = attempt(name, fn, z.clone())
    if not ok:
        return False
    if not isinstance(received, dict):
        return report(name, False, expected="a dict {name: tensor}", received=type(received).__name__)
    missing = sorted(set(functions) - set(received))
    if missing:
        return report(name, False, expected=sorted(functions), received=sorted(received, key=str),
                      hint=f"add the key(s) {missing}")
    for key, function in functions.items():
        leaf = z.clone().requires_grad_(True)
        function(leaf).sum().backward()                        # autograd: d/dz at every point of z
        want, got = leaf.grad.numpy(), as_numpy(received[key])
        if not close(got, want, atol=1e-6):
            return report(name, False, expected=f"{key}'(z) = {want[:4].round(4)} ...",
                          received=f"{got[:4].round(4)} ..." if got is not None and got.size >= 4 else repr(got),
                          hint=f"check the formula of {key}' (leaky slope {LEAKY_SLOPE}, ELU alpha {ELU_ALPHA}); "
                               "write it with the function's own output where you can, e.g. s (1 - s)")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
def gate_name(column: np.ndarray) -> str:
    """The name of the logic gate whose truth table is ``column`` (or the table itself)."""
    for gate, table in GATE_TABLES.items():
        if np.array_equal(column, table):
            return gate
    return f"the table {column.tolist()}"


def check_xor_weights(fn: Callable[[], tuple]) -> bool:
    """Check ``fn()`` -> (W1 (2,2), b1 (2,), W2 (2,1), b2 (1,)): step units OR, NAND, then XOR (lab 04, ex. 4)."""
    name = "xor_weights"
    if skip_during_grading(name):
        return True
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
    H = (GATE_INPUTS @ W1 + b1 > 0).astype(int)  # (4, 2), the student's hidden step units
    found = sorted(gate_name(H[:, j]) for j in range(2))
    if found != ["NAND", "OR"]:
        return report(name, False, expected="hidden units computing OR and NAND (in any order)",
                      received=f"hidden units computing {found[0]} and {found[1]}",
                      hint="OR: weights (1, 1), bias -0.5; NAND: the AND unit with every sign flipped")
    y_hat = (H @ W2 + b2 > 0).astype(int).reshape(-1)  # (4,), the student's output unit
    if not np.array_equal(y_hat, GATE_TABLES["XOR"]):
        return report(name, False, expected=f"XOR {GATE_TABLES['XOR'].tolist()}", received=y_hat.tolist(),
                      hint="XOR = AND(OR, NAND): the output unit is an AND of the two hidden units")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
NORM_CASES = [([2, 4, 3, 1], "Sigmoid"), ([3, 5, 5, 5, 1], "ReLU")]  # layer sizes, activation between layers


def _norm_cases() -> list[dict]:
    """Per case: sizes, activation, NumPy-seeded float64 weights (W, b per layer), stale .grad noise, X, y."""
    rng = np.random.default_rng(55)
    cases = []
    for sizes, activation in NORM_CASES:
        weights = [(rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        stale = [(rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        X, y = rng.normal(size=(8, sizes[0])), (rng.random((8, 1)) > 0.5).astype(np.float64)
        cases.append({"sizes": sizes, "activation": activation, "weights": weights, "stale_grads": stale, "X": X, "y": y})
    return cases


def _norm_model(case: dict) -> nn.Sequential:
    """The case's float64 MLP: Linear layers with its weights, its activation between them, a sigmoid output;
    every .grad holds noise, as after an earlier backward pass."""
    layers: list[nn.Module] = []
    for i, ((W, b), (gW, gb)) in enumerate(zip(case["weights"], case["stale_grads"])):
        linear = nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        linear.weight.grad, linear.bias.grad = torch.from_numpy(gW.copy()), torch.from_numpy(gb.copy())
        last = i == len(case["weights"]) - 1
        layers += [linear, nn.Sigmoid() if last else getattr(nn, case["activation"])()]
    return nn.Sequential(*layers)


def _norm_values(name: str, received: object, count: int) -> list[float] | None:
    """``received`` as ``count`` floats, or None after reporting why not."""
    try:
        values = [float(v) for v in received]
    except (TypeError, ValueError):
        report(name, False, expected="a list of floats", received=type(received).__name__,
               hint="one float per nn.Linear layer: [layer.weight.grad.norm().item() for ...]")
        return None
    if len(values) != count:
        report(name, False, expected=f"{count} values (one per nn.Linear)", received=f"{len(values)} values",
               hint="only the weights of the nn.Linear layers, not their biases")
        return None
    return values


def check_layer_gradient_norms(fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], list]) -> bool:
    """Check ``fn(model, X, y)`` -> [||dL/dW|| per nn.Linear], L = mean BCE(model(X), y), on two fixed float64
    MLPs whose .grad already holds old gradients; a second call must give the same numbers (lab 04, ex. 5)."""
    name = "layer_gradient_norms"
    if skip_during_grading(name):
        return True
    cases = _norm_cases()
    firsts, seconds = [], []
    for case in cases:
        model = _norm_model(case)
        X, y = torch.from_numpy(case["X"]), torch.from_numpy(case["y"])
        count = len(case["weights"])
        for calls in (firsts, seconds):  # a second call must give the same numbers (no accumulated .grad)
            ok, received = attempt(name, fn, model, X.clone(), y.clone())
            if not ok:
                return False
            values = _norm_values(name, received, count)
            if values is None:
                return False
            calls.append(values)
        changed = [i for i, (W, _) in enumerate(case["weights"]) if not np.array_equal(model[2 * i].weight.detach().numpy(), W)]
        if changed:
            return report(name, False, expected="the weights unchanged", received=f"layer {changed[0]} changed",
                          hint="only compute the gradients: no optimiser step, no update of the weights")
    expected = stored(LAB, name, firsts, cases)
    if expected is None:
        return False
    for (sizes, activation), first, second, want in zip(NORM_CASES, firsts, seconds, expected):
        label = f"the {'-'.join(map(str, sizes))} {activation} MLP"
        if close(first, want, rtol=1e-6, atol=1e-12) and close(second, want, rtol=1e-6, atol=1e-12):
            continue
        got = first if not close(first, want, rtol=1e-6, atol=1e-12) else second
        hint = "loss = binary cross-entropy (mean) of model(X) and y; backward(); the norm of each weight.grad"
        if not close(first, second, rtol=1e-9, atol=0):
            hint = ("two calls gave different numbers: the model's .grad held old gradients that backward() adds "
                    "to; reset them first (model.zero_grad())")
        elif close(np.asarray(got) / len(cases[0]["X"]), want, rtol=1e-6, atol=1e-12):
            hint = "take the MEAN binary cross-entropy (the default reduction), not the sum"
        return report(name, False, expected=np.round(want, 6), received=np.round(got, 6), hint=f"{label}: {hint}")
    return report(name, True)
