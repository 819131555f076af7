"""Tests for labhelpers.checks.deck003_practicals: each check passes a correct answer and fails wrong ones,
naming the mistake where its cases tell it apart.

The builder and loop checks compare with the solution's stored answers (labhelpers/checks/expected/
12_deck003_practicals.json), so these tests also prove that the stored file is current and right.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.deck003_practicals import (check_dense_stack, check_evaluate_model, check_slide_cnn,
                                                  check_standardise, check_train_epoch)


def _todo(*args, **kwargs):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def dense_stack(sizes, softmax=False, last_relu=False):
    layers = [nn.Flatten()]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    if not last_relu:
        layers = layers[:-1]
    return nn.Sequential(*layers, *([nn.Softmax(dim=1)] if softmax else []))


def slide_cnn(in_channels=1, image_size=28, conv_bias=True, padding=1):
    side = image_size // 4 if padding else ((image_size - 2) // 2 - 2) // 2
    return nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=padding, bias=conv_bias), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=padding, bias=conv_bias), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * side * side, 10))


def train_epoch(model, train_loader, optimizer, device, mistake=None):
    if mistake != "no train()":
        model.train()
    total, correct, seen, batches = 0.0, 0, 0, 0
    for X, y in train_loader:
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        y_hat = model(X.to(device))
        loss = F.cross_entropy(y_hat, y, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        if mistake == "loss tensor":
            total = total + loss * len(y)
        else:
            total += loss.item() * (1 if mistake == "mean over batches" else len(y))
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
        batches += 1
    loss_value = total / (batches if mistake == "mean over batches" else seen)
    return {"loss": loss_value, "accuracy": (100.0 if mistake == "percentage" else 1.0) * correct / seen}


def evaluate_model(model, loader, device, mistake=None):
    if mistake != "no eval()":
        model.eval()
    total, correct, seen, batches = 0.0, 0, 0, 0
    with torch.set_grad_enabled(mistake == "no no_grad"):
        for X, y in loader:
            y_hat = model(X)
            reduction = "mean" if mistake == "mean over batches" else "sum"
            total += F.cross_entropy(y_hat, y, reduction=reduction).item()
            correct += int((y_hat.argmax(dim=1) == y).sum())
            seen += len(y)
            batches += 1
    loss_value = total / (batches if mistake == "mean over batches" else seen)
    return {"loss": loss_value, "accuracy": (100.0 if mistake == "percentage" else 1.0) * correct / seen}


def standardise(X_train, X_test):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / std, (X_test - mean) / std


# ---- not implemented yet ----------------------------------------------------------------------

@pytest.mark.parametrize("check", [check_dense_stack, check_slide_cnn, check_train_epoch, check_evaluate_model,
                                   check_standardise])
def test_checks_report_not_implemented(check, capsys):
    assert check(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_dense_stack / check_slide_cnn ------------------------------------------------------

def test_dense_stack_accepts_reference(capsys):
    assert check_dense_stack(dense_stack) is True
    assert "[OK] dense_stack" in capsys.readouterr().out


@pytest.mark.parametrize("answer,words", [
    (lambda sizes: dense_stack(sizes, softmax=True), "no softmax"),
    (lambda sizes: dense_stack(sizes, last_relu=True), "no ReLU after the last layer"),
    (lambda sizes: nn.Sequential(*list(dense_stack(sizes))[1:]), "nn.Flatten() first"),
    (lambda sizes: dense_stack(sizes[:-1] + [sizes[-1] + 1]), "parameters"),
    (lambda sizes: nn.Sequential(*[m for m in dense_stack(sizes) if not isinstance(m, nn.ReLU)]), "nn.Flatten() first"),
], ids=["softmax at the end", "ReLU after the last layer", "no Flatten", "wrong sizes", "no ReLU"])
def test_dense_stack_names_its_mistakes(answer, words, capsys):
    assert check_dense_stack(answer) is False
    assert words in capsys.readouterr().out


def test_dense_stack_needs_a_module(capsys):
    assert check_dense_stack(lambda sizes: [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]) is False
    assert "an nn.Module" in capsys.readouterr().out


def test_dense_stack_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_dense_stack(dense_stack)
    assert torch.equal(torch.get_rng_state(), state)


def test_slide_cnn_accepts_reference(capsys):
    assert check_slide_cnn(slide_cnn) is True
    assert "[OK] slide_cnn" in capsys.readouterr().out


@pytest.mark.parametrize("answer,words", [
    (lambda c=1, n=28, bias=True: slide_cnn(c, n, bias, padding=0), "parameters"),
    (lambda c=1, n=28, bias=True: slide_cnn(c, n, True), "parameters"),
    (lambda c=1, n=28, bias=True: slide_cnn(1, n, bias), "parameters"),
], ids=["no padding", "biases always", "one input channel always"])
def test_slide_cnn_names_its_mistakes(answer, words, capsys):
    assert check_slide_cnn(answer) is False
    assert words in capsys.readouterr().out


def test_slide_cnn_rejects_average_pooling(capsys):
    def average(c=1, n=28, bias=True):
        model = slide_cnn(c, n, bias)
        model[2], model[5] = nn.AvgPool2d(2), nn.AvgPool2d(2)
        return model
    assert check_slide_cnn(average) is False
    assert "max pooling" in capsys.readouterr().out


# ---- check_train_epoch / check_evaluate_model -------------------------------------------------

def test_train_epoch_accepts_reference(capsys):
    assert check_train_epoch(train_epoch) is True
    assert "[OK] train_epoch" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [
    ("no train()", "model.train()"), ("no zero_grad", "zero_grad"), ("summed loss", "not its sum"),
    ("loss tensor", "loss.item()"), ("mean over batches", "weight each batch's loss"),
    ("percentage", "not a percentage")])
def test_train_epoch_names_each_mistake(mistake, words, capsys):
    assert check_train_epoch(lambda *args: train_epoch(*args, mistake=mistake)) is False
    assert words in capsys.readouterr().out


def test_train_epoch_counts_the_steps(capsys):
    def one_step(model, loader, optimizer, device):
        model.train()
        X, y = next(iter(loader))
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
        return {"loss": 0.0, "accuracy": 0.0}
    assert check_train_epoch(one_step) is False
    assert "optimizer steps" in capsys.readouterr().out


def test_evaluate_model_accepts_reference(capsys):
    assert check_evaluate_model(evaluate_model) is True
    assert "[OK] evaluate_model" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [
    ("no eval()", "model.eval()"), ("no no_grad", "torch.no_grad()"),
    ("mean over batches", "weight each batch's loss"), ("percentage", "not a percentage")])
def test_evaluate_model_names_each_mistake(mistake, words, capsys):
    assert check_evaluate_model(lambda *args: evaluate_model(*args, mistake=mistake)) is False
    assert words in capsys.readouterr().out


# ---- check_standardise ------------------------------------------------------------------------

def test_standardise_accepts_reference_and_tensors(capsys):
    assert check_standardise(standardise) is True
    assert check_standardise(lambda A, B: tuple(torch.from_numpy(t) for t in standardise(A, B))) is True
    assert "[OK] standardise" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # a test table of one row has no spread of its own
@pytest.mark.parametrize("answer,words", [
    (lambda A, B: ((A - A.mean(0)) / A.std(0, ddof=1), (B - A.mean(0)) / A.std(0, ddof=1)), "ddof=0"),
    (lambda A, B: ((A - A.mean(0)) / A.std(0), (B - B.mean(0)) / B.std(0)), "their own statistics"),
    (lambda A, B: ((A - A.mean(0)) / A.std(0), B), "TRAINING set's"),
    (lambda A, B: ((A - A.mean(1, keepdims=True)) / A.std(1, keepdims=True), B), "training rows"),
    (lambda A, B: standardise(A, B)[0], "a pair"),
], ids=["ddof=1", "the test rows' own statistics", "test rows left raw", "per row", "one table"])
def test_standardise_names_its_mistakes(answer, words, capsys):
    assert check_standardise(answer) is False
    assert words in capsys.readouterr().out
