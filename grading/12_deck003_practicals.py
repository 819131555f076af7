"""Hidden tests of lab 12 (deck 003's practicals: an MLP builder, the slides' CNN, the training and evaluation
loops Keras's fit and evaluate run, standardising a table).

Instructor only: never released. Fresh random cases per submission; references run in the grader.

The two builders are graded by the model they return (codec.module_probe: the layer names and shapes, and the
output on a random batch after weights seeded by name). train_epoch and evaluate_model are graded by behaviour
(labkit.grading.training): the student's loop and the reference run on the same seeded torch.nn layers, the same
real digits (a Loader of n images that batch_size does not divide, so a mean over batches differs from the mean
over images) and, for training, the same watched optimizer; the parts compare what came back and name the
mistake (the mode of every forward call is logged, so a missing model.train() / model.eval() is named even where
the values cannot show it). No outcome part: the task asks for the loop's numbers, not for a target accuracy (the
notebook prints those next to the slides').

No reference here draws from torch's global random generator: the grader computes the references of several
submissions at once in threads of one process (grade -j 2), and seed_everything + a reference that draws (dropout
in training mode, a shuffled Loader) would race with another thread's. So the training probes have no dropout and
an unshuffled Loader; the evaluation probes keep a dropout layer (the reference evaluates in eval mode, which draws
nothing; a student who forgets model.eval() draws in the sandbox, a process of its own).
"""
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.grading.references import classifier_epoch
from labkit.grading.spec import Call, Exercise, Layers, Loader, Optim, Part
from labkit.grading.training import mode_and_grad, returns_numbers, same_steps, same_weights
from labkit.grading.verdict import as_array, compare, describe, ignore_answer, kind

LAB = "12_deck003_practicals"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}


# ----------------------------------------------------------------------------- exercises 1 and 2
def reference_dense_stack(sizes: list[int]) -> nn.Sequential:
    """Flatten, then Linear layers for consecutive sizes with a ReLU between them (logits out)."""
    layers: list[nn.Module] = [nn.Flatten()]
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def reference_slide_cnn(in_channels: int = 1, image_size: int = 28, conv_bias: bool = True) -> nn.Sequential:
    """The deck's CNN: conv3x3(32, same) relu pool2, conv3x3(64, same) relu pool2, flatten, linear to 10."""
    side = image_size // 4
    return nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=1, bias=conv_bias), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1, bias=conv_bias), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * side * side, 10))


def _dense_probes(rng):
    images = torch.from_numpy(rng.uniform(size=(2, 1, 28, 28)).astype(np.float32))          # (2, 1, 28, 28)
    calls = [Call(([784, 256, 256, 256, 10],), module={"seed": int(rng.integers(2**31)), "input": images},
                  label="the Keras MLP, [784, 256, 256, 256, 10], on (2, 1, 28, 28) images")]
    for depth in (1, int(rng.integers(2, 4)), int(rng.integers(4, 6))):
        sizes = [int(s) for s in rng.integers(2, 40, size=depth + 1)]
        X = torch.from_numpy(rng.normal(size=(int(rng.integers(1, 6)), sizes[0])).astype(np.float32))
        calls.append(Call((sizes,), module={"seed": int(rng.integers(2**31)), "input": X},
                          label=f"sizes={sizes} on a batch of {len(X)}"))
    return calls


def _cnn_probes(rng):
    images = torch.from_numpy(rng.uniform(size=(2, 1, 28, 28)).astype(np.float32))          # (2, 1, 28, 28)
    calls = [Call((1, 28, True), module={"seed": int(rng.integers(2**31)), "input": images},
                  label="the Keras CNN, slide_cnn(1, 28, True)")]
    for bias in (False, True):
        c, n = int(rng.integers(1, 4)), int(rng.integers(8, 41))
        X = torch.from_numpy(rng.normal(size=(2, c, n, n)).astype(np.float32))
        calls.append(Call((c, n, bias), module={"seed": int(rng.integers(2**31)), "input": X},
                          label=f"slide_cnn({c}, {n}, conv_bias={bias})"))
    return calls


def _model_compare(got: Any, want: Any) -> str | None:
    """The layers (names and shapes) first, then the output; name the usual mistakes."""
    if kind(got) != "dict":
        return f"expected an nn.Module, received {describe(got)}"
    mine, theirs = {k: v for k, v in got["__map__"]}, {k: v for k, v in want["__map__"]}
    if compare(mine.get("state"), theirs["state"], 0, 0) is not None:
        n_mine = sum(int(np.prod(shape)) for _, shape in _pairs(mine.get("state")))
        n_theirs = sum(int(np.prod(shape)) for _, shape in _pairs(theirs["state"]))
        if n_mine != n_theirs:
            return f"the model has {n_mine:,} parameters, expected {n_theirs:,}"
        return ("the right number of parameters in other layers or under other names: build one nn.Sequential in the "
                "order the exercise gives")
    out_mine, out_theirs = as_array(mine.get("output")), as_array(theirs["output"])
    if out_mine is None or out_mine.shape != out_theirs.shape:
        return f"the output is {describe(mine.get('output'))}, expected {describe(theirs['output'])}"
    if np.allclose(out_mine, out_theirs, atol=1e-4, rtol=1e-4):
        return None
    if np.allclose(out_mine.sum(axis=1), 1, atol=1e-4):
        return "return logits: no softmax at the end (F.cross_entropy applies log_softmax itself)"
    if (out_mine >= 0).all() and (out_theirs < 0).any():
        return "no ReLU after the last layer: logits may be negative"
    return "the output differs: check the activations between the layers and the padding"


