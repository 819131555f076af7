"""What a student's training loop did with its optimizer, for the loop checks (labs 08, 10, 12, 13)."""
from __future__ import annotations

import torch


class WatchedOptimizer:
    """Wraps an optimizer and records each step's gradient norm (the sum of the norms of the parameters that
    have a gradient, after any clipping) and the number of zero_grad calls."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer, self.grad_norms, self.zero_grads = optimizer, [], 0
        self.param_groups = optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.zero_grads += 1
        self.optimizer.zero_grad(set_to_none)

    def step(self, closure=None):
        self.grad_norms.append(sum(float(torch.linalg.vector_norm(p.grad.double()))
                                   for group in self.param_groups for p in group["params"] if p.grad is not None))
        return self.optimizer.step(closure)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()
