"""Hidden tests of lab 06 (backpropagation by hand: a neuron's gradients, numerical gradients, gates).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
value_tanh and LinearFunction are not plain functions: the sandbox drives them (labkit.grading.drivers)
through small scalar graphs built from the notebook's own Value class, and through LinearFunction.apply and
.backward, and sends back the output and the gradients; the references run the same drivers on torch.

Every exercise writes by hand what autograd would compute, so everything that differentiates for you is
forbidden while the probes run (also inside value_tanh's _backward and LinearFunction.backward, where the
driver itself calls only the notebook's Value.backward and the Function's own backward).
"""
import math

import numpy as np
import torch

from labkit.grading.codec import encode
from labkit.grading.drivers import run_function, run_graph
from labkit.grading.forbidden import AUTOGRAD, NUMERICAL, aten
from labkit.grading.spec import Call, Exercise, Fn, Part
from labkit.grading.verdict import as_array, compare

LAB = "06_backprop_by_hand"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}


# Everything that differentiates for you (labkit.grading.forbidden: autograd in all its forms, and central
# differences, which exercise 2 is), and ATen's backward kernels where one computes the exercise.
NO_AUTOGRAD = AUTOGRAD + NUMERICAL
NEURON_FORBIDDEN = NO_AUTOGRAD + aten("sigmoid_backward")
TANH_FORBIDDEN = NO_AUTOGRAD + aten("tanh_backward")


