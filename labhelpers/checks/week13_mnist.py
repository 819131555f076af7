"""Self-checks for lab 02 (Week13 MNIST): NetCNN's flattened size, its forward pass, the accuracy
count of ``test()``, and predicting the digit in an image file.

References are computed here, never typed in: ``flat_size`` against real ``nn.Conv2d``/max-pool
layers, ``MyNetCNN`` against ``labhelpers.NetCNN`` with the same weights, ``count_correct`` against
the seed's ``pred.eq(target.view_as(pred)).sum().item()`` on random tensors from a private generator,
``predict_digit`` against ``labhelpers.load_digit`` + the model on every test image of the folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks import as_int, attempt, close, report, report_not_int

__all__ = ["check_flat_size", "check_my_net_cnn", "check_count_correct", "check_predict_digit",
           "reference_flat_size", "reference_count_correct", "reference_predict_digit"]

FLAT_SIZE_CASES = (28, 32, 29, 36, 20, 64, 100)  # 28: the slides' 4*4*50 = 800
NETCNN_PARAMETERS = 431_080                      # conv1 520 + conv2 25,050 + fc1 400,500 + fc2 5,010


# ----------------------------------------------------------------------------- exercise 1
def reference_flat_size(image_size: int) -> int:
    """Features after NetCNN's conv(5) - pool(2) - conv(5) - pool(2) on a square image, measured with real layers."""
    conv1, conv2 = nn.Conv2d(1, 20, 5, 1), nn.Conv2d(20, 50, 5, 1)
    with torch.no_grad():
        x = torch.zeros(1, 1, image_size, image_size)       # (1, 1, n, n)
        x = F.max_pool2d(conv1(x), 2, 2)                     # (1, 20, (n-4)//2, ...)
        x = F.max_pool2d(conv2(x), 2, 2)                     # (1, 50, m, m)
    return int(x[0].numel())


