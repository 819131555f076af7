"""Hidden tests of lab 02 (Week 13 MNIST: flat size, NetCNN's forward, counting, predicting a digit).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labkit.grading.codec import fill_weights
from labkit.grading.spec import Call, Exercise, File, Model
from labkit.grading.verdict import is_integer
from labhelpers.models import NetCNN

LAB = "02_week13_mnist"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}
DIGITS = Path(__file__).resolve().parents[1] / "data" / "mnist_test_images"


def reference_flat_size(image_size: int) -> int:
    """Features after NetCNN's conv(5) - pool(2) - conv(5) - pool(2) on a square image, measured with real layers."""
    conv1, conv2 = nn.Conv2d(1, 20, 5, 1), nn.Conv2d(20, 50, 5, 1)
    with torch.no_grad():
        x = torch.zeros(1, 1, image_size, image_size)       # (1, 1, n, n)
        x = F.max_pool2d(conv2(F.max_pool2d(conv1(x), 2, 2)), 2, 2)  # (1, 50, m, m)
    return int(x[0].numel())


def reference_count_correct(output: torch.Tensor, target: torch.Tensor) -> int:
    """The seed's test() line: how many rows' argmax equal the target."""
    pred = output.argmax(dim=1, keepdim=True)               # (B, 1)
    return pred.eq(target.view_as(pred)).sum().item()


@torch.no_grad()
def reference_predict_digit(model: nn.Module, path) -> int:
    """The model's predicted digit for one image file, read with labhelpers.load_digit."""
    from labhelpers.images import load_digit
    model.eval()
    return int(model(load_digit(path).to(next(model.parameters()).device)).argmax(dim=1).item())


def _must_be_int(call: Call, response: dict) -> str | None:
    return None if is_integer(response.get("value")) else "return a Python int (e.g. with .item() or int(...))"


def _flat_probes(rng):
    return [Call((int(n),), label=f"image_size={int(n)}") for n in rng.choice(np.arange(16, 97), 4, replace=False)]


def _net_probes(rng):
    calls = []
    for batch in (1, int(rng.integers(2, 9))):
        X = torch.from_numpy(rng.normal(size=(batch, 1, 28, 28)).astype(np.float32))  # (B, 1, 28, 28)
        calls.append(Call((), module={"seed": int(rng.integers(2**31)), "input": X},
                          label=f"a batch of {batch}, random weights given to your model"))
    return calls


def _count_probes(rng):
    calls = []
    for batch in (1, int(rng.integers(5, 65)), int(rng.integers(5, 65))):
        output = torch.log_softmax(torch.from_numpy(rng.normal(size=(batch, 10)).astype(np.float32)), dim=1)
        target = torch.from_numpy(rng.integers(0, 10, size=batch).astype(np.int64))  # (B,)
        if batch > 1 and rng.random() < 0.5:
            target[: batch // 2] = output[: batch // 2].argmax(dim=1)  # some right for sure
        calls.append(Call((output, target), label=f"a batch of {batch}"))
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


EXERCISES = [
    Exercise("flat_size", 2, "side -> (side - 4) // 2 twice (conv 5x5, then pool 2x2), then 50 * side * side",
             _flat_probes, reference_flat_size, atol=0, rtol=0, verify=_must_be_int),
    Exercise("MyNetCNN", 3, "forward: conv1, relu, max_pool2d(2, 2); conv2, relu, max_pool2d(2, 2); view(-1, 800); "
             "fc1, relu; fc2; log_softmax(dim=1)", _net_probes, NetCNN, atol=1e-5, rtol=1e-4,
             forbidden=("labhelpers.models.NetCNN",)),
    Exercise("count_correct", 2, "argmax over dim 1, compare with the target (same shape!), sum, .item()",
             _count_probes, reference_count_correct, atol=0, rtol=0, verify=_must_be_int),
    Exercise("predict_digit", 3, "lh.load_digit(path), to the model's device, model.eval(), no_grad, argmax(dim=1)"
             ".item()", _digit_probes, reference_predict_digit, atol=0, rtol=0, verify=_must_be_int,
             allowed=("labhelpers.images.load_digit",)),
]
