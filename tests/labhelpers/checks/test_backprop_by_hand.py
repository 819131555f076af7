"""Tests for labhelpers.checks.backprop_by_hand: each check passes a correct answer and fails wrong ones.

Every check compares with autograd (no stored answers). (Not implemented, raising and None answers, and
skipping while graded: tests/labhelpers/checks/test_contract.py.)
"""
import gc
import math
import weakref

import pytest
import torch

from labhelpers.checks.backprop_by_hand import (check_gate_backward, check_linear_function, check_neuron_backward,
                                        check_numerical_gradient, check_value_tanh)


def _todo(*args):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def numerical_gradient(f, x, h=1e-5):
    grad = torch.zeros_like(x)
    flat, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        f_plus = float(f(x))
        flat[i] = old - h
        f_minus = float(f(x))
        flat[i] = old
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def gate_backward(gate, a, b, upstream):
    if gate == "add":
        return upstream, upstream
    if gate == "mul":
        return b * upstream, a * upstream
    if gate == "div":
        return upstream / b, -a / b**2 * upstream
    return (upstream, 0.0) if a > b else (0.0, upstream)


def neuron_backward(w, x):
    z = (w[0] * x[0] + w[1] * x[1] + w[2]).item()
    f = 1 / (1 + math.exp(-z))
    dz = (1 - f) * f
    return f, torch.tensor([x[0] * dz, x[1] * dz, dz]), torch.tensor([w[0] * dz, w[1] * dz])


class Value:
    """Minimal micrograd-style scalar, as in the notebook."""

    def __init__(self, data, parents=()):
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

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for p in v._parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def value_tanh(v, assign=False, derivative=lambda t: 1 - t**2):
    t = math.tanh(v.data)
    out = Value(t, (v,))

    def _backward():
        if assign:
            v.grad = derivative(t) * out.grad
        else:
            v.grad += derivative(t) * out.grad
    out._backward = _backward
    return out


def make_linear_function(backward_fn):
    class LinearFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X, W, b):
            ctx.save_for_backward(X, W)
            return X @ W.T + b

        @staticmethod
        def backward(ctx, grad_Y):
            X, W = ctx.saved_tensors
            return backward_fn(X, W, grad_Y)
    return LinearFunction


LinearFunction = make_linear_function(lambda X, W, G: (G @ W, G.T @ X, G.sum(dim=0)))


# ---- check_numerical_gradient -------------------------------------------------------------------

def test_numerical_gradient_accepts_reference(capsys):
    assert check_numerical_gradient(numerical_gradient) is True
    assert "[OK] numerical_gradient" in capsys.readouterr().out


def test_numerical_gradient_rejects_forward_difference(capsys):
    def forward(f, x, h=1e-5):
        grad = torch.zeros_like(x)
        base = float(f(x))
        for i in range(x.numel()):
            old = x.view(-1)[i].item()
            x.view(-1)[i] = old + h
            grad.view(-1)[i] = (float(f(x)) - base) / h
            x.view(-1)[i] = old
        return grad
    assert check_numerical_gradient(forward) is False
    assert "CENTRAL" in capsys.readouterr().out


def test_numerical_gradient_rejects_modifying_x(capsys):
    def no_restore(f, x, h=1e-5):
        grad = numerical_gradient(f, x, h)
        x.view(-1)[0] += h
        return grad
    assert check_numerical_gradient(no_restore) is False
    assert "x was modified" in capsys.readouterr().out


def test_numerical_gradient_rejects_flat_result():
    assert check_numerical_gradient(lambda f, x, h=1e-5: numerical_gradient(f, x, h).view(-1)) is False


# ---- check_gate_backward ------------------------------------------------------------------------

def test_gate_backward_accepts_reference():
    assert check_gate_backward(gate_backward) is True


def test_gate_backward_rejects_unswitched_mul(capsys):
    def no_switch(gate, a, b, upstream):
        return (a * upstream, b * upstream) if gate == "mul" else gate_backward(gate, a, b, upstream)
    assert check_gate_backward(no_switch) is False
    assert "SWITCHES" in capsys.readouterr().out


def test_gate_backward_rejects_max_sending_to_both():
    def both(gate, a, b, upstream):
        return (upstream, upstream) if gate == "max" else gate_backward(gate, a, b, upstream)
    assert check_gate_backward(both) is False


def test_gate_backward_rejects_a_div_gate_without_the_minus(capsys):
    def no_minus(gate, a, b, upstream):
        return (upstream / b, a / b**2 * upstream) if gate == "div" else gate_backward(gate, a, b, upstream)
    assert check_gate_backward(no_minus) is False
    assert "a div gate" in capsys.readouterr().out


def test_gate_backward_rejects_the_three_gates_only(capsys):
    def three(gate, a, b, upstream):
        if gate == "div":
            raise ValueError(f"unknown gate {gate!r}")
        return gate_backward(gate, a, b, upstream)
    assert check_gate_backward(three) is False
    assert "unknown gate 'div'" in capsys.readouterr().out


def test_gate_backward_rejects_add_halving():
    def halves(gate, a, b, upstream):
        return (upstream / 2, upstream / 2) if gate == "add" else gate_backward(gate, a, b, upstream)
    assert check_gate_backward(halves) is False


