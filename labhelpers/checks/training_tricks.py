"""Self-checks of lab 07 (training tricks): momentum and AdaGrad by hand, a training loop with the
momentum step, Kaiming init, dropout.

No check holds an implementation of its exercise. The optimiser checks feed the student's update and
``torch.optim`` (SGD with momentum, Adagrad) the same sequence of gradients, drawn from NumPy's seeded
generator, and compare the weights after every step. The training loop is compared with
``labhelpers.train_one_epoch`` driving ``torch.optim.SGD(momentum=beta)`` from the same NumPy-seeded model
and batches: the weights after it and the loss of every batch. The init and dropout checks are statistical, on
tensors large enough that a wrong rule cannot pass by chance: the weights must look like draws of
``nn.init.kaiming_uniform_`` (their bound from torch's own gain for ReLU), the dropped share and the
rescaling like ``nn.Dropout``'s.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import attempt, close, report, skip_during_grading

__all__ = ["check_momentum_step", "check_adagrad_step", "check_train_momentum", "check_init_weights", "check_dropout"]

LAB = "07_training_tricks"


def _as_tensor(value: Any) -> torch.Tensor | None:
    """``value`` as a float64 CPU tensor (tensor, array, list, number), or None when it is not numeric."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64)
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _pair(name: str, received: Any, what: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Unpack a (W, state) answer into two float64 tensors, reporting a failure when it is not one."""
    if not isinstance(received, (tuple, list)) or len(received) != 2:
        report(name, False, expected=f"a pair (W_new, {what}_new)", received=repr(received)[:80],
               hint=f"end with `return W, {what}`")
        return None
    W, state = (_as_tensor(v) for v in received)
    if W is None or state is None:
        report(name, False, expected="two tensors", received=f"{type(received[0]).__name__}, "
               f"{type(received[1]).__name__}", hint="return tensors (or arrays) for both values")
        return None
    return W, state


def _gradient_sequence(seed: int, steps: int, size: int) -> list[torch.Tensor]:
    """``steps`` random gradients of ``size`` values (float64, NumPy-seeded), the same for student and torch.optim."""
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(rng.normal(size=size)) for _ in range(steps)]


def _torch_trajectory(make_optimizer: Callable, W0: torch.Tensor, grads: list[torch.Tensor]):
    """Weights (and optimiser state) after each step of a torch.optim optimiser fed ``grads``."""
    W = W0.clone().requires_grad_(True)
    optimizer = make_optimizer([W])
    trajectory = []
    for g in grads:
        W.grad = g.clone()
        optimizer.step()
        trajectory.append((W.detach().clone(), {k: v.clone() if torch.is_tensor(v) else v
                                                for k, v in optimizer.state[W].items()}))
    return trajectory


# ----------------------------------------------------------------------------- exercise 1
def check_momentum_step(fn: Callable) -> bool:
    """Check ``fn(W, V, grad, lr, beta)`` -> (W, V) is the slides' momentum step (lab 07, exercise 1).

    V_t = beta * V_{t-1} - lr * grad; W = W + V_t. Compared, step after step, with
    ``torch.optim.SGD(momentum=beta)`` fed the same gradients (there V = -lr * momentum_buffer).
    """
    name = "momentum_step"
    if skip_during_grading(name):
        return True
    for seed, lr, beta, steps in [(0, 0.1, 0.9, 6), (1, 0.05, 0.5, 5), (2, 0.3, 0.0, 3)]:
        grads = _gradient_sequence(seed, steps, 4)
        W0 = torch.linspace(-1.0, 1.0, 4, dtype=torch.float64)
        reference = _torch_trajectory(lambda p: torch.optim.SGD(p, lr=lr, momentum=beta), W0, grads)
        W, V = W0.clone(), torch.zeros_like(W0)
        W_plain = W0.clone()
        for step, (g, (W_ref, state)) in enumerate(zip(grads, reference), start=1):
            ok, received = attempt(name, fn, W.clone(), V.clone(), g.clone(), lr, beta)
            if not ok:
                return False
            pair = _pair(name, received, "V")
            if pair is None:
                return False
            W, V = pair
            W_plain = W_plain - lr * g                        # a wrong variant: plain SGD from the same start
            buffer = state.get("momentum_buffer")
            buffer = g if buffer is None else buffer          # beta = 0: torch keeps no buffer; it steps by grad
            V_ref = -lr * buffer
            case = f"lr={lr}, beta={beta}, step {step}"
            if not close(W, W_ref, atol=1e-9):
                hint = "V = beta * V - lr * grad, then W = W + V (the new V)"
                if close(W, W_plain, atol=1e-9) and beta and step > 1:
                    hint = "your W moves like plain SGD: add the velocity V (which remembers past steps)"
                elif step == 1 and close(W, W0 + lr * g, atol=1e-9):    # a wrong variant: the wrong sign
                    hint = "wrong sign: step against the gradient (V = beta * V - lr * grad)"
                return report(name, False, expected=W_ref.numpy(), received=W.numpy(), hint=f"{case}: {hint}")
            if not close(V, V_ref, atol=1e-9):
                hint = "return the slide's V: V = beta * V - lr * grad"
                if close(V, buffer, atol=1e-9):
                    hint = ("that is PyTorch's buffer b = beta * b + grad; the slide's velocity is "
                            "V = beta * V - lr * grad (= -lr * b)")
                return report(name, False, expected=V_ref.numpy(), received=V.numpy(), hint=f"{case}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def check_adagrad_step(fn: Callable) -> bool:
    """Check ``fn(W, n, grad, lr, eps)`` -> (W, n) is the slides' AdaGrad step (lab 07, exercise 2).

    n = n + grad**2 (the sum of all squared gradients so far); W = W - lr * grad / sqrt(n + eps).
    Compared with ``torch.optim.Adagrad`` (which divides by sqrt(n) + eps: with eps = 1e-10 the two
    agree to ~1e-10) fed the same gradients.
    """
    name = "adagrad_step"
    if skip_during_grading(name):
        return True
    eps = 1e-10
    for seed, lr, steps in [(3, 0.1, 6), (4, 0.5, 4)]:
        grads = _gradient_sequence(seed, steps, 5)
        W0 = torch.linspace(-2.0, 2.0, 5, dtype=torch.float64)
        reference = _torch_trajectory(lambda p: torch.optim.Adagrad(p, lr=lr, eps=eps), W0, grads)
        W, n = W0.clone(), torch.zeros_like(W0)
        for step, (g, (W_ref, state)) in enumerate(zip(grads, reference), start=1):
            ok, received = attempt(name, fn, W.clone(), n.clone(), g.clone(), lr, eps)
            if not ok:
                return False
            pair = _pair(name, received, "n")
            if pair is None:
                return False
            W_prev, (W, n) = W, pair
            n_ref = state["sum"]
            case = f"lr={lr}, step {step}"
            if not close(n, n_ref, atol=1e-9):
                hint = "n = n + grad ** 2 (add the squared gradient to the running sum)"
                if close(n, g ** 2, atol=1e-9):
                    hint = "n must be the running SUM of squared gradients over all steps, not only this one"
                elif close(n, n_ref - g ** 2 + g, atol=1e-9):            # a wrong variant: grad not squared
                    hint = "square the gradient before adding it: n = n + grad ** 2"
                return report(name, False, expected=n_ref.numpy(), received=n.numpy(), hint=f"{case}: {hint}")
            if not close(W, W_ref, atol=1e-8, rtol=1e-6):
                hint = "W = W - lr * grad / sqrt(n + eps), with the updated n"
                n_old = n_ref - g ** 2                                     # torch's sum before this step
                if close(W, W_prev - lr * g / torch.sqrt(n_old + eps), atol=1e-8):
                    hint = "update n first, then divide by sqrt of the new n"
                elif close(W, W_prev - lr * g / (n_ref + eps), atol=1e-8):
                    hint = "divide by the square root of n, not by n"
                elif close(W, W_prev - lr * g, atol=1e-8):
                    hint = "that is plain SGD: scale the step by 1 / sqrt(n + eps)"
                return report(name, False, expected=W_ref.numpy(), received=W.numpy(), hint=f"{case}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 3
LOOP_CASES = [(0.9, 1, 8, 8, "beta=0.9, one batch"), (0.0, 1, 32, 8, "beta=0 (plain SGD), 4 batches"),
              (0.9, 2, 24, 8, "beta=0.9, 2 epochs of 3 batches")]  # beta, epochs, images, batch size, label


def _loop_case(beta: float, num_epochs: int, n: int, batch_size: int):
    """A NumPy-seeded float32 MLP (16 -> 6 -> 3, log-probabilities) in evaluation mode and a loader of n images."""
    from labhelpers.data import TensorLoader
    rng = np.random.default_rng(707)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 3), nn.LogSoftmax(dim=1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, size=tuple(p.shape)).astype(np.float32)))
    X = torch.from_numpy(rng.normal(size=(n, 1, 4, 4)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 3, size=n))
    return model.eval(), TensorLoader(X, y, batch_size)


def _torch_loop(model: nn.Module, loader, num_epochs: int, lr: float, beta: float) -> list[float]:
    """labhelpers.train_one_epoch with torch.optim.SGD(momentum=beta), recording every batch's loss."""
    from labhelpers.train import train_one_epoch
    losses: list[float] = []

    def recorded(y_hat, y):
        loss = F.nll_loss(y_hat, y)
        losses.append(float(loss.detach()))
        return loss
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=beta)
    for _ in range(num_epochs):
        train_one_epoch(model, loader, optimizer, "cpu", loss_fn=recorded)
    return losses


