"""Tests of lab 13's graded training and evaluation loops (grading/13_autoencoders_pca.py: train_autoencoder_epoch,
evaluate_autoencoder) and of its PCA parts.

The loops are graded by behaviour: the student's function and the reference run the same seeded conv stack with
dropout on the same digits (and, for training, with the same watched optimizer). These tests run the grader's own call
path in this process: the solution earns every part, a constant or a stub nothing, and each classic mistake loses the
part that names it while keeping a partial score.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_grader import LabGrader  # noqa: E402

LAB = "13_autoencoders_pca"


def train_autoencoder_epoch(model, train_loader, optimizer, device, mistake=None):
    """The solution's epoch, or the same epoch with one classic ``mistake``."""
    if mistake != "no train()":
        model.train()
    total, seen, batches = 0.0, 0, 0
    for X, _ in train_loader:
        X = X.to(device)
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss = F.mse_loss(model(X), X, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        if mistake == "loss tensor":
            total = total + loss * len(X)
        else:
            total += loss.item() * (1 if mistake == "mean over batches" else len(X))
        seen, batches = seen + len(X), batches + 1
    return {"loss": total / (batches if mistake == "mean over batches" else seen)}


def evaluate_autoencoder(model, loader, device, mistake=None):
    """The solution's evaluation, or the same with one classic ``mistake``."""
    if mistake != "no eval()":
        model.eval()
    total, seen, batches = 0.0, 0, 0
    with torch.set_grad_enabled(mistake == "autograd on"):
        for X, _ in loader:
            X = X.to(device)
            loss = F.mse_loss(model(X), X, reduction="sum" if mistake == "pixel sum" else "mean")
            if mistake == "loss tensor":
                total = total + loss * len(X)
            else:
                total += loss.item() * (1 if mistake in ("mean over batches", "pixel sum") else len(X))
            seen, batches = seen + len(X), batches + 1
    return {"loss": total / (batches if mistake == "mean over batches" else seen)}


def _grade(function, fn, seed=0):
    return LabGrader(LAB, function).grade(fn, seed)


@pytest.mark.parametrize("function,fn", [("train_autoencoder_epoch", train_autoencoder_epoch),
                                         ("evaluate_autoencoder", evaluate_autoencoder)])
def test_the_solution_earns_every_part_on_several_draws(function, fn):
    for seed in (0, 1, 2):
        result, _ = _grade(function, fn, seed)
        assert result["points"] == result["max_points"] and result["status"] == "passed", result


@pytest.mark.parametrize("function", ["train_autoencoder_epoch", "evaluate_autoencoder"])
def test_a_constant_a_missing_answer_or_a_stub_earns_nothing(function):
    LabGrader(LAB, function).assert_nothing_for_no_work()


@pytest.mark.parametrize("mistake,part,words", [
    ("no zero_grad", "one step per batch, each on the reference's gradient", "zero_grad"),
    ("no train()", "model.train()", "model.train()"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("summed loss", "one step per batch, each on the reference's gradient", "F.mse_loss's default reduction"),
    ("mean over batches", "same loss", "weight every batch's loss by its number of images"),
])
def test_each_training_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result = LabGrader(LAB, "train_autoencoder_epoch").assert_loses_part(
        lambda *args: train_autoencoder_epoch(*args, mistake=mistake), part, words)
    assert words in result["detail"]


@pytest.mark.parametrize("mistake,part,words", [
    ("no eval()", "model.eval() and torch.no_grad()", "model.eval()"),
    ("autograd on", "model.eval() and torch.no_grad()", "torch.no_grad()"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("mean over batches", "same loss", "weight every batch's loss by its number of images"),
    ("pixel sum", "same loss", "average the squared error over the pixels too"),
])
def test_each_evaluation_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    LabGrader(LAB, "evaluate_autoencoder").assert_loses_part(
        lambda *args: evaluate_autoencoder(*args, mistake=mistake), part, words)


def _pca(X, k, mistake=None):
    mean = X.mean(dim=0)
    values, vectors = torch.linalg.eigh((X - mean).T @ (X - mean) / (len(X) - (0 if mistake == "biased" else 1)))
    order = torch.argsort(values, descending=mistake != "ascending")[:k]
    components = vectors[:, order].T
    return mean, (components.T if mistake == "transposed" else components), values[order]


@pytest.mark.parametrize("mistake,part,words", [("biased", "their variances", "N - 1"),
                                                ("ascending", "the principal directions", "ascending order"),
                                                ("transposed", "the principal directions", "one principal direction per row")])
def test_each_pca_mistake_loses_its_part(mistake, part, words):
    result, parts = _grade("pca_fit", lambda X, k: _pca(X, k, mistake))
    assert 0 < result["points"] < 3, result
    assert parts[part]["points"] == 0 and words in parts[part]["detail"], parts[part]


def test_pca_by_eigh_earns_every_part_whatever_the_signs():
    def flipped(X, k):
        mean, components, variances = _pca(X, k)
        return mean, -components, variances
    assert _grade("pca_fit", flipped)[0]["points"] == 3
