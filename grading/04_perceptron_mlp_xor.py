"""Hidden tests of lab 04 (perceptron, learning rule, activation derivatives, XOR from OR/NAND/AND,
gradient norms per layer).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
Exercise 5 (layer_gradient_norms) gets small random MLPs as ``Layers`` inputs (float32, built from the same
seed in the sandbox and here) and is compared with autograd's gradient norms of the same network, computed
here in float64 (so the tolerance is float32's: rtol 1e-4). The network comes back after the call
(``report_args``): its weights must be unchanged (no optimiser step). Every other network arrives with noise
in its ``.grad`` (``Layers(stale_grads=True)``, as after an earlier backward pass), so a missing
``model.zero_grad()`` adds to old gradients and shows.
"""
import copy

import numpy as np
import torch
from torch import nn

from labkit.grading.codec import build_layers
from labkit.grading.forbidden import AUTOGRAD, NUMERICAL, aten
from labkit.grading.spec import Call, Exercise, Layers
from labkit.grading.verdict import as_array, compare, describe, kind

LAB = "04_perceptron_mlp_xor"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}
KEYS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")
LEAKY_SLOPE, ELU_ALPHA = 0.1, 1.0  # the slides' leaky ReLU max(0.1x, x); ELU with alpha = 1
GATE_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2): (x1, x2)
GATE_TABLES = {"OR": np.array([0, 1, 1, 1]), "NAND": np.array([1, 1, 1, 0]), "AND": np.array([0, 0, 0, 1]),
               "XOR": np.array([0, 1, 1, 0]), "NOR": np.array([1, 0, 0, 0]), "XNOR": np.array([1, 0, 0, 1])}

# A fitted linear classifier's predict() is the perceptron's step(X w + b) (strict > 0), e.g. sklearn's Perceptron
# with coef_ and intercept_ set by hand.
PREDICT_FORBIDDEN = ("sklearn.linear_model.Perceptron.predict",)
# The derivatives: everything that differentiates for you (labkit.grading.forbidden) and ATen's own backward
# kernels of the activations (away from the kinks a central difference is within the tolerance).
DERIVATIVES_FORBIDDEN = AUTOGRAD + NUMERICAL + aten("sigmoid_backward", "tanh_backward", "threshold_backward",
                                                "leaky_relu_backward", "elu_backward")


def _grid(rng, shape, dtype=torch.float32) -> torch.Tensor:
    """Multiples of 0.5 in [-1, 1]: every weighted sum is exact, and many are exactly 0."""
    return torch.from_numpy(rng.integers(-2, 3, size=shape) * 0.5).to(dtype)


def _is_tensor(call: Call, response: dict) -> str | None:
    return None if kind(response.get("value")) == "tensor" else "return a torch tensor (not a list or NumPy array)"


# ----------------------------------------------------------------------------- exercise 1
def reference_step(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Perceptron outputs by a plain loop: 1 if w0 + sum_i w_i x_i > 0 else 0."""
    return np.array([1.0 if w[0] + sum(wi * xi for wi, xi in zip(w[1:], row)) > 0 else 0.0 for row in X])


def _predict_probes(rng):
    calls = []
    for n, d in [(int(rng.integers(6, 20)), 2), (int(rng.integers(6, 20)), int(rng.integers(3, 7))),
                 (1, int(rng.integers(1, 5)))]:
        while True:  # (n > 1) outputs of both kinds and a sum of exactly 0
            X, w = _grid(rng, (n, d)), _grid(rng, (d + 1,))
            w[0] = -(X[int(rng.integers(n))] @ w[1:]) if n > 1 else w[0]  # still on the grid
            sums = X @ w[1:] + w[0]
            if n == 1 or ((sums > 0).any() and (sums < 0).any()):
                break
        calls.append(Call((X, w), label=f"X ({n}, {d}), w ({d + 1},)" + (", some sums exactly 0" if n > 1 else "")))
    return calls


# ----------------------------------------------------------------------------- exercise 2
def reference_perceptron_rule(X: np.ndarray, y: np.ndarray, num_epochs: int, lr: float) -> np.ndarray:
    """Rosenblatt's rule with plain loops: start at 0, visit the rows in order, w += lr (y - y_hat) [1, x]."""
    w = np.zeros(X.shape[1] + 1)
    for _ in range(num_epochs):
        for row, target in zip(X, y):
            xb = np.concatenate([[1.0], row])
            y_hat = 1.0 if float(w @ xb) > 0 else 0.0
            w = w + lr * (target - y_hat) * xb
    return w


def _train_probes(rng):
    gate = str(rng.choice(["AND", "OR", "NAND", "NOR"]))
    calls = [Call((torch.tensor(GATE_INPUTS, dtype=torch.float32), torch.tensor(GATE_TABLES[gate], dtype=torch.float32),
                   int(rng.integers(2, 12)), float(rng.choice([0.5, 1.0]))), label=f"the {gate} gate")]
    n, d = int(rng.integers(8, 25)), int(rng.integers(1, 4))
    X = _grid(rng, (n, d), torch.float64) * 2  # (n, d), multiples of 0.5 in [-2, 2]: exact sums, some ties
    y = (X @ _grid(rng, (d,), torch.float64) + 0.25 > 0).double()  # separable by a line
    epochs, lr = int(rng.integers(3, 30)), float(rng.choice([0.25, 0.5, 1.0]))
    calls.append(Call((X, y, epochs, lr), label=f"{n} points in {d}-d separable by a line, {epochs} epochs, lr={lr}"))
    n, d, epochs = int(rng.integers(15, 40)), int(rng.integers(2, 4)), int(rng.integers(2, 9))
    X, y = torch.from_numpy(rng.normal(size=(n, d))), torch.from_numpy((rng.random(n) < 0.5) * 1.0)
    calls.append(Call((X, y, epochs, 0.1), label=f"{n} points in {d}-d with random labels (no line separates "
                      f"them: w changes every epoch), {epochs} epochs, lr=0.1"))
    return calls


def _train_reference(X, y, num_epochs, lr):
    return torch.from_numpy(reference_perceptron_rule(X.double().numpy(), y.double().numpy(), num_epochs, lr))


# ----------------------------------------------------------------------------- exercise 3
def reference_derivatives(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """d/dz of every activation at every point of z, by autograd (PyTorch's derivative 0 at a kink)."""
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                 "leaky_relu": lambda t: nn.functional.leaky_relu(t, LEAKY_SLOPE),
                 "elu": lambda t: nn.functional.elu(t, ELU_ALPHA)}
    result = {}
    for key, f in functions.items():
        t = z.detach().clone().requires_grad_(True)
        f(t).sum().backward()
        result[key] = t.grad
    return result


def _derivative_probes(rng):
    n = int(rng.integers(10, 60))
    z1 = torch.from_numpy(3 * rng.normal(size=n))                                   # (n,) float64
    a, b = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    z2 = torch.from_numpy(4 * rng.normal(size=(a, b)).astype(np.float32))           # (a, b) float32
    z3 = torch.from_numpy(rng.choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], size=int(rng.integers(6, 15))))
    z3[0] = 0.0
    return [Call((z1,), label=f"z of shape ({n},), float64"), Call((z2,), label=f"z of shape ({a}, {b}), float32"),
            Call((z3,), label="z containing exact zeros (the table: 1 only for z > 0, else the other branch)")]


