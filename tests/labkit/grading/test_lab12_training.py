"""Tests of lab 12's graded loops and checks of its other exercises (grading/12_deck003_practicals.py).

train_epoch and evaluate_model are graded by behaviour: the student's loop and the reference run on the same
seeded layers, digits and watched optimizer. These tests run the grader's own call path in this process: the
solution's loops earn every part, a missing answer or the stub nothing, and each classic mistake loses the part
that names it while keeping a partial score. The builders and standardise name their usual mistakes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_grader import LabGrader  # noqa: E402

LAB = "12_deck003_practicals"


def _grade(name, fn, seed=0):
    return LabGrader(LAB, name).grade(fn, seed)


def train_epoch(model, train_loader, optimizer, device, mistake=None):
    """The solution's loop, or the same loop with one classic ``mistake``."""
    if mistake != "no train()":
        model.train()
    total, correct, seen, batches = 0.0, 0, 0, 0
    for X, y in train_loader:
        X, y = X.to(device), y.to(device)
        batches += 1
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        y_hat = model(X)
        loss = F.cross_entropy(y_hat, y, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        if mistake == "loss tensor":
            total = total + loss * len(y)
        elif mistake == "mean over batches":
            total += loss.item()
        else:
            total += loss.item() * len(y)
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
    loss_value = total / (batches if mistake == "mean over batches" else seen)
    return {"loss": loss_value, "accuracy": (100.0 if mistake == "percentage" else 1.0) * correct / seen}


def evaluate_model(model, loader, device, mistake=None):
    """The solution's evaluation, or the same with one classic ``mistake``."""
    if mistake != "no eval()":
        model.eval()
    total, correct, seen, batches = 0.0, 0, 0, 0
    with torch.set_grad_enabled(mistake == "no no_grad"):
        for X, y in loader:
            y_hat = model(X.to(device))
            y = y.to(device)
            if mistake == "mean over batches":
                total += F.cross_entropy(y_hat, y).item()
            else:
                total += F.cross_entropy(y_hat, y, reduction="sum").item()
            correct += int((y_hat.argmax(dim=1) == y).sum())
            seen += len(y)
            batches += 1
    loss_value = total / (batches if mistake == "mean over batches" else seen)
    return {"loss": loss_value, "accuracy": (100.0 if mistake == "percentage" else 1.0) * correct / seen}


@pytest.mark.parametrize("name,fn,points", [("train_epoch", train_epoch, 4), ("evaluate_model", evaluate_model, 3)])
def test_the_solution_loops_earn_every_part(name, fn, points):
    for seed in (0, 1, 2):
        result, _ = _grade(name, fn, seed)
        assert result["points"] == points and result["status"] == "passed", result


@pytest.mark.parametrize("name", ["train_epoch", "evaluate_model"])
def test_a_constant_missing_or_stub_answer_earns_nothing(name):
    LabGrader(LAB, name).assert_nothing_for_no_work()


@pytest.mark.parametrize("mistake,part,words", [
    ("no zero_grad", "one step per batch, each on the reference's gradient", "zero_grad"),
    ("no train()", "model.train()", "model.train()"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("summed loss", "one step per batch, each on the reference's gradient", "F.cross_entropy's default reduction"),
    ("mean over batches", "same loss and accuracy", "weight each batch's loss by its number of images"),
    ("percentage", "same loss and accuracy", "the fraction between 0 and 1"),
])
def test_each_training_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result = LabGrader(LAB, "train_epoch").assert_loses_part(lambda *args: train_epoch(*args, mistake=mistake),
                                                             part, words)
    assert words in result["detail"]


@pytest.mark.parametrize("mistake,part,words", [
    ("no eval()", "model.eval() and torch.no_grad(), no update", "model.eval()"),
    ("no no_grad", "model.eval() and torch.no_grad(), no update", "torch.no_grad()"),
    ("mean over batches", "same loss and accuracy", "weight each batch's loss by its number of images"),
    ("percentage", "same loss and accuracy", "the fraction between 0 and 1"),
])
def test_each_evaluation_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    LabGrader(LAB, "evaluate_model").assert_loses_part(lambda *args: evaluate_model(*args, mistake=mistake),
                                                       part, words)


def test_an_evaluation_that_trains_loses_the_no_update_part():
    def trains(model, loader, device):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model.eval()
        for X, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(X), y).backward()
            optimizer.step()
        return evaluate_model(model, loader, device)
    result, parts = _grade("evaluate_model", trains)
    assert parts["model.eval() and torch.no_grad(), no update"]["points"] == 0 and result["points"] < 3


def test_the_same_draw_gives_the_same_grade():
    assert _grade("train_epoch", train_epoch)[0] == _grade("train_epoch", train_epoch)[0]


# ----------------------------------------------------------------------------- the other exercises
def _dense(sizes, softmax=False, last_relu=False):
    layers = [nn.Flatten()]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    if not last_relu:
        layers = layers[:-1]
    return nn.Sequential(*layers, *([nn.Softmax(dim=1)] if softmax else []))


@pytest.mark.parametrize("variant,words", [({"softmax": True}, "no softmax"), ({"last_relu": True}, "no ReLU after")])
def test_dense_stack_names_its_mistakes(variant, words):
    assert _grade("dense_stack", _dense)[0]["status"] == "passed"
    result, _ = _grade("dense_stack", lambda sizes: _dense(sizes, **variant))
    assert result["points"] == 0 and words in result["detail"], result


def test_slide_cnn_counts_the_parameters():
    def no_padding(in_channels=1, image_size=28, conv_bias=True):
        side = ((image_size - 2) // 2 - 2) // 2
        return nn.Sequential(nn.Conv2d(in_channels, 32, 3, bias=conv_bias), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, bias=conv_bias), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * side * side, 10))
    result, _ = _grade("slide_cnn", no_padding)
    assert result["points"] == 0 and "parameters, expected" in result["detail"], result


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # a test table of one row has no spread of its own
@pytest.mark.parametrize("variant,words", [
    (lambda A, B: ((A - A.mean(0)) / A.std(0, ddof=1), (B - A.mean(0)) / A.std(0, ddof=1)), "ddof=0"),
    (lambda A, B: ((A - A.mean(0)) / A.std(0), (B - B.mean(0)) / B.std(0)), "their own statistics"),
    (lambda A, B: ((A - A.mean(0)) / A.std(0), B), "apply the training rows'"),
], ids=["ddof=1", "the test rows' own statistics", "test rows left raw"])
def test_standardise_names_its_mistakes(variant, words):
    reference = LabGrader(LAB, "standardise").tests().exercises[0].reference
    assert _grade("standardise", reference)[0]["status"] == "passed"
    result, _ = _grade("standardise", variant)
    assert result["points"] == 0 and words in result["detail"], result
