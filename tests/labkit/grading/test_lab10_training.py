"""Tests of lab 10's graded training epoch with a frozen part (grading/10_transfer_learning.py, finetune_epoch).

The student's epoch is graded by behaviour: it and the reference train the same seeded network (a BatchNorm on
each side of the cut) on the same digits with the same watched optimizer over all its parameters. These tests run
the grader's own call path in this process: the solution's epoch earns every part, a constant, a missing answer
and the stub nothing, and each classic mistake of fine-tuning loses the part that names it (a partial score).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_grader import LabGrader  # noqa: E402

LAB = "10_transfer_learning"
PARTS = {"returns numbers", "frozen part unchanged", "frozen BatchNorm in evaluation mode",
         "trained part in training mode", "one step per batch, each on the reference's gradient", "same weights",
         "same loss and accuracy"}


GRADER = LabGrader(LAB, "finetune_epoch")


def finetune_epoch(model, n_frozen, train_loader, optimizer, device, mistake=None):
    """The solution's epoch, or the same epoch with one classic ``mistake``."""
    frozen = model[:n_frozen]
    if mistake == "eval before train":
        frozen.eval()
    if mistake not in ("no train()", "frozen part eval only"):
        model.train()
    if mistake != "not frozen":
        frozen.requires_grad_(False)
    if mistake not in ("frozen part left training", "eval before train"):
        frozen.eval()
    total, correct, seen, batches = 0.0, 0, 0, 0
    for X, y in train_loader:
        X, y = X.to(device), y.to(device)
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        y_hat = model(X)
        loss = F.cross_entropy(y_hat, y, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        batches += 1
        if mistake == "loss tensor":
            total = total + loss * len(y)
        else:
            total += loss.item() * (1 if mistake == "mean over batches" else len(y))
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
    return {"loss": total / (batches if mistake == "mean over batches" else seen), "accuracy": 100.0 * correct / seen}


_grade = GRADER.grade


def test_the_solution_earns_every_part():
    result, parts = _grade(finetune_epoch)
    assert result["points"] == 4 and result["status"] == "passed", result
    assert set(parts) == PARTS


def test_the_solution_passes_other_draws_of_the_probes():
    for seed in (1, 2):
        assert _grade(finetune_epoch, seed)[0]["points"] == 4


def test_a_constant_a_missing_answer_and_the_stub_earn_nothing():
    GRADER.assert_nothing_for_no_work()


@pytest.mark.parametrize("mistake,part,words", [
    ("not frozen", "frozen part unchanged", "requires_grad_(False)"),
    ("frozen part left training", "frozen BatchNorm in evaluation mode", "ran in training mode"),
    ("eval before train", "frozen BatchNorm in evaluation mode", "after model.train()"),
    ("no train()", "trained part in training mode", "call model.train() first"),
    ("no zero_grad", "one step per batch, each on the reference's gradient", "zero_grad"),
    ("summed loss", "one step per batch, each on the reference's gradient", "F.cross_entropy's default reduction"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("mean over batches", "same loss and accuracy", "weight each batch's loss by its size"),
])
def test_each_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result = GRADER.assert_loses_part(lambda *args: finetune_epoch(*args, mistake=mistake), part, words)
    assert words in result["detail"]


def test_an_unfrozen_backbone_is_not_blamed_on_the_loss_reduction():
    _, parts = _grade(lambda *args: finetune_epoch(*args, mistake="not frozen"))
    assert "not its sum" not in parts["one step per batch, each on the reference's gradient"]["detail"]


def test_running_the_frozen_part_without_autograd_is_as_good_as_freezing_it():
    """Behaviour is graded: features computed under torch.no_grad() leave the frozen part without gradients too."""
    import torch

    def no_grad_features(model, n_frozen, train_loader, optimizer, device):
        model.train()
        model[:n_frozen].eval()
        total, correct, seen = 0.0, 0, 0
        for X, y in train_loader:
            optimizer.zero_grad()
            with torch.no_grad():
                features = model[:n_frozen](X)
            y_hat = model[n_frozen:](features)
            loss = F.cross_entropy(y_hat, y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            correct += int((y_hat.argmax(dim=1) == y).sum())
            seen += len(y)
        return {"loss": total / seen, "accuracy": 100.0 * correct / seen}
    assert _grade(no_grad_features)[0]["points"] == 4


def test_the_same_draw_gives_the_same_grade():
    assert _grade(finetune_epoch)[0] == _grade(finetune_epoch)[0]
