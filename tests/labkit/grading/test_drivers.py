"""Tests for labkit.grading.drivers: scalar graphs and autograd Functions driven like a student's object."""
import pytest
import torch

from labkit.grading.drivers import drive, run_function, run_graph


def _leaf(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


def test_a_node_used_twice_sums_its_gradients():
    spec = {"leaves": [["a", 0.5], ["b", 2.0]], "let": [["t", ["fn", "a"]]], "expr": ["mul", "t", "t"]}
    out, (grad_a, grad_b) = run_graph(torch.tanh, _leaf, spec)
    t = torch.tanh(torch.tensor(0.5, dtype=torch.float64))
    assert out == pytest.approx(float(t * t))
    assert grad_a == pytest.approx(float(2 * t * (1 - t * t))) and grad_b == 0.0   # b unused: 0, not None


def test_constants_in_a_graph_are_plain_numbers():
    out, (grad_a,) = run_graph(torch.tanh, _leaf, {"leaves": [["a", 1.5]], "expr": ["mul", 3.0, "a"]})
    assert (out, grad_a) == (pytest.approx(4.5), pytest.approx(3.0))


def test_an_unknown_graph_operation_is_named():
    with pytest.raises(ValueError, match="'pow'"):
        run_graph(torch.tanh, _leaf, {"leaves": [["a", 1.0]], "expr": ["pow", "a", "a"]})


def test_run_function_returns_the_output_and_each_arguments_gradient():
    X, W = torch.randn(3, 2, requires_grad=True), torch.randn(4, 2, requires_grad=True)
    grad_output = torch.randn(3, 4)
    out, (grad_X, grad_W) = run_function(lambda X, W: X @ W.T, [X, W], grad_output)
    assert torch.allclose(out, X @ W.T) and not out.requires_grad
    assert torch.allclose(grad_X, grad_output @ W) and torch.allclose(grad_W, grad_output.T @ X)


def test_run_function_returns_what_an_autograd_functions_backward_returned():
    class Unsummed(torch.autograd.Function):   # a bias gradient left (n, d_out): autograd would sum it
        @staticmethod
        def forward(ctx, X, b):
            return X + b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    X, b = torch.randn(3, 2, requires_grad=True), torch.randn(2, requires_grad=True)
    _, (grad_X, grad_b) = run_function(Unsummed, [X, b], torch.ones(3, 2))
    assert grad_X.shape == (3, 2) and grad_b.shape == (3, 2)


def test_drive_wants_the_notebooks_node_class():
    with pytest.raises(NameError, match="Value"):
        drive(torch.tanh, {"kind": "graph", "node_class": "Value", "leaves": [], "expr": "a"}, {}, [])


def test_drive_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown driver"):
        drive(torch.tanh, {"kind": "magic"}, {}, [])


def test_drive_wants_an_autograd_function_for_a_function_driver():
    """A plain function would get autograd's gradients from run_function: the student's object must be a Function."""
    X, W = torch.randn(3, 2, requires_grad=True), torch.randn(4, 2, requires_grad=True)
    with pytest.raises(TypeError, match="torch.autograd.Function"):
        drive(lambda X, W: X @ W.T, {"kind": "function", "grad_output": torch.ones(3, 4)}, {}, [X, W])


def test_run_function_keeps_the_output_alive_while_its_backward_runs():
    """torch 2.11 frees a custom Function's saved tensors once nothing references its node (torch 2.15 does not):
    this Function emulates that for a backward called directly after its output was freed, so run_function must
    hold the output until its grad_fn has run."""
    import gc
    import weakref

    class OutputMustLive(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X):
            out = 2 * X
            ctx.output = weakref.ref(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            gc.collect()
            if torch._C._current_graph_task_id() == -1 and ctx.output() is None:   # called directly
                raise RuntimeError("Trying to backward through the graph a second time (emulated)")
            return 2 * grad

    X = torch.randn(3, requires_grad=True)
    out, (grad_X,) = drive(OutputMustLive, {"kind": "function", "grad_output": torch.ones(3)}, {}, [X])
    assert torch.allclose(out, 2 * X) and torch.allclose(grad_X, torch.full((3,), 2.0))
    with pytest.raises(RuntimeError, match="second time"):   # the emulation bites where the output is dropped
        OutputMustLive.apply(X).grad_fn.apply(torch.ones(3))
