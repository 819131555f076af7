"""Tests for labkit.grading.training: a training loop graded by behaviour, with named mistakes.

A demo exercise (one epoch of the slide's train() on 128 real digits, a small seeded MLP, SGD) is graded
in this process with the grader's own call path: the slide's loop earns every part, and each classic
mistake loses the part that names it.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F

from labkit.grading.spec import Call, Exercise, LabTests, Layers, Loader, Optim, Part
from labkit.grading.sandbox import Limits
from labkit.grading.training import mode_and_grad, returns_numbers, same_steps, same_values, same_weights
from labkit.grading.verdict import evaluate_in_process

MLP = (("Flatten",), ("Linear", 784, 32), ("ReLU",), ("Dropout", 0.2), ("Linear", 32, 10), ("LogSoftmax", 1))


def train_epoch(model, train_loader, optimizer, device):
    """The slide's train() for one epoch, returning the mean loss and the accuracy."""
    model.train()
    total, correct, seen = 0.0, 0, 0
    for data, target in train_loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(target)
        correct += int((output.argmax(dim=1) == target).sum())
        seen += len(target)
    return {"loss": total / seen, "accuracy": 100.0 * correct / seen}


def _probes(rng):
    seed = int(rng.integers(2**31))
    model = Layers(MLP, seed, watch=True, train=False)   # arrives in eval mode, as after a test()
    return [Call((model, Loader("train", 128, 32, shuffle=True), Optim("SGD", 0, (("lr", 0.05), ("momentum", 0.9))),
                  "cpu"), label="one epoch on 128 digits", seed=seed + 1, collect=True)]


PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss", "accuracy"))),
         Part("model.train()", 0.5, mode_and_grad(0, training=True, grad=True)),
         Part("same steps", 1.0, same_steps(2)),
         Part("same weights", 0.5, same_weights(0)),
         Part("same loss", 0.5, same_values(("loss", "accuracy"))))
TESTS = LabTests("99_training", [Exercise("train_epoch", 3, "zero_grad, forward, loss, backward, step", _probes,
                                          train_epoch, parts=PARTS, allowed=("labhelpers.data.TensorLoader",))],
                 {}, Limits(), None)


def _variant(mistake):
    def student(model, train_loader, optimizer, device):
        if mistake != "no train()":
            model.train()
        total, correct, seen = 0.0 if mistake != "loss tensor" else 0, 0, 0
        for data, target in train_loader:
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target, reduction="sum" if mistake == "summed loss" else "mean")
            loss.backward()
            optimizer.step()
            total = total + (loss * len(target) if mistake == "loss tensor" else loss.item() * len(target))
            correct += int((output.argmax(dim=1) == target).sum())
            seen += len(target)
        return {"loss": total / seen, "accuracy": 100.0 * correct / seen}
    return student


def _grade(fn):
    result, = evaluate_in_process(TESTS, {"train_epoch": fn}, np.random.default_rng(0))
    return result, {p["name"]: p for p in result.get("parts", [])}


def test_the_slides_loop_earns_every_part():
    result, _ = _grade(train_epoch)
    assert result["points"] == 3 and result["status"] == "passed", result


@pytest.mark.parametrize("mistake,part,words", [
    ("no zero_grad", "same steps", "zero_grad"),
    ("no train()", "model.train()", "model.train()"),
    ("loss tensor", "returns numbers", "loss.item()"),
    ("summed loss", "same steps", "not its sum"),
])
def test_each_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result, parts = _grade(_variant(mistake))
    assert 0 < result["points"] < 3, result
    assert parts[part]["points"] == 0 and words in parts[part]["detail"], parts[part]


def test_the_same_seed_gives_the_same_grade():
    assert _grade(train_epoch)[0] == _grade(train_epoch)[0]