def _loop_hint(index: int, right: list[bool], moved: bool, sign: bool, ratio: float) -> str:
    """What the first wrong case says about the loop, read with the other cases."""
    if not moved:
        return ("the parameters never changed: write the new values into each parameter in place "
                "(p.copy_(W_new) inside torch.no_grad()); assigning to a name changes nothing in the model")
    if index == 0 and sign:
        return "the step went uphill: wrong sign (move against the gradient, as the slide's V does)"
    if index == 0 and abs(ratio - LOOP_CASES[0][3]) < 1e-3:
        return "the loss is batch-size times too large: average it over the batch (F.nll_loss's default), no sum"
    if index == 0:
        return ("the first step differs: forward, F.nll_loss (mean over the batch), backward, then your "
                "momentum_step on every parameter with its .grad")
    if index == 1:
        return ("right for one batch, wrong for several even with beta=0: the gradients pile up; clear them "
                "(model.zero_grad()) before each backward()")
    return ("right without momentum, wrong with it over several batches: create one velocity per parameter ONCE, "
            "before the loops, and keep the V that momentum_step returns for the next batch and epoch")


def check_train_momentum(fn: Callable) -> bool:
    """Check ``fn(model, train_loader, num_epochs, lr, beta, device)`` -> the loss of every batch, training with
    the slide's momentum by hand: compared with torch.optim.SGD(momentum=beta) driven by labhelpers'
    train_one_epoch from the same model and batches (lab 07, exercise 3)."""
    name = "train_momentum"
    if skip_during_grading(name):
        return True
    with torch.random.fork_rng(devices=[]):  # building the models draws from torch's RNG: not the notebook's
        return _check_train_momentum(name, fn)