def _derivatives_compare(got, want) -> str | None:
    """Every key of the table must be there and match autograd; extra keys are allowed."""
    if kind(got) != "dict":
        return f"expected a dict of tensors, received {describe(got)}"
    answers = {repr(k): v for k, v in got["__map__"]}
    missing = [key for key in KEYS if repr(key) not in answers]
    if missing:
        return f"missing key(s) {missing}"
    for key, value in want["__map__"]:
        reason = compare(answers[repr(key)], value, atol=1e-6, rtol=1e-5)
        if reason:
            return f"{key}: {reason}"
    return None


# ----------------------------------------------------------------------------- exercise 4
def gate_name(column: np.ndarray) -> str:
    """The name of the logic gate whose truth table is ``column`` (or the table itself)."""
    for gate, table in GATE_TABLES.items():
        if np.array_equal(column, table):
            return gate
    return f"the table {column.tolist()}"


def _xor_reference():
    return (torch.tensor([[1.0, -1.0], [1.0, -1.0]]), torch.tensor([-0.5, 1.5]),  # OR, NAND
            torch.tensor([[1.0], [1.0]]), torch.tensor([-1.5]))                    # AND


def _xor_compare(got, want) -> str | None:
    """A property, not one answer: step units OR and NAND (either order), then AND of them = XOR."""
    items = got["__seq__"] if kind(got) in ("list", "tuple") else []
    arrays = [as_array(item) for item in items]
    if len(arrays) != 4 or any(a is None for a in arrays):
        return f"expected a tuple (W1, b1, W2, b2) of four tensors, received {describe(got)}"
    shapes = [a.shape for a in arrays]
    if shapes != [(2, 2), (2,), (2, 1), (1,)]:
        return f"expected shapes [(2, 2), (2,), (2, 1), (1,)], received {shapes}"
    W1, b1, W2, b2 = arrays
    hidden = (GATE_INPUTS @ W1 + b1 > 0).astype(int)  # (4, 2), step units
    found = sorted(gate_name(hidden[:, j]) for j in range(2))
    if found != ["NAND", "OR"]:
        return f"the hidden units compute {found[0]} and {found[1]}, not OR and NAND"
    output = (hidden @ W2 + b2 > 0).astype(int).reshape(-1)  # (4,)
    if not np.array_equal(output, GATE_TABLES["XOR"]):
        return f"the network outputs {output.tolist()} for (0,0), (0,1), (1,0), (1,1), not XOR [0, 1, 1, 0]"
    return None


# ----------------------------------------------------------------------------- exercise 5
ACTIVATIONS = ("Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU")


