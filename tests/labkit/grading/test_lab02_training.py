"""Tests of lab 02's hidden tests of train() and test() (grading/02_week13_mnist.py): graded by behaviour.

The references earn every part; each classic mistake of the issue loses the part that names it, with a partial
score; a loop that learns another way keeps the outcome part; a stub that still raises earns nothing. (The
solution notebook's full marks and the student notebook's zero, end to end in the sandbox, are
tests/labkit/grading/test_grade.py::test_solution_gets_full_marks_and_the_student_version_none.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.grading.spec import load_lab_tests
from labkit.grading.verdict import evaluate_in_process

ROOT = Path(__file__).resolve().parents[3]
TESTS = load_lab_tests(ROOT / "grading", "02_week13_mnist")


def _grade(exercise: str, fn, seed: int = 0) -> tuple[dict, dict]:
    tests = load_lab_tests(ROOT / "grading", "02_week13_mnist")
    tests.exercises = [ex for ex in tests.exercises if ex.function == exercise]
    result, = evaluate_in_process(tests, {exercise: fn}, np.random.default_rng(seed))
    return result, {part["name"]: part for part in result.get("parts", [])}


def train_variant(mistake: str | None = None):
    """The slide's train() (returning its metrics), with one mistake (or one legitimate change)."""
    def train(model, device, train_loader, optimizer, epoch, log_interval):
        if mistake != "no train()":
            model.train()
        total, correct, seen, batches = 0.0, 0, 0, 0
        batches_in_order = list(train_loader)
        if mistake == "batches in reverse order":
            batches_in_order.reverse()
        for batch_idx, (data, target) in enumerate(batches_in_order):
            data, target = data.to(device), target.to(device)
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target, reduction="sum" if mistake == "summed loss" else "mean")
            loss.backward()
            if mistake != "no step":
                optimizer.step()
            if mistake == "loss tensor":
                total = total + loss * len(target)
            elif mistake == "mean over batches":
                total += loss.item()
            else:
                total += loss.item() * len(target)
            correct += int((output.argmax(dim=1) == target).sum())
            seen, batches = seen + len(target), batches + 1
            if batch_idx % log_interval == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")
        return {"loss": total / (batches if mistake == "mean over batches" else seen), "accuracy": 100.0 * correct / seen}
    return train


def eval_variant(mistake: str | None = None):
    """The slide's test() (returning its metrics), with one mistake."""
    def test(model, device, test_loader):
        if mistake != "no eval()":
            model.eval()
        total, correct = 0.0, 0
        with torch.no_grad() if mistake != "under autograd" else torch.enable_grad():
            for data, target in test_loader:
                output = model(data.to(device))
                reduction = "mean" if mistake in ("mean reduction", "mean over batches") else "sum"
                loss = F.nll_loss(output, target.to(device), reduction=reduction)
                total = total + (loss if mistake == "loss tensor" else loss.item())
                correct += int((output.argmax(dim=1) == target).sum())
        n = len(test_loader) if mistake == "mean over batches" else len(test_loader.dataset)
        return {"loss": total / n, "accuracy": 100.0 * correct / len(test_loader.dataset)}
    return test


def _stub(*args, **kwargs):
    raise NotImplementedError("one epoch: the slide's five steps per batch")


@pytest.mark.parametrize("exercise,fn", [("train", train_variant()), ("test", eval_variant())])
def test_the_slides_loops_earn_every_part(exercise, fn):
    result, parts = _grade(exercise, fn)
    assert result["status"] == "passed" and result["points"] == result["max_points"], result
    assert all(part["points"] == part["max_points"] for part in parts.values()), parts


@pytest.mark.parametrize("exercise", ["train", "test"])
def test_a_stub_earns_nothing(exercise):
    result, _ = _grade(exercise, _stub)
    assert result["points"] == 0 and result["status"] == "not implemented", result


@pytest.mark.parametrize("mistake,part,words", [
    ("no zero_grad", "same steps (zero_grad, mean loss)", "zero_grad"),
    ("no train()", "model.train()", "model.train()"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("summed loss", "same steps (zero_grad, mean loss)", "not its sum"),
    ("mean over batches", "mean over images", "not by the number of batches"),
    ("no step", "same steps (zero_grad, mean loss)", "never stepped"),
    ("no step", "it learns", "it does not learn"),
])
def test_each_train_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result, parts = _grade("train", train_variant(mistake))
    assert 0 < result["points"] < result["max_points"] and result["status"] == "partial", result
    assert parts[part]["points"] == 0 and words in parts[part]["detail"], parts[part]
    assert words in result["detail"]                                  # the feedback says it


def test_a_loop_that_learns_another_way_keeps_the_outcome_part():
    result, parts = _grade("train", train_variant("batches in reverse order"))
    assert parts["it learns"]["points"] == parts["it learns"]["max_points"], parts["it learns"]
    assert parts["same steps (zero_grad, mean loss)"]["points"] == 0 and parts["same weights"]["points"] == 0
    assert 0 < result["points"] < result["max_points"]


@pytest.mark.parametrize("mistake,part,words", [
    ("no eval()", "model.eval() and torch.no_grad()", "model.eval()"),
    ("under autograd", "model.eval() and torch.no_grad()", "torch.no_grad()"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("mean reduction", "average loss per image", "reduction='sum'"),
    ("mean over batches", "average loss per image", "not by the number of batches"),
])
def test_each_test_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result, parts = _grade("test", eval_variant(mistake))
    assert 0 < result["points"] < result["max_points"] and result["status"] == "partial", result
    assert parts[part]["points"] == 0 and words in parts[part]["detail"], parts[part]


def test_the_outcome_threshold_keeps_its_margin_on_fresh_seeds(tmp_path):
    """The documented threshold holds with room to spare: the reference loop clears it by 10 points on
    seeds the measurement did not use."""
    import importlib.util
    from labkit.grading.spec import expected_answer
    spec = importlib.util.spec_from_file_location("hidden_02", TESTS.path)
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    train, = [ex for ex in TESTS.exercises if ex.function == "train"]
    for seed in range(100, 105):
        call = train.probes(np.random.default_rng(seed))[-1]
        assert "outcome" in call.label
        accuracy = hidden._trained_accuracy(call, expected_answer(train, call, str(tmp_path)))
        assert accuracy >= hidden.OUTCOME_THRESHOLD + 10, (seed, accuracy)


def test_the_same_seed_gives_the_same_grade():
    assert _grade("train", train_variant("no train()"))[0] == _grade("train", train_variant("no train()"))[0]