def _check_train_momentum(name: str, fn: Callable) -> bool:
    right, lr = [], 0.1
    for index, (beta, num_epochs, n, batch_size, label) in enumerate(LOOP_CASES):
        model, loader = _loop_case(beta, num_epochs, n, batch_size)
        reference, start = copy.deepcopy(model), copy.deepcopy(model.state_dict())
        modes: list[bool] = []
        model.register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
        ok, received = attempt(name, fn, model, loader, num_epochs, lr, beta, "cpu")
        if not ok:
            return False
        want = _torch_loop(reference, loader, num_epochs, lr, beta)
        if not isinstance(received, (list, tuple)) or any(isinstance(v, torch.Tensor) for v in received):
            return report(name, False, expected=f"a list of {len(want)} floats (one loss per batch)",
                          received=repr(received)[:80], hint="append loss.item() (a number) for every batch")
        if len(received) != len(want) or not all(isinstance(v, (int, float)) for v in received):
            return report(name, False, expected=f"{len(want)} losses", received=f"{len(received)} values",
                          hint=f"{label}: one loss per batch, for num_epochs epochs")
        if not modes or not all(modes):
            return report(name, False, expected="the model in training mode", received="evaluation mode",
                          hint="the model arrives in evaluation mode (as after testing): call model.train() first")
        after = model.state_dict()
        weights_ok = all(close(after[k], v, atol=1e-5) for k, v in reference.state_dict().items())
        right.append(weights_ok and close(received, want, atol=1e-5))
        if right[-1]:
            continue
        moved = any(not torch.equal(after[k], v) for k, v in start.items())
        first = next(iter(start))
        sign = close(after[first] - start[first], start[first] - reference.state_dict()[first], atol=1e-6)
        hint = ("weights right, losses not: record loss.item() of every batch, in order" if weights_ok else
                _loop_hint(index, right, moved, sign, float(received[0]) / want[0] if want[0] else 0.0))
        return report(name, False, expected=f"losses {np.round(want[:4], 5)}", received=f"{np.round(received[:4], 5)}",
                      hint=f"{label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
def _kaiming_bound(fan: int) -> float:
    """The bound of ``nn.init.kaiming_uniform_`` (defaults a=0, leaky_relu) for ``fan``, from torch's own gain:
    gain * sqrt(3 / fan) (a uniform on [-b, b] has the standard deviation b / sqrt(3) = gain / sqrt(fan))."""
    return nn.init.calculate_gain("leaky_relu", 0) * math.sqrt(3.0 / fan)


def _init_model() -> nn.Sequential:
    """A LeNet-shaped model with BatchNorm and PReLU (the modules init_weights must leave alone)."""
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.BatchNorm2d(20), nn.PReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(20, 50, 5), nn.BatchNorm2d(50), nn.PReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(800, 500), nn.BatchNorm1d(500), nn.PReLU(),
                         nn.Dropout(0.5), nn.Linear(500, 10))