def _mlp_spec(rng) -> tuple[tuple, list[int], str]:
    """An MLP: d -> hidden widths (one activation between Linear layers) -> 1 with a sigmoid output."""
    sizes = [int(rng.integers(2, 6))] + [int(n) for n in rng.integers(2, 9, size=int(rng.integers(1, 4)))] + [1]
    activation = str(rng.choice(ACTIVATIONS))
    spec = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        spec += [("Linear", n_in, n_out), (activation,) if i < len(sizes) - 2 else ("Sigmoid",)]
    return tuple(spec), sizes, activation


def _gradient_norms_reference(model, X, y) -> list[float]:
    """||dL/dW|| of each nn.Linear weight by autograd, on a float64 copy (``model`` itself is not touched)."""
    twin = copy.deepcopy(model).double()
    weights = [m.weight for m in twin if isinstance(m, torch.nn.Linear)]
    loss = torch.nn.functional.binary_cross_entropy(twin(X.double()), y.double())
    return [float(g.norm()) for g in torch.autograd.grad(loss, weights)]


def _gradient_norm_probes(rng):
    calls = []
    for case in range(4):
        while True:  # every layer's gradient clearly non-zero (a dead ReLU layer would accept any 0)
            spec, sizes, activation = _mlp_spec(rng)
            network = Layers(spec, int(rng.integers(2**31)), stale_grads=case % 2 == 1)  # as if trained a step
            n = 1 if case == 0 else int(rng.integers(4, 33))
            X = torch.from_numpy(rng.normal(size=(n, sizes[0])).astype(np.float32))
            y = torch.from_numpy((rng.random((n, 1)) < 0.5).astype(np.float32))
            if case > 0:
                y[0, 0], y[1, 0] = 0.0, 1.0  # both labels
            if min(_gradient_norms_reference(build_layers(list(spec), network.seed), X, y)) > 1e-5:
                break
        label = (f"a {'-'.join(map(str, sizes))} MLP ({activation} between layers, sigmoid output), "
                 f"{n} sample{'s' if n > 1 else ''}, X ({n}, {sizes[0]}), y ({n}, 1)"
                 + ("; its .grad already holds gradients from an earlier backward pass" if network.stale_grads else ""))
        calls.append(Call((network, X, y), label=label, report_args=True))
    return calls


def _weights_unchanged(call: Call, response: dict) -> str | None:
    """The network must keep its weights: gradients only, no optimiser step, no re-initialisation."""
    after = (response.get("args_after") or [None])[0]
    if kind(after) != "dict":
        return "the network could not be read back after your function ran"
    seeded = build_layers([list(layer) for layer in call.args[0].spec], call.args[0].seed).state_dict()
    state = {k: as_array(v) for k, v in after["__map__"]}
    for name, tensor in seeded.items():
        if name not in state or state[name] is None or state[name].shape != tuple(tensor.shape) \
                or not np.array_equal(state[name], tensor.double().numpy()):
            return (f"your function changed the network's parameter {name}: only compute the gradients "
                    "(no optimiser step, no update of the weights)")
    return None


EXERCISES = [
    Exercise("perceptron_predict", 2, "Add the bias w[0] to each row's weighted sum with the other weights and "
             "output 1 only where that total is strictly positive (exactly 0 gives 0); one value per row, "
             "shape (N,), as a torch tensor.", _predict_probes,
             lambda X, w: torch.from_numpy(reference_step(X.numpy(), w.numpy())), verify=_is_tensor,
             forbidden=PREDICT_FORBIDDEN),
    Exercise("train_perceptron", 2, "Start from d + 1 float64 zeros (bias first); for exactly num_epochs epochs "
             "visit the rows in their given order, predict with the current weights (strict > 0), and move w by "
             "lr times (label minus prediction) times the row with a 1 in front. Return w as a tensor.",
             _train_probes, _train_reference, verify=_is_tensor),
    Exercise("activation_derivatives", 2, "A dict with the keys sigmoid, tanh, relu, leaky_relu and elu, each a "
             "tensor shaped like z, from the table's formulas: the first two from the function's own value; the "
             "others pick their 'z > 0' branch only for strictly positive z (slope 0.1 for leaky ReLU, alpha 1 "
             "for ELU), without autograd.", _derivative_probes, reference_derivatives, compare=_derivatives_compare,
             forbidden=DERIVATIVES_FORBIDDEN),
    Exercise("xor_weights", 2, "Shapes (2, 2), (2,), (2, 1), (1,) in the XW + b convention (column j of W1 = "
             "hidden unit j). One hidden step unit must act as OR, the other as NAND (AND with every sign "
             "flipped), and the output unit as an AND of the two.", lambda rng: [Call((), label="the four inputs "
             "(0,0), (0,1), (1,0), (1,1)")], _xor_reference, compare=_xor_compare),
    Exercise("layer_gradient_norms", 2, "Clear any old gradients first, then take the MEAN binary cross-entropy of "
             "the network's output and y (the output is already a probability: no extra sigmoid), backpropagate once, "
             "and report the norm of the weight gradient (not the bias) of each nn.Linear, input side first, one "
             "Python float per Linear layer. Do not change the weights.", _gradient_norm_probes,
             _gradient_norms_reference, atol=1e-7, rtol=1e-4, verify=_weights_unchanged),
]
