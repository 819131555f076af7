"""Tests of lab 05's hidden test for exercise 4 (fit_logistic, the gradient-descent loop written by hand).

The loop is graded by behaviour (grading/05_regression_classification.py): its form, its costs and its final
weights against the reference loop (autograd + torch.optim.SGD) on fresh seeded inputs, and an outcome (the
training accuracy it reaches on a noisy 200-point problem). Here a correct loop earns every point, and each
classic mistake, written as a student would write it, earns part of them with a message that names it.

Run as a script, it measures the outcome's margin: the reference's training accuracy over seeds 0-99.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit.grading.spec import load_lab_tests
from labkit.grading.verdict import evaluate_in_process

ROOT = Path(__file__).resolve().parents[3]
LAB = "05_regression_classification"


def _tests():
    tests = load_lab_tests(ROOT / "grading", LAB)
    tests.exercises = [ex for ex in tests.exercises if ex.function == "fit_logistic"]
    return tests


def student(mistake: str | None = None):
    """fit_logistic as a student writes it, with one classic ``mistake`` (None: the right loop)."""
    def fit_logistic(X, y, W, b, lr, num_steps):
        m = len(X)
        costs = []
        p = torch.sigmoid(X @ W + b)
        dW, db = X.T @ (p - y) / m, (p - y).mean(dim=0)               # "stale gradient" keeps these
        for step in range(num_steps + 1 if mistake == "extra step" else num_steps):
            p = torch.sigmoid(X @ W + b)                               # (m, 1)
            cost = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
            if mistake != "late cost":
                costs.append(cost.sum() if mistake == "cost tensor summed" else
                             cost.mean() if mistake == "cost tensor" else
                             cost.sum().item() if mistake == "summed cost" else cost.mean().item())
            if mistake != "stale gradient":
                dW, db = X.T @ (p - y) / m, (p - y).mean(dim=0)
            if mistake == "summed gradient":
                dW, db = X.T @ (p - y), (p - y).sum(dim=0)
            if mistake == "wrong sign":
                W, b = W + lr * dW, b + lr * db
            elif mistake == "no lr":
                W, b = W - dW, b - db
            elif mistake == "stale b":
                W = W - lr * dW
                b = b - lr * (torch.sigmoid(X @ W + b) - y).mean(dim=0)
            elif mistake == "no update":
                W_new, b_new = W - lr * dW, b - lr * db               # computed, never assigned  # noqa: F841
            else:
                W, b = W - lr * dW, b - lr * db
            if mistake == "late cost":
                p = torch.sigmoid(X @ W + b)
                costs.append((-(y * torch.log(p) + (1 - y) * torch.log(1 - p))).mean().item())
        return W, b, costs
    return fit_logistic


def _grade(fn, seed: int = 0):
    result, = evaluate_in_process(_tests(), {"fit_logistic": fn}, np.random.default_rng(seed))
    return result, {p["name"]: p for p in result.get("parts", [])}


def test_the_right_loop_earns_every_part():
    result, parts = _grade(student())
    assert result["points"] == 4 and result["status"] == "passed", result


def test_a_loop_that_still_raises_earns_nothing():
    def fit_logistic(X, y, W, b, lr, num_steps):
        raise NotImplementedError("hint")
    result, _ = _grade(fit_logistic)
    assert result["points"] == 0 and result["status"] == "not implemented", result


@pytest.mark.parametrize("mistake,lost,words", [
    ("wrong sign", ("same costs", "same weights", "outcome: training accuracy"), "AGAINST"),
    ("summed gradient", ("same costs", "same weights"), "factor 1/m"),
    ("stale gradient", ("same costs", "same weights"), "not once before the loop"),
    ("stale b", ("same costs", "same weights"), "b's gradient was taken after W had moved"),
    ("no lr", ("same costs", "same weights"), "multiply by lr"),
    ("late cost", ("same costs",), "one step late"),
    ("summed cost", ("same costs",), "MEAN cross-entropy"),
    ("cost tensor", ("returns (W, b, costs)",), "cost.item()"),
    ("extra step", ("returns (W, b, costs)", "same costs", "same weights"), "range(num_steps + 1)"),
    ("no update", ("same costs", "same weights", "outcome: training accuracy"), "never changed"),
])
def test_each_mistake_loses_its_parts_with_a_named_message(mistake, lost, words):
    result, parts = _grade(student(mistake))
    assert 0 < result["points"] < 4 and result["status"] == "partial", result
    assert {name for name, part in parts.items() if part["points"] == 0} == set(lost), parts
    assert any(words in parts[name]["detail"] for name in lost), [parts[name]["detail"] for name in lost]


def test_the_outcome_threshold_keeps_its_margin():
    """The reference reaches the outcome on 20 fresh probes with room to spare (the spec documents 100)."""
    spec = importlib.util.spec_from_file_location("hidden05", ROOT / "grading" / f"{LAB}.py")
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    accuracies = [_outcome_accuracy(hidden, seed) for seed in range(20)]
    assert min(accuracies) >= hidden.OUTCOME_ACCURACY + 0.05, accuracies


def _outcome_accuracy(hidden, seed: int, fit=None) -> float:
    call = hidden._fit_probes(np.random.default_rng(seed))[-1]
    W, b, _ = (fit or hidden._fit_reference)(*call.args)
    X, y = call.args[0].numpy(), call.args[1].numpy()
    return float(((X @ W.numpy() + b.numpy() > 0) == (y > 0.5)).mean())


if __name__ == "__main__":  # the measurement the spec quotes
    spec = importlib.util.spec_from_file_location("hidden05", ROOT / "grading" / f"{LAB}.py")
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    accuracies = np.array([_outcome_accuracy(hidden, seed) for seed in range(100)])
    print(f"reference, seeds 0-99: min {accuracies.min():.3f}, median {np.median(accuracies):.3f}, "
          f"max {accuracies.max():.3f}; threshold {hidden.OUTCOME_ACCURACY}")
    wrong = [_outcome_accuracy(hidden, seed, student("wrong sign")) for seed in range(20)]
    print(f"wrong sign, seeds 0-19: {min(wrong):.3f} to {max(wrong):.3f}")