def _pairs(enc: Any) -> list[tuple[str, list[int]]]:
    """An encoded [[name, shape], ...] list as Python pairs."""
    if kind(enc) not in ("list", "tuple"):
        return []
    out = []
    for item in enc["__seq__"]:
        name, shape = item["__seq__"]
        out.append((name, [int(v) for v in shape["__seq__"]]))
    return out


# ----------------------------------------------------------------------------- exercises 3 and 4
MLP = (("Flatten",), ("Linear", 784, 24), ("ReLU",), ("Linear", 24, 10))
CNN = (("Conv2d", 1, 4, 3), ("ReLU",), ("MaxPool2d", 2), ("Flatten",), ("Linear", 4 * 13 * 13, 10))
WITH_DROPOUT = {MLP: MLP[:3] + (("Dropout", 0.2),) + MLP[3:], CNN: CNN[:4] + (("Dropout", 0.1),) + CNN[4:]}


def reference_train_epoch(model: nn.Module, train_loader, optimizer, device) -> dict[str, float]:
    """Keras's fit for one epoch: train mode; per batch zero_grad, logits, mean cross-entropy, backward, step;
    the mean loss per image and the fraction right (on each batch before its step)."""
    model.train()
    loss, accuracy = classifier_epoch(model, train_loader, optimizer, device)
    return {"loss": loss, "accuracy": accuracy}


@torch.no_grad()
def reference_evaluate_model(model: nn.Module, loader, device) -> dict[str, float]:
    """Keras's evaluate: eval mode, no autograd, the mean loss per image and the fraction right."""
    model.eval()
    total, correct, seen = 0.0, 0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        y_hat = model(X)
        total += F.cross_entropy(y_hat, y, reduction="sum").item()
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
    return {"loss": total / seen, "accuracy": correct / seen}


def _train_probes(rng):
    calls = []
    for label, spec, n, batch, optim in (
            ("an MLP, in evaluation mode on arrival, 100 digits in batches of 32 (the last holds 4), SGD with momentum",
             MLP, 100, 32, Optim("SGD", 0, (("lr", 0.05), ("momentum", 0.9)))),
            ("a small CNN, in evaluation mode on arrival, 60 digits in batches of 16 (the last holds 12), Adam", CNN,
             60, 16, Optim("Adam", 0, (("lr", 0.01),)))):
        seed = int(rng.integers(2**31))
        calls.append(Call((Layers(spec, seed, watch=True, train=False), Loader("train", n, batch), optim, "cpu"),
                          label=label, seed=seed + 1, collect=True))
    return calls


def _eval_probes(rng):
    calls = []
    for label, spec, n, batch in (("an MLP with dropout, handed over in training mode, 100 test digits in batches "
                                   "of 32", MLP, 100, 32),
                                  ("a small CNN with dropout, in training mode, 50 test digits in batches of 20",
                                   CNN, 50, 20)):
        seed = int(rng.integers(2**31))
        calls.append(Call((Layers(WITH_DROPOUT[spec], seed, watch=True, train=True), Loader("test", n, batch), "cpu"),
                          label=label, seed=seed + 1, collect=True))
    return calls


def _returned(enc: Any) -> dict:
    """The dict the student's function returned (from a collect() record), as {key: encoded value}."""
    record = {k: v for k, v in enc["__map__"]} if kind(enc) == "dict" else {}
    value = record.get("returned")
    return {k: v for k, v in value["__map__"]} if kind(value) == "dict" else {}


def _same_metrics(call, got, want):
    """Part: the loss and the accuracy equal the reference's; a percentage and a mean over batches are named."""
    mine, theirs = _returned(got), _returned(want)
    for key in ("loss", "accuracy"):
        a, b = as_array(mine.get(key)), as_array(theirs.get(key))
        if a is None or a.size != 1:
            return f"{key}: expected one number, received {describe(mine.get(key))}"
        a, b = float(a.reshape(())), float(b.reshape(()))
        if np.isclose(a, b, rtol=1e-4, atol=1e-6):
            continue
        if key == "accuracy" and np.isclose(a, 100 * b, rtol=1e-4):
            return "the accuracy is a percentage: return the fraction between 0 and 1, as Keras prints acc"
        if key == "loss":
            return (f"the loss is {a:.6g}, expected {b:.6g}: the mean over the images — weight each batch's loss by "
                    "its number of images and divide by the images seen (the last batch is smaller)")
        return f"the accuracy is {a:.6g}, expected {b:.6g}: the fraction of the images whose largest logit is the label"
    return None


