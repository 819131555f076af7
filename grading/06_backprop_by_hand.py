"""Hidden tests of lab 06 (backpropagation by hand: a neuron's gradients, numerical gradients, gates).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
Not graded here: value_tanh (it takes and returns the notebook's own Value objects) and LinearFunction
(a torch.autograd.Function): no probe input can be a Value, nothing can call .apply/.backward in the
sandbox, and such objects come back only as a type name. Their public self-checks cover them.
"""
import numpy as np
import torch

from labhelpers.checks.backprop import reference_gradient, reference_gate_backward
from labhelpers.instructor.codec import encode
from labhelpers.instructor.hidden import Call, Exercise, Fn
from labhelpers.instructor.verdict import as_array, compare

LAB = "06_backprop_by_hand"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}
NO_AUTOGRAD = (".backward", ".autograd", ".requires_grad_")


# ----------------------------------------------------------------------------- exercise 1
def _neuron_probes(rng):
    calls = []
    for _ in range(4):
        w, x = np.round(rng.normal(0, 1.5, 3), 3), np.round(rng.normal(0, 1.5, 2), 3)
        calls.append(Call((torch.from_numpy(w), torch.from_numpy(x)), label=f"w = {w.tolist()}, x = {x.tolist()}"))
    return calls


def _neuron_reference(w, x):
    def neuron(w, x):
        return torch.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    return float(neuron(w, x)), reference_gradient(lambda t: neuron(t, x), w), reference_gradient(lambda t: neuron(w, t), x)


# ----------------------------------------------------------------------------- exercise 2
def _numgrad_probes(rng):
    """f from Fn is elementwise, so float(f(x)) needs a one-element x: its shape still varies. (Not 0-d: the
    codec's decode turns a 0-d tensor into shape (1,).)"""
    calls = []
    for shape, h in zip([(1,), (1, 1), (1, 1, 1), (1, 1, 1, 1)], rng.permutation([None, 1e-3, 1e-4, 1e-5])):
        fn = Fn(poly=tuple(float(c) for c in rng.uniform(-2, 2, size=int(rng.integers(3, 5)))),
                sin=(float(rng.uniform(-1, 1)), float(rng.uniform(0.5, 2))),
                exp=(float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-1, 1))))
        x = torch.full(shape, float(np.round(rng.uniform(-1.5, 1.5), 3)), dtype=torch.float64)
        args = (fn, x) if h is None else (fn, x, float(h))
        calls.append(Call(args, report_args=True, label=f"x of shape {shape} = {x.item()}, "
                          + ("h not given (default 1e-5)" if h is None else f"h = {h:g}")))
    return calls


def _central_reference(f, x, h=1e-5):
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype)
        step[i] = h
        step = step.view_as(x)
        grad.view(-1)[i] = (float(f(x + step)) - float(f(x - step))) / (2 * h)
    return grad


def _gradient_compare(got, want) -> str | None:
    """verdict.compare, but a wrong one-element answer shows both numbers (a forward difference is close)."""
    reason = compare(got, want, atol=1e-8, rtol=1e-7)
    if reason and reason.startswith("wrong values"):
        return f"received {as_array(got).item():.10g}, expected {as_array(want).item():.10g}"
    return reason


def _x_unchanged(call: Call, response: dict) -> str | None:
    after = (response.get("args_after") or [None, None])[1]
    if compare(after, encode(call.args[1]), atol=0, rtol=0) is not None:
        return "x was changed by your function: put every entry back exactly as it was"
    return None


# ----------------------------------------------------------------------------- exercise 3
def _gate_probes(rng):
    calls, larger_first = [], [True, False, bool(rng.integers(2))]  # max gates: a larger, then b larger, ...
    for gate in rng.permutation(["add", "mul", "max", "add", "mul", "max", "max"]):
        a, b = np.round(rng.normal(0, 3, 2), 3)
        while abs(a - b) < 0.1:  # no ties at the max gate
            a, b = np.round(rng.normal(0, 3, 2), 3)
        if gate == "max" and (a > b) != larger_first.pop(0):
            a, b = b, a
        upstream = float(np.round(rng.normal(0, 2), 3))
        calls.append(Call((str(gate), float(a), float(b), upstream),
                          label=f"{gate} gate, a = {a}, b = {b}, upstream = {upstream}"))
    return calls


EXERCISES = [
    Exercise("neuron_backward", 2, "Compute z and f = sigmoid(z) with plain arithmetic. The sigmoid's local gradient "
             "needs only f itself; then each multiply gate gives an input the upstream gradient times the other "
             "factor, and the add gate passes it unchanged to the bias. Return f as a number, dw with 3 and dx with "
             "2 entries, without autograd.", _neuron_probes, _neuron_reference, atol=1e-9, rtol=1e-7,
             forbidden=NO_AUTOGRAD),
    Exercise("numerical_gradient", 2, "Use a central difference with the step h you are given (h defaults to 1e-5): "
             "for each entry of x, evaluate f with that entry raised by h and lowered by h, divide the difference by "
             "2h, and put the entry back exactly as it was. The answer has x's shape (any number of dimensions) and "
             "x must be unchanged afterwards.", _numgrad_probes, _central_reference,
             compare=_gradient_compare, verify=_x_unchanged, forbidden=NO_AUTOGRAD),
    Exercise("gate_backward", 2, "An add gate hands the upstream gradient to both inputs unchanged; a multiply gate "
             "gives each input the upstream gradient times the OTHER input; a max gate sends all of it to the "
             "larger input and 0 to the smaller one. Return the pair (da, db).",
             _gate_probes, reference_gate_backward, atol=1e-9, rtol=1e-9),
]