# ----------------------------------------------------------------------------- exercise 1
def reference_gradient(f, x: torch.Tensor) -> torch.Tensor:
    """df/dx by autograd for a scalar function f of a float64 tensor x."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x)
    return grad


def _neuron_probes(rng):
    calls = []
    for _ in range(4):
        w, x = np.round(rng.normal(0, 1.5, 3), 3), np.round(rng.normal(0, 1.5, 2), 3)
        calls.append(Call((torch.from_numpy(w), torch.from_numpy(x)), label=f"w = {w.tolist()}, x = {x.tolist()}"))
    return calls


def _neuron_reference(w, x):
    def neuron(w, x):
        return torch.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    return (float(neuron(w, x)), reference_gradient(lambda t: neuron(t, x), w),
            reference_gradient(lambda t: neuron(w, t), x))


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
def reference_gate_backward(gate: str, a: float, b: float, upstream: float) -> tuple[float, float]:
    """(d out/da, d out/db) * upstream for out = a + b, a * b, max(a, b) or a / b, by autograd."""
    ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    out = {"add": lambda: ta + tb, "mul": lambda: ta * tb, "max": lambda: torch.maximum(ta, tb),
           "div": lambda: ta / tb}[gate]()
    out.backward(torch.tensor(upstream, dtype=torch.float64))
    return ta.grad.item(), tb.grad.item()


def _gate_probes(rng):
    calls, larger_first = [], [True, False, bool(rng.integers(2))]  # max gates: a larger, then b larger, ...
    for gate in rng.permutation(["add", "mul", "max", "add", "mul", "max", "max", "div", "div"]):
        a, b = np.round(rng.normal(0, 3, 2), 3)
        while abs(a - b) < 0.1 or abs(b) < 0.5:  # no ties at the max gate, no b near 0 at the div gate
            a, b = np.round(rng.normal(0, 3, 2), 3)
        if gate == "max" and (a > b) != larger_first.pop(0):
            a, b = b, a
        upstream = float(np.round(rng.normal(0, 2), 3))
        calls.append(Call((str(gate), float(a), float(b), upstream),
                          label=f"{gate} gate, a = {a}, b = {b}, upstream = {upstream}"))
    return calls


def _gate_part(call, got, want):
    """One gate's share of the points: its probes' (da, db) as autograd gives them."""
    return compare(got, want, atol=1e-9, rtol=1e-9)


def _compare_parts(*names):
    """verdict.compare for driven answers [output, [gradients]], naming the wrong part (e.g. "gradient of W")."""
    def compare_parts(got, want):
        try:
            (g_out, g_grads), (w_out, w_grads) = got["__seq__"], want["__seq__"]
            g_grads, w_grads = g_grads["__seq__"], w_grads["__seq__"]
        except (KeyError, TypeError, ValueError):
            return compare(got, want, atol=1e-9, rtol=1e-7)
        if len(g_grads) != len(w_grads):
            return f"expected {len(w_grads)} gradients, received {len(g_grads)}"
        for name, g, w in zip(names, [g_out, *g_grads], [w_out, *w_grads]):
            reason = compare(g, w, atol=1e-9, rtol=1e-7)
            if reason:
                return f"{name}: {reason}"
        return None
    return compare_parts


# ----------------------------------------------------------------------------- exercise 4
GRAPHS = [  # (label, let, expr): "fn" is the student's value_tanh; t used twice checks that gradients add up
    ("tanh(a * b + c)", [], ["fn", ["add", ["mul", "a", "b"], "c"]]),
    ("t * t with t = tanh(a)", [["t", ["fn", "a"]]], ["mul", "t", "t"]),
    ("tanh(a) + tanh(a * c) + b", [], ["add", ["add", ["fn", "a"], ["fn", ["mul", "a", "c"]]], "b"]),
    ("tanh(tanh(a) * b)", [], ["fn", ["mul", ["fn", "a"], "b"]]),
]


def _tanh_probes(rng):
    calls = []
    for label, let, expr in [GRAPHS[i] for i in rng.permutation(len(GRAPHS))]:
        a, b, c = (float(v) for v in np.round(rng.normal(0, 1, 3), 3))
        spec = {"kind": "graph", "node_class": "Value", "leaves": [["a", a], ["b", b], ["c", c]],
                "let": let, "expr": expr}
        calls.append(Call(drive=spec, label=f"{label} with a = {a}, b = {b}, c = {c}; then out.backward()"))
    return calls


def _torch_leaf(value: float) -> torch.Tensor:
    """A float64 scalar tensor that records gradients: torch's stand-in for the notebook's Value."""
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


def _tanh_reference(spec):
    return run_graph(torch.tanh, _torch_leaf, spec)


# ----------------------------------------------------------------------------- exercise 5
def _linear_probes(rng):
    calls = []
    for n, d_in, d_out in [(4, 3, 2), (1, 5, 3), tuple(int(k) for k in rng.integers(2, 7, size=3))]:
        X, W, b = (torch.from_numpy(np.round(rng.normal(0, 1, shape), 3)).requires_grad_()
                   for shape in ((n, d_in), (d_out, d_in), (d_out,)))
        grad_output = torch.from_numpy(np.round(rng.normal(0, 1, (n, d_out)), 3))
        calls.append(Call((X, W, b), drive={"kind": "function", "grad_output": grad_output},
                          label=f"X {n}x{d_in}, W {d_out}x{d_in}, b ({d_out},), a random upstream gradient"))
    return calls


def _linear(X, W, b):
    return X @ W.T + b                                   # (n, d_out); autograd gives the reference gradients


def _linear_reference(spec, X, W, b):
    return run_function(_linear, [X, W, b], spec["grad_output"])


EXERCISES = [
    Exercise("neuron_backward", 2, "Compute z and f = sigmoid(z) with plain arithmetic. The sigmoid's local gradient "
             "needs only f itself; then each multiply gate gives an input the upstream gradient times the other "
             "factor, and the add gate passes it unchanged to the bias. Return f as a number, dw with 3 and dx with "
             "2 entries, without autograd.", _neuron_probes, _neuron_reference, atol=1e-9, rtol=1e-7,
             forbidden=NEURON_FORBIDDEN),
    Exercise("numerical_gradient", 2, "Use a central difference with the step h you are given (h defaults to 1e-5): "
             "for each entry of x, evaluate f with that entry raised by h and lowered by h, divide the difference by "
             "2h, and put the entry back exactly as it was. The answer has x's shape (any number of dimensions) and "
             "x must be unchanged afterwards.", _numgrad_probes, _central_reference,
             compare=_gradient_compare, verify=_x_unchanged, forbidden=NO_AUTOGRAD),
    Exercise("gate_backward", 2, "An add gate hands the upstream gradient to both inputs unchanged; a multiply gate "
             "gives each input the upstream gradient times the OTHER input; a max gate sends all of it to the "
             "larger input and 0 to the smaller one; a divide gate a / b sends upstream / b to a and "
             "-upstream * a / b**2 to b. Return the pair (da, db), by these rules (not with autograd).",
             _gate_probes, reference_gate_backward, atol=1e-9, rtol=1e-9, forbidden=NO_AUTOGRAD,
             parts=tuple(Part(f"{gate} gate", 0.5, _gate_part, cases=(f"{gate} gate",))
                         for gate in ("add", "mul", "max", "div"))),
    Exercise("value_tanh", 2, "The new node's data is tanh(v.data); its _backward must ADD (1 - t**2) * out.grad to "
             "v.grad (+=, not =): a node used twice, or two tanh nodes of the same input, must sum their "
             "gradients. Checked on small graphs built from your Value class, after out.backward().",
             _tanh_probes, _tanh_reference, compare=_compare_parts("out.data", "a.grad", "b.grad", "c.grad"),
             forbidden=TANH_FORBIDDEN),
    Exercise("LinearFunction", 2, "In backward, with Y = X @ W.T + b and upstream gradient grad_Y of Y's shape: "
             "grad_X = grad_Y @ W, grad_W = grad_Y.T @ X, grad_b = grad_Y summed over the rows. The output of "
             "forward and all three gradients are compared, without autograd inside backward.",
             _linear_probes, _linear_reference, compare=_compare_parts("the output Y", "grad_X", "grad_W", "grad_b"),
             forbidden=NO_AUTOGRAD),
]


# ----------------------------------------------------------------------------- model answers
class Value:
    """The notebook's scalar node (data, grad, parents, _backward; +, *, backward()), for the model answers."""

    def __init__(self, data: float, parents: tuple = ()):
        self.data, self.grad, self._parents, self._backward = float(data), 0.0, parents, lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    __radd__, __rmul__ = __add__, __mul__

    def backward(self) -> None:
        order, seen = [], set()

        def visit(node):
            if node not in seen:
                seen.add(node)
                for parent in node._parents:
                    visit(parent)
                order.append(node)
        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def value_tanh(v: Value) -> Value:
    """The notebook's answer to exercise 4."""
    t = math.tanh(v.data)
    out = Value(t, (v,))

    def _backward():
        v.grad += (1 - t**2) * out.grad
    out._backward = _backward
    return out


class LinearFunction(torch.autograd.Function):
    """The notebook's answer to exercise 5."""

    @staticmethod
    def forward(ctx, X, W, b):
        ctx.save_for_backward(X, W)
        return X @ W.T + b

    @staticmethod
    def backward(ctx, grad_Y):
        X, W = ctx.saved_tensors
        return grad_Y @ W, grad_Y.T @ X, grad_Y.sum(dim=0)


# What a correct notebook holds, for the tests of these hidden tests (the driven exercises and the node class).
MODEL_ANSWERS = {"value_tanh": value_tanh, "Value": Value, "LinearFunction": LinearFunction}