def _steps_with_cross_entropy(arg: int):
    check = same_steps(arg)

    def steps(call, got, want):
        reason = check(call, got, want)
        return reason and reason.replace("F.nll_loss's default reduction", "F.cross_entropy's default reduction")
    return steps


TRAIN_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss", "accuracy"))),
               Part("model.train()", 0.5, mode_and_grad(0, training=True, grad=True)),
               Part("one step per batch, each on the reference's gradient", 1.5, _steps_with_cross_entropy(2)),
               Part("same weights", 0.5, same_weights(0)),
               Part("same loss and accuracy", 1.0, _same_metrics))
def _evaluates_without_training(call, got, want):
    """Part: every forward call in evaluation mode without autograd, and the weights left as they were."""
    return mode_and_grad(0, training=False, grad=False)(call, got, want) or same_weights(0)(call, got, want)


EVAL_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss", "accuracy"))),
              Part("model.eval() and torch.no_grad(), no update", 1.5, _evaluates_without_training),
              Part("same loss and accuracy", 1.0, _same_metrics))


# ----------------------------------------------------------------------------- exercise 5
def reference_standardise(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both tables minus the training columns' means, divided by their population standard deviations."""
    mean, std = np.mean(X_train, axis=0), np.std(X_train, axis=0)
    return (X_train - mean) / std, (X_test - mean) / std


def _table_probes(rng):
    calls = []
    for n_train, n_test in ((int(rng.integers(10, 40)), int(rng.integers(5, 20))), (int(rng.integers(40, 90)), 1),
                            (int(rng.integers(5, 12)), int(rng.integers(20, 40)))):
        features = int(rng.integers(2, 7))
        scales, shifts = 10.0 ** rng.uniform(-2, 3, features), rng.uniform(-100, 100, features)
        X_train = rng.normal(size=(n_train, features)) * scales + shifts
        X_test = rng.normal(loc=0.7, size=(n_test, features)) * scales + shifts
        calls.append(Call((X_train, X_test), label=f"X_train ({n_train}, {features}), X_test ({n_test}, {features})"))
    return calls


def _table_compare(got: Any, want: Any) -> str | None:
    if kind(got) not in ("list", "tuple") or len(got["__seq__"]) != 2:
        return f"expected a pair (X_train_std, X_test_std), received {describe(got)}"
    (g_train, g_test), (w_train, w_test) = ([as_array(x) for x in pair["__seq__"]] for pair in (got, want))
    if g_train is None or g_test is None or g_train.shape != w_train.shape or g_test.shape != w_test.shape:
        return f"expected two tables of shapes {w_train.shape} and {w_test.shape}"
    n = len(w_train)
    if not np.allclose(g_train, w_train, atol=1e-6):
        if np.allclose(g_train, w_train * np.sqrt((n - 1) / n), atol=1e-6):
            return "use the population standard deviation (ddof=0, NumPy's default; torch.std defaults to ddof=1)"
        return "X_train_std: subtract each column's training mean and divide by its training standard deviation"
    if np.allclose(g_test, w_test, atol=1e-6):
        return None
    if len(w_test) > 1 and np.allclose(g_test.mean(axis=0), 0, atol=1e-6):
        return "the test rows were standardised with their own statistics: use the training rows' mean and deviation"
    return "X_test_std: apply the training rows' mean and standard deviation to the test rows"


EXERCISES = [
    Exercise("dense_stack", 2, "one nn.Sequential: nn.Flatten(), then an nn.Linear for each pair of consecutive sizes "
             "with an nn.ReLU after every one but the last (the model returns logits)",
             _dense_probes, reference_dense_stack, compare=_model_compare, forbidden=("torchvision.ops.MLP",)),
    Exercise("slide_cnn", 2, "one nn.Sequential in the slide's order: Conv2d(in_channels, 32, 3, padding 1), ReLU, "
             "MaxPool2d(2), Conv2d(32, 64, 3, padding 1), ReLU, MaxPool2d(2), Flatten, Linear to 10; the convolutions "
             "have biases only with conv_bias; two poolings leave image_size // 4 per side",
             _cnn_probes, reference_slide_cnn, compare=_model_compare),
    Exercise("train_epoch", 4, "model.train() first; per batch: to the device, optimizer.zero_grad(), logits, "
             "F.cross_entropy (the mean over the batch), backward, step; return the mean loss per image (each batch "
             "weighted by its size) and the fraction right, both as Python numbers",
             _train_probes, reference_train_epoch, compare=ignore_answer, parts=TRAIN_PARTS,
             allowed=("labhelpers.data.TensorLoader",)),
    Exercise("evaluate_model", 3, "model.eval() and torch.no_grad(); sum the per-image losses "
             "(reduction='sum') and the right answers over every batch, divide by the images; never step",
             _eval_probes, reference_evaluate_model, compare=ignore_answer, parts=EVAL_PARTS,
             allowed=("labhelpers.data.TensorLoader",)),
    Exercise("standardise", 2, "per column (axis 0): the training rows' mean and population standard deviation, "
             "applied to both tables; return the pair",
             _table_probes, reference_standardise, compare=_table_compare,
             forbidden=("sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.scale", "scipy.stats.zscore")),
]