# ---- check_neuron_backward ----------------------------------------------------------------------

def test_neuron_backward_accepts_reference():
    assert check_neuron_backward(neuron_backward) is True


def test_neuron_backward_rejects_missing_sigmoid_derivative():
    def no_local(w, x):
        f, _, _ = neuron_backward(w, x)
        return f, torch.tensor([x[0], x[1], 1.0]), w[:2].clone()
    assert check_neuron_backward(no_local) is False


def test_neuron_backward_rejects_swapped_dw_dx(capsys):
    def swapped(w, x):
        f, dw, dx = neuron_backward(w, x)
        return f, torch.cat([dx, dw[2:]]), dw[:2]
    assert check_neuron_backward(swapped) is False
    assert "SWITCHES" in capsys.readouterr().out


# ---- check_value_tanh ---------------------------------------------------------------------------

def test_value_tanh_accepts_reference():
    assert check_value_tanh(value_tanh, Value) is True


def test_value_tanh_rejects_assignment_instead_of_accumulation(capsys):
    assert check_value_tanh(lambda v: value_tanh(v, assign=True), Value) is False
    assert "ADD" in capsys.readouterr().out


def test_value_tanh_rejects_sigmoid_style_derivative():
    assert check_value_tanh(lambda v: value_tanh(v, derivative=lambda t: t * (1 - t)), Value) is False


def test_value_tanh_reports_not_implemented_backward(capsys):
    def stub(v):
        out = Value(math.tanh(v.data), (v,))

        def _backward():
            raise NotImplementedError("student")
        out._backward = _backward
        return out
    assert check_value_tanh(stub, Value) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_linear_function ----------------------------------------------------------------------

def test_linear_function_accepts_reference():
    assert check_linear_function(LinearFunction) is True


def test_linear_function_rejects_wrong_weight_gradient(capsys):
    wrong = make_linear_function(lambda X, W, G: (G @ W, G.T @ X.abs(), G.sum(dim=0)))
    assert check_linear_function(wrong) is False
    assert "grad_W" in capsys.readouterr().out


def test_linear_function_rejects_transposed_weight_gradient(capsys):
    wrong = make_linear_function(lambda X, W, G: (G @ W, X.T @ G, G.sum(dim=0)))
    assert check_linear_function(wrong) is False
    assert "grad_W of shape (2, 3)" in capsys.readouterr().out


def test_linear_function_rejects_an_unsummed_bias_gradient(capsys):
    # autograd would quietly sum an (n, d_out) bias gradient to (d_out,); the check reads what backward returns
    wrong = make_linear_function(lambda X, W, G: (G @ W, G.T @ X, G))
    assert check_linear_function(wrong) is False
    assert "grad_b of shape (2,)" in capsys.readouterr().out


def test_linear_function_rejects_mean_bias_gradient():
    wrong = make_linear_function(lambda X, W, G: (G @ W, G.T @ X, G.mean(dim=0)))
    assert check_linear_function(wrong) is False


def test_linear_function_reports_not_implemented_backward(capsys):
    stub = make_linear_function(_todo)
    assert check_linear_function(stub) is False
    assert "not implemented yet" in capsys.readouterr().out




def test_linear_function_reports_a_plain_function(capsys):
    assert check_linear_function(lambda X, W, b: X @ W.T + b) is False
    assert "subclass of torch.autograd.Function" in capsys.readouterr().out


class OutputMustLive(torch.autograd.Function):
    """A correct LinearFunction that behaves as under torch 2.11 (Colab's), where a custom Function's graph and
    saved tensors are freed as soon as nothing references the node any more: a backward called directly
    (grad_fn.apply, outside the autograd engine) after the output of forward was freed raises the error a correct
    notebook got there. (torch 2.15 keeps them, so the check's old `apply(...).grad_fn.apply(G)` passed here.)"""

    @staticmethod
    def forward(ctx, X, W, b):
        ctx.save_for_backward(X, W)
        out = X @ W.T + b
        ctx.output = weakref.ref(out)          # the very tensor apply() returns
        return out

    @staticmethod
    def backward(ctx, grad_Y):
        gc.collect()
        if torch._C._current_graph_task_id() == -1 and ctx.output() is None:   # not inside the engine
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed) [emulated]")
        X, W = ctx.saved_tensors
        return grad_Y @ W, grad_Y.T @ X, grad_Y.sum(dim=0)


def test_the_emulation_of_torch_2_11_fails_where_the_output_is_dropped():
    X, W, b = (torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in ((3, 2), (4, 2), (4,)))
    with pytest.raises(RuntimeError, match="second time"):
        OutputMustLive.apply(X, W, b).grad_fn.apply(torch.ones(3, 4, dtype=torch.float64))
    out = OutputMustLive.apply(X, W, b)
    assert len(out.grad_fn.apply(torch.ones(3, 4, dtype=torch.float64))) == 3


def test_linear_function_keeps_the_output_alive_while_its_backward_runs(capsys):
    assert check_linear_function(OutputMustLive) is True, capsys.readouterr().out