def check_flat_size(fn: Callable[[int], int]) -> bool:
    """Check ``fn(image_size)`` = number of features NetCNN flattens (28 -> 4*4*50 = 800) (lab 02, ex. 1)."""
    name = "flat_size"
    for n in FLAT_SIZE_CASES:
        expected = reference_flat_size(n)
        ok, received = attempt(name, fn, n)
        if not ok:
            return False
        got = as_int(received)
        if got is None:
            return report_not_int(name, received, expected, f"image_size={n}",
                                  hint="return an int: use // (floor division) for the pooling")
        if got != expected:
            side = ((n - 4) // 2 - 4) // 2
            hint = "conv 5x5: n -> n - 4; max-pool 2x2: n -> n // 2; twice, then times 50 channels"
            if got == side * side:
                hint = "multiply by the 50 channels of conv2: the flat size is channels * height * width"
            elif got == 50 * side:
                hint = "the feature map is square: height * width * 50"
            elif got == 20 * side * side:
                hint = "the last conv layer (conv2) has 50 output channels, not 20"
            elif got == 50 * (n - 8) ** 2:
                hint = "each 2x2 max-pool halves the height and the width"
            return report(name, False, expected=expected, received=got, hint=f"image_size={n}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def _reference_netcnn() -> nn.Module:
    """labhelpers.NetCNN with fixed random weights, without touching the global random state."""
    from labhelpers.models import NetCNN
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2024)
        model = NetCNN()
    return model.eval()


def check_my_net_cnn(cls: Callable[[], nn.Module]) -> bool:
    """Check the class ``cls``: NetCNN's 431,080 parameters, (B, 10) log-probabilities, and exactly
    labhelpers.NetCNN's outputs once given its weights with load_state_dict (lab 02, exercise 2)."""
    name = "MyNetCNN"
    with torch.random.fork_rng(devices=[]):  # building the model must not shift the notebook's seed
        ok, model = attempt(name, cls)
    if not ok:
        return False
    if not isinstance(model, nn.Module):
        return report(name, False, expected="an nn.Module", received=type(model).__name__,
                      hint="pass the class itself: check_my_net_cnn(MyNetCNN)")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != NETCNN_PARAMETERS:
        return report(name, False, expected=f"{NETCNN_PARAMETERS:,} parameters",
                      received=f"{n_params:,} parameters",
                      hint="keep __init__ as given: conv1, conv2, fc1 (800 -> 500), fc2 (500 -> 10)")
    reference = _reference_netcnn()
    try:
        model.load_state_dict(reference.state_dict())
    except RuntimeError as exc:
        return report(name, False, expected="layers named conv1, conv2, fc1, fc2 as in NetCNN",
                      received=str(exc).splitlines()[0], hint="keep the layer names of __init__")
    model = model.cpu().eval()
    X = torch.randn(7, 1, 28, 28, generator=torch.Generator().manual_seed(13))  # (7, 1, 28, 28)
    for batch in (1, 7):
        ok, y_hat = attempt(name, _forward, model, X[:batch])
        if not ok:
            return False
        if not isinstance(y_hat, torch.Tensor):
            return report(name, False, expected="a tensor of shape (B, 10)",
                          received=type(y_hat).__name__, hint="forward must return the tensor x")
        if tuple(y_hat.shape) != (batch, 10):
            return report(name, False, expected=(batch, 10), received=tuple(y_hat.shape),
                          hint="flatten with x.view(-1, 4*4*50) after the second pooling, "
                               "then fc1, relu, fc2")
    expected = _forward(reference, X)                       # (7, 10)
    sums = y_hat.float().exp().sum(dim=1)                   # (7,)
    if not close(sums, torch.ones(len(X)), atol=1e-4):
        hint = "return F.log_softmax(x, dim=1): log-probabilities, whose exp sums to 1 per row"
        if close(y_hat.sum(dim=1), torch.ones(len(X)), atol=1e-4):
            hint = "use F.log_softmax, not F.softmax: F.nll_loss expects log-probabilities"
        elif close(y_hat.exp().sum(dim=0), torch.ones(10), atol=1e-4):
            hint = "log_softmax over the classes: dim=1, not dim=0"
        return report(name, False, expected="rows of exp(output) summing to 1",
                      received=sums.numpy(), hint=hint)
    if not close(y_hat, expected, atol=1e-5):
        return report(name, False, expected=expected.numpy(), received=y_hat.float().numpy(),
                      hint="same layers as NetCNN in this order: conv1, relu, max_pool2d(2, 2), "
                           "conv2, relu, max_pool2d(2, 2), view, fc1, relu, fc2, log_softmax")
    return report(name, True)


@torch.no_grad()
def _forward(model: nn.Module, X: torch.Tensor) -> Any:
    return model(X)


# ----------------------------------------------------------------------------- exercise 3
def reference_count_correct(output: torch.Tensor, target: torch.Tensor) -> int:
    """The seed's test() line: how many rows' argmax equal the target (lab 02)."""
    pred = output.argmax(dim=1, keepdim=True)               # (B, 1)
    return pred.eq(target.view_as(pred)).sum().item()


def _count_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(output (B, 10) log-probabilities, target (B,)) pairs: random, all right, all wrong, B = 1."""
    g = torch.Generator().manual_seed(302)
    cases = []
    for batch in (1, 7, 64, 1000):
        output = F.log_softmax(torch.randn(batch, 10, generator=g) * 3, dim=1)  # (B, 10)
        target = torch.randint(0, 10, (batch,), generator=g)                     # (B,)
        cases.append((output, target))
    output, _ = cases[2]
    cases.append((output, output.argmax(dim=1)))                   # every prediction right
    cases.append((output, (output.argmax(dim=1) + 1) % 10))        # every prediction wrong
    return cases


def check_count_correct(fn: Callable[[torch.Tensor, torch.Tensor], int]) -> bool:
    """Check ``fn(output, target)`` returns the number of correct predictions as an int (lab 02, ex. 3)."""
    name = "count_correct"
    for output, target in _count_cases():
        expected = reference_count_correct(output, target)
        ok, received = attempt(name, fn, output.clone(), target.clone())
        if not ok:
            return False
        case = f"output {tuple(output.shape)}, target {tuple(target.shape)}"
        got = as_int(received)
        if got is None:
            hint = "return an int: .sum().item() turns a one-element tensor into a Python number"
            if isinstance(received, float) or (isinstance(received, torch.Tensor) and received.is_floating_point()):
                hint = "count correct predictions (an int), not the accuracy (a fraction)"
            return report_not_int(name, received, expected, case, hint=hint)
        if got != expected:
            pred = output.argmax(dim=1, keepdim=True)             # (B, 1)
            hint = "pred = output.argmax(dim=1, keepdim=True); count pred.eq(target.view_as(pred))"
            if got == int((pred == target).sum()) and len(target) > 1:
                hint = ("pred has shape (B, 1) and target (B,): comparing them broadcasts to (B, B); "
                        "use target.view_as(pred)")
            elif got == len(target) - expected:
                hint = "you counted the wrong predictions; count where pred equals target"
            return report(name, False, expected=expected, received=got, hint=f"{case}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
@torch.no_grad()
def reference_predict_digit(model: nn.Module, path: str | Path) -> int:
    """The model's predicted digit for one image file, read with labhelpers.load_digit (lab 02)."""
    from labhelpers.images import load_digit
    device = next(model.parameters()).device
    model.eval()
    output = model(load_digit(path).to(device))             # (1, 10)
    return int(output.argmax(dim=1).item())


def check_predict_digit(fn: Callable[[nn.Module, str], int], model: nn.Module,
                        folder: str | Path = "data/mnist_test_images") -> bool:
    """Check ``fn(model, path)`` on every .jpg of ``folder`` against the reference (lab 02, exercise 4)."""
    name = "predict_digit"
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a trained nn.Module (e.g. load_model), got {type(model).__name__}")
    paths = sorted(Path(folder).glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no .jpg images in {folder} (the current folder is {Path.cwd()}); "
                                "run the notebook from the repository root or python -m labhelpers.assets")
    was_training = model.training
    try:
        for path in paths:
            expected = reference_predict_digit(model, path)
            ok, received = attempt(name, fn, model, str(path))
            if not ok:
                return False
            got = as_int(received)
            if got is None:
                return report_not_int(name, received, expected, path.name,
                                      hint="return output.argmax(dim=1).item(), a Python int")
            if got != expected:
                return report(name, False, expected=expected, received=got,
                              hint=f"{path.name}: x = load_digit(path) is (1, 1, 28, 28); move it to the "
                                   "model's device, run the model and take argmax over dim=1")
    finally:
        model.train(was_training)
    return report(name, True)
