"""Drive exercises that are not plain functions: a scalar autograd graph, a torch.autograd.Function (grading).

The sandbox runs a driver on the student's object (lab 06: ``value_tanh`` on the notebook's ``Value``
nodes, the ``LinearFunction`` class); the grading file runs the same driver on its reference, so
both answers are plain values that compare like any other. A spec is plain JSON:

- ``{"kind": "graph", "node_class": "Value", "leaves": [["a", 0.5], ...], "let": [["t", ["fn", "a"]]],
  "expr": ["mul", "t", "t"]}``: leaves become ``node_class(value)``, ``["fn", x]`` calls the exercise,
  ``add``/``mul`` use the nodes' operators; then ``out.backward()``. Answer: ``[out.data, leaf grads]``.
- ``{"kind": "function", "grad_output": tensor}``: ``out = cls.apply(*args)``, then its backward on
  ``grad_output``. Answer: ``[out, [what backward returned, one per argument]]``. The student's object must
  be a ``torch.autograd.Function`` subclass: a plain function would get autograd's gradients for free.
"""
from __future__ import annotations

from typing import Any, Callable

OPS: dict[str, Callable[[Any, Any], Any]] = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b}


def run_graph(fn: Callable, make_leaf: Callable[[float], Any], spec: dict) -> list:
    """Build spec's expression from ``make_leaf`` nodes and ``fn``, backpropagate; ``[output, leaf grads]``."""
    env = {str(name): make_leaf(float(value)) for name, value in spec["leaves"]}

    def evaluate(expr: Any) -> Any:
        if isinstance(expr, str):
            return env[expr]
        if isinstance(expr, (int, float)):
            return float(expr)
        op, *args = expr
        values = [evaluate(arg) for arg in args]
        if op == "fn":
            return fn(*values)
        if op not in OPS:
            raise ValueError(f"unknown graph operation {op!r}; known: fn, {', '.join(OPS)}")
        return OPS[op](*values)

    for name, expr in spec.get("let", []):
        env[str(name)] = evaluate(expr)           # a named node used twice (its gradients must add up)
    out = evaluate(spec["expr"])
    out.backward()
    grads = [env[str(name)].grad for name, _ in spec["leaves"]]
    return [float(out.data), [0.0 if g is None else float(g) for g in grads]]


def run_function(function: Any, args: list, grad_output: Any) -> list:
    """``[output, gradients]`` of ``function.apply(*args)`` for the upstream gradient ``grad_output``.

    For a torch.autograd.Function the gradients are exactly what its ``backward`` returns (via
    ``out.grad_fn``): autograd would quietly sum a too-large gradient, e.g. an unsummed bias gradient
    (n, d_out), down to the input's shape. ``out`` stays referenced until its grad_fn has run: once the
    output is garbage, torch (2.11, Colab's) frees the graph and its saved tensors, and ``ctx.saved_tensors``
    raises "Trying to backward through the graph a second time". A plain function (a reference, called
    here by the grading file, never through :func:`drive`) gets autograd's gradients.
    """
    if hasattr(function, "apply"):
        out = function.apply(*args)
        grads = out.grad_fn.apply(grad_output)                 # the student's backward, as returned; out alive
        grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
    else:
        import torch
        out = function(*args)
        grads = list(torch.autograd.grad(out, args, grad_output))
    return [out.detach(), [g.detach() if hasattr(g, "detach") else g for g in grads]]


def drive(obj: Any, spec: dict, namespace: dict, args: list) -> list:
    """Run the driver ``spec["kind"]`` on the student's ``obj`` (sandbox side; ``namespace``: their globals)."""
    kind = spec.get("kind")
    if kind == "graph":
        node_class = namespace.get(spec["node_class"])
        if not callable(node_class):
            raise NameError(f"no class named {spec['node_class']} is defined (the notebook's node class)")
        return run_graph(obj, node_class, spec)
    if kind == "function":
        import torch
        if not (isinstance(obj, type) and issubclass(obj, torch.autograd.Function)):
            raise TypeError(f"expected a subclass of torch.autograd.Function with its own forward and backward, "
                            f"received a {type(obj).__name__}: keep the class as the notebook defines it")
        return run_function(obj, args, spec["grad_output"])
    raise ValueError(f"unknown driver {kind!r}; known: graph, function")
