"""Tests of lab 07's hidden test for exercise 3 (train_momentum: a training loop with the student's momentum step).

The loop is graded by behaviour (grading/07_training_tricks.py, labkit/grading/training.py): a seeded MLP trains
on real digits with the student's loop and with the reference (the same loop with torch.optim.SGD(momentum));
the parts compare the losses, the mode, the weights after it, and an outcome (test accuracy after 3 epochs).
Here the right loop earns every point, and each classic mistake, written as a student would write it, earns
part of them with a message that names it.

Run as a script, it measures the outcome's margin: the reference's test accuracy over seeds 0-19.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.grading.spec import expected_answer, load_lab_tests
from labkit.grading.verdict import evaluate_in_process

ROOT = Path(__file__).resolve().parents[3]
LAB = "07_training_tricks"


def momentum_step(W, V, grad, lr, beta):
    """The slide's step (exercise 1), as the notebook defines it."""
    V = beta * V - lr * grad
    return W + V, V


def student(mistake: str | None = None):
    """train_momentum as a student writes it, with one classic ``mistake`` (None: the right loop)."""
    def train_momentum(model, train_loader, num_epochs, lr, beta, device):
        velocities = [torch.zeros_like(p) for p in model.parameters()]
        losses = []
        if mistake != "no train()":
            model.train()
        for _ in range(num_epochs):
            if mistake == "velocity per epoch":
                velocities = [torch.zeros_like(p) for p in model.parameters()]
            for X, y in train_loader:
                if mistake == "velocity per batch":
                    velocities = [torch.zeros_like(p) for p in model.parameters()]
                if mistake != "no zero_grad":
                    model.zero_grad()
                loss = F.nll_loss(model(X.to(device)), y.to(device), reduction="sum" if mistake == "summed loss" else "mean")
                loss.backward()
                with torch.no_grad():
                    for i, p in enumerate(model.parameters()):
                        grad = -p.grad if mistake == "wrong sign" else p.grad
                        W_new, velocities[i] = momentum_step(p, velocities[i], grad, lr, beta)
                        if mistake == "rebinding":
                            p = W_new                                        # the model never sees it  # noqa: PLW2901
                        else:
                            p.copy_(W_new)
                losses.append(loss if mistake == "loss tensor" else loss.item())
        return losses
    return train_momentum


def _tests():
    tests = load_lab_tests(ROOT / "grading", LAB)
    tests.exercises = [ex for ex in tests.exercises if ex.function == "train_momentum"]
    return tests


def _grade(fn, seed: int = 0):
    result, = evaluate_in_process(_tests(), {"train_momentum": fn, "momentum_step": momentum_step},
                                  np.random.default_rng(seed))
    return result, {p["name"]: p for p in result.get("parts", [])}


def test_the_right_loop_earns_every_part():
    result, _ = _grade(student())
    assert result["points"] == 4 and result["status"] == "passed", result


def test_torch_optim_is_refused():
    def with_sgd(model, train_loader, num_epochs, lr, beta, device):
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=beta)
        model.train()
        losses = []
        for _ in range(num_epochs):
            for X, y in train_loader:
                optimizer.zero_grad()
                loss = F.nll_loss(model(X), y)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        return losses
    result, _ = _grade(with_sgd)
    assert result["points"] == 0 and result["status"] == "forbidden", result


@pytest.mark.parametrize("mistake,lost,words", [
    ("no zero_grad", ("same losses", "same weights", "outcome: test accuracy"), "zero_grad"),
    ("velocity per batch", ("same losses", "same weights"), "start again from zero at every batch"),
    ("velocity per epoch", ("same losses", "same weights"), "at every epoch"),
    ("wrong sign", ("same losses", "same weights", "outcome: test accuracy"), "uphill"),
    ("summed loss", ("same losses", "same weights", "outcome: test accuracy"), "average the loss over the batch"),
    ("rebinding", ("same losses", "same weights", "outcome: test accuracy"), "never changed"),
    ("no train()", ("model.train()",), "model.train()"),
    ("loss tensor", ("losses as numbers",), "loss.item()"),
])
def test_each_mistake_loses_its_parts_with_a_named_message(mistake, lost, words):
    result, parts = _grade(student(mistake))
    assert 0 < result["points"] < 4 and result["status"] == "partial", result
    assert {name for name, part in parts.items() if part["points"] == 0} == set(lost), parts
    assert any(words in parts[name]["detail"] for name in lost), [parts[name]["detail"] for name in lost]


def _outcome_accuracies(seeds) -> list[float]:
    spec = importlib.util.spec_from_file_location("hidden07", ROOT / "grading" / f"{LAB}.py")
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    exercise = next(ex for ex in load_lab_tests(ROOT / "grading", LAB).exercises if ex.function == "train_momentum")
    accuracies = []
    for seed in seeds:
        call = exercise.probes(np.random.default_rng(seed))[-1]
        want = expected_answer(exercise, call, "")
        reason = hidden._loop_outcome(call, want, want)
        assert reason is None, reason
        _, state = hidden._record(want)
        model = hidden.build_layers([list(x) for x in call.args[0].spec], call.args[0].seed)
        model.load_state_dict({k: torch.from_numpy(v).float() for k, v in state.items()})
        with torch.no_grad():
            correct = sum(int((model.eval()(X).argmax(dim=1) == y).sum())
                          for X, y in hidden.digits_loader("test", 500, 500, False))
        accuracies.append(100.0 * correct / 500)
    return accuracies


def test_the_outcome_threshold_keeps_its_margin():
    """The reference reaches the outcome on 3 fresh probes with room to spare (the spec documents 20)."""
    spec = importlib.util.spec_from_file_location("hidden07", ROOT / "grading" / f"{LAB}.py")
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    assert min(_outcome_accuracies(range(3))) >= hidden.LOOP_ACCURACY + 5


if __name__ == "__main__":  # the measurement the spec quotes
    accuracies = np.array(_outcome_accuracies(range(20)))
    print(f"reference, seeds 0-19: min {accuracies.min():.1f} %, median {np.median(accuracies):.1f} %, "
          f"max {accuracies.max():.1f} %")