def check_init_weights(fn: Callable[[nn.Module], Any]) -> bool:
    """Check ``model.apply(fn)`` gives every Linear/Conv2d weight kaiming_uniform_(mode='fan_in') (lab 07, ex. 4).

    Statistical: weights lie within the bound of ``nn.init.kaiming_uniform_`` for their fan_in, fill it (max
    close to the bound) and have a uniform's standard deviation bound / sqrt(3). BatchNorm and PReLU stay as
    they were. The notebook's random state is left alone (the check draws from a forked one).
    """
    name = "init_weights"
    if skip_during_grading(name):
        return True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the model's construction and the student's init draw from here
        model = _init_model()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        ok, _ = attempt(name, model.apply, fn)
    if not ok:
        return False
    for layer_name, module in model.named_modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.PReLU)):
            for key, value in module.state_dict().items():
                if not torch.equal(value, before[f"{layer_name}.{key}"]):
                    return report(name, False, expected=f"{type(module).__name__} {key} unchanged",
                                  received="changed", hint="only touch nn.Linear and nn.Conv2d layers "
                                  "(check `isinstance(m, (nn.Linear, nn.Conv2d))` or type(m) == ...)")
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        w = module.weight.detach().double()
        fan_in = w[0].numel()
        fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
        bound = _kaiming_bound(fan_in)
        layer = f"{type(module).__name__} {tuple(w.shape)} (fan_in {fan_in})"
        if torch.equal(module.weight, before[f"{layer_name}.weight"]):
            return report(name, False, expected=f"new weights for {layer}", received="the weights PyTorch "
                          "made at construction", hint="call nn.init.kaiming_uniform_(m.weight, mode='fan_in') "
                          "when m is an nn.Linear or nn.Conv2d")
        w_max, w_std = float(w.abs().max()), float(w.std())
        uniform_std = bound / math.sqrt(3)
        if w_max > bound * (1 + 1e-6) or w_max < 0.9 * bound or abs(w_std - uniform_std) > 0.1 * uniform_std:
            hint = "use nn.init.kaiming_uniform_(m.weight, mode='fan_in') (a uniform in [-bound, bound])"
            if abs(w_max - _kaiming_bound(fan_out)) < 0.05 * w_max:
                hint = "mode='fan_in': the bound uses the inputs per output unit, not fan_out"
            elif abs(w_std - uniform_std) < 0.1 * w_std:
                hint = "that looks like kaiming_normal_: the slide uses kaiming_uniform_"
            return report(name, False, expected=f"{layer}: |w| <= {bound:.4f}, max ~ {bound:.4f}, "
                          f"std ~ {uniform_std:.4f}",
                          received=f"max |w| {w_max:.4f}, std {w_std:.4f}", hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
def check_dropout(fn: Callable[[torch.Tensor, float, bool], torch.Tensor]) -> bool:
    """Check ``fn(X, p, training)`` is inverted dropout, like nn.Dropout(p) (lab 07, exercise 5).

    Training: each value is zeroed with probability p, survivors are scaled by 1 / (1 - p) so the
    mean is unchanged. Evaluation (training=False): X is returned unchanged. The student's masks draw
    from a forked random state (seed 0): the notebook's own stays where it was.
    """
    name = "dropout"
    if skip_during_grading(name):
        return True
    X = torch.from_numpy(np.random.default_rng(7).uniform(0.5, 1.5, size=(200, 100)).astype(np.float32))  # no zeros
    ok, received = attempt(name, fn, X.clone(), 0.5, False)
    if not ok:
        return False
    if not close(received, X):
        return report(name, False, expected="X unchanged when training=False", received=_as_tensor(received),
                      hint="at test time dropout does nothing: `if not training: return X`")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the student's mask draws from the global RNG
        return _dropout_training(name, fn, X)


def _dropout_training(name: str, fn: Callable, X: torch.Tensor) -> bool:
    for p in (0.5, 0.2, 0.8):
        ok, received = attempt(name, fn, X.clone(), p, True)
        if not ok:
            return False
        out = _as_tensor(received)
        if out is None or tuple(out.shape) != tuple(X.shape):
            return report(name, False, expected=f"a tensor of shape {tuple(X.shape)}",
                          received=repr(received)[:80], hint="return the masked, rescaled X")
        zero = out == 0
        frac = float(zero.double().mean())
        kept = ~zero
        scale = out[kept] / X.double()[kept]
        if abs(frac - p) > 0.02:
            hint = "zero each value with probability p (mask = torch.rand_like(X) >= p keeps 1 - p of them)"
            if abs(frac - (1 - p)) < 0.02:
                hint = "p is the probability of DROPPING a unit, not of keeping it"
            return report(name, False, expected=f"about {p:.0%} zeros for p={p}", received=f"{frac:.1%} zeros",
                          hint=hint)
        if not torch.allclose(scale, torch.full_like(scale, 1 / (1 - p)), rtol=1e-5):
            hint = "scale the kept values by 1 / (1 - p) (inverted dropout keeps the expected value)"
            if torch.allclose(scale, torch.ones_like(scale)):
                hint = ("you kept the survivors as they were: divide them by (1 - p), otherwise the "
                        "layer's output is smaller in training than at test time")
            return report(name, False, expected=f"kept values = X / (1 - p) = X * {1 / (1 - p):.3f}",
                          received=f"kept values = X * {float(scale.mean()):.3f} (on average)", hint=hint)
    masks = []
    for _ in range(2):
        ok, received = attempt(name, fn, X.clone(), 0.5, True)
        if not ok:
            return False
        masks.append(_as_tensor(received) == 0)
    if torch.equal(masks[0], masks[1]):
        return report(name, False, expected="a new random mask on every call", received="the same mask twice",
                      hint="draw the mask inside the function (torch.rand_like(X)), do not fix a seed there")
    return report(name, True)
