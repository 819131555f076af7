"""Self-checks of lab 02 (Week13 MNIST): NetCNN's flattened size, its forward pass, the accuracy count
of ``test()``, and predicting the digit in an image file.

No check holds an implementation of its exercise: each one runs the student's code on fixed public
cases (inputs drawn from NumPy's seeded generator, or the lab's test images) and compares with the
answers the solution notebook gave to the same cases (``expected/02_week13_mnist.json``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from labhelpers.checks import Case, as_int, attempt, close, report, report_not_int, run_cases, skip_during_grading, stored

__all__ = ["check_flat_size", "check_my_net_cnn", "check_count_correct", "check_predict_digit"]

LAB = "02_week13_mnist"
FLAT_SIZE_CASES = (28, 32, 29, 36, 20, 64, 100)  # 28: the slides' 4*4*50 = 800
NETCNN_SHAPES = {"conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5),
                 "conv2.bias": (50,), "fc1.weight": (500, 800), "fc1.bias": (500,), "fc2.weight": (10, 500),
                 "fc2.bias": (10,)}                 # NetCNN's layers, as the slide defines them
NETCNN_PARAMETERS = 431_080                      # conv1 520 + conv2 25,050 + fc1 400,500 + fc2 5,010


def seeded_weights(model: nn.Module, seed: int, scale_last: float = 1.0) -> nn.Module:
    """Overwrite every tensor of ``model`` with NumPy-seeded noise in [-0.2, 0.2] (the same on every machine
    and torch version); the last layer's are multiplied by ``scale_last``; returns the model in eval mode."""
    rng = np.random.default_rng(seed)
    state = model.state_dict()
    last = list(state)[-2:] if scale_last != 1.0 else []
    with torch.no_grad():
        for name, tensor in state.items():
            noise = rng.uniform(-0.2, 0.2, size=tuple(tensor.shape)) * (scale_last if name in last else 1.0)
            tensor.copy_(torch.from_numpy(noise.astype(np.float32)))
    return model.eval()


# ----------------------------------------------------------------------------- exercise 1
def check_flat_size(fn: Callable[[int], int]) -> bool:
    """Check ``fn(image_size)`` = number of features NetCNN flattens (28 -> 4*4*50 = 800) (lab 02, ex. 1)."""
    name = "flat_size"
    if skip_during_grading(name):
        return True
    cases = [Case((n,), f"image_size={n}") for n in FLAT_SIZE_CASES]
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if as_int(received) is None:
            return report_not_int(name, received, "an int", case.label,
                                  hint="return an int: use // (floor division) for the pooling")
    expected = stored(LAB, name, [as_int(a) for a in answers], cases)
    if expected is None:
        return False
    for case, received, want in zip(cases, answers, expected):
        got = as_int(received)
        if got != want:
            hint = "conv 5x5 with stride 1 takes 4 off each side; a 2x2 max-pool halves a side (rounding down)"
            if got * 50 == want:
                hint = "multiply by the 50 channels of conv2: the flat size is channels * height * width"
            elif got * 20 == want * 50:
                hint = "the last conv layer (conv2) has 50 output channels, not 20"
            elif want and got ** 2 == want * 50:
                hint = "the feature map is square: 50 * height * width, not 50 * side"
            return report(name, False, expected=want, received=got, hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def _net_inputs() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(13).normal(size=(7, 1, 28, 28)).astype(np.float32))


def check_my_net_cnn(cls: Callable[[], nn.Module]) -> bool:
    """Check the class ``cls``: NetCNN's layers (431,080 parameters) and, with fixed weights loaded, the
    solution's (B, 10) log-probabilities for a batch of 1 and of 7 images (lab 02, exercise 2)."""
    name = "MyNetCNN"
    if skip_during_grading(name):
        return True
    with torch.random.fork_rng(devices=[]):  # building the model must not shift the notebook's seed
        ok, model = attempt(name, cls)
    if not ok:
        return False
    if not isinstance(model, nn.Module):
        return report(name, False, expected="an nn.Module", received=type(model).__name__,
                      hint="pass the class itself: check_my_net_cnn(MyNetCNN)")
    n_params = sum(p.numel() for p in model.parameters())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if n_params != NETCNN_PARAMETERS or shapes != NETCNN_SHAPES:
        return report(name, False, expected=f"{NETCNN_PARAMETERS:,} parameters in conv1, conv2, fc1, fc2",
                      received=f"{n_params:,} parameters in {', '.join(shapes)}",
                      hint="keep __init__ as given: conv1, conv2, fc1 (800 -> 500), fc2 (500 -> 10)")
    model = seeded_weights(model.cpu(), 2024)
    X = _net_inputs()                                           # (7, 1, 28, 28)
    cases = [Case((X[:1],), "a batch of 1"), Case((X,), "a batch of 7")]
    with torch.no_grad():
        answers = run_cases(name, model, cases)
    if answers is None:
        return False
    for case, y_hat in zip(cases, answers):
        batch = len(case.args[0])
        if not isinstance(y_hat, torch.Tensor):
            return report(name, False, expected="a tensor of shape (B, 10)", received=type(y_hat).__name__,
                          hint="forward must return the tensor of log-probabilities")
        if tuple(y_hat.shape) != (batch, 10):
            return report(name, False, expected=(batch, 10), received=tuple(y_hat.shape),
                          hint=f"{case.label}: flatten the (B, 50, 4, 4) maps into (B, 800) after the second "
                               "pooling, then fc1, relu, fc2")
    y_hat = answers[-1].float()                                 # (7, 10)
    if not close(y_hat.exp().sum(dim=1), torch.ones(len(y_hat)), atol=1e-4):
        hint = "return log-probabilities (F.log_softmax over the classes): their exp sums to 1 per row"
        if close(y_hat.sum(dim=1), torch.ones(len(y_hat)), atol=1e-4):
            hint = "use F.log_softmax, not F.softmax: F.nll_loss expects log-probabilities"
        elif close(y_hat.exp().sum(dim=0), torch.ones(10), atol=1e-4):
            hint = "log_softmax over the classes: dim=1, not dim=0"
        return report(name, False, expected="rows of exp(output) summing to 1",
                      received=y_hat.exp().sum(dim=1).numpy(), hint=hint)
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    if not all(close(got, want, atol=1e-5) for got, want in zip(answers, expected)):
        return report(name, False, expected=np.asarray(expected[-1]), received=y_hat.numpy(),
                      hint="NetCNN's order: conv1, relu, 2x2 max-pool; conv2, relu, 2x2 max-pool; flatten; "
                           "fc1, relu; fc2; log-probabilities")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 3
def _count_cases() -> list[Case]:
    """(scores (B, 10), target (B,)): random, B = 1, large, every prediction right, every one wrong.
    A row's largest score is at ``intended`` by construction, so "all right" needs no argmax here."""
    rng = np.random.default_rng(302)
    cases = []
    for batch, kind in ((1, "random"), (7, "random"), (64, "random"), (1000, "random"), (64, "all right"),
                        (64, "all wrong")):
        intended = rng.integers(0, 10, size=batch)
        scores = rng.normal(size=(batch, 10))
        scores[np.arange(batch), intended] += 6.0           # a clear winner per row
        target = {"random": rng.integers(0, 10, size=batch), "all right": intended,
                  "all wrong": (intended + 1) % 10}[kind]
        cases.append(Case((torch.from_numpy(scores.astype(np.float32)), torch.from_numpy(target.astype(np.int64))),
                          f"output ({batch}, 10), target ({batch},), {kind}"))
    return cases


def check_count_correct(fn: Callable[[torch.Tensor, torch.Tensor], int]) -> bool:
    """Check ``fn(output, target)`` returns the number of correct predictions as an int (lab 02, ex. 3)."""
    name = "count_correct"
    if skip_during_grading(name):
        return True
    cases = _count_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if as_int(received) is None:
            hint = "return an int: .sum().item() turns a one-element tensor into a Python number"
            if isinstance(received, float) or (isinstance(received, torch.Tensor) and received.is_floating_point()):
                hint = "count correct predictions (an int), not the accuracy (a fraction)"
            return report_not_int(name, received, "an int", case.label, hint=hint)
    expected = stored(LAB, name, [as_int(a) for a in answers], cases)
    if expected is None:
        return False
    wrong = [(case, as_int(got), want) for case, got, want in zip(cases, answers, expected) if as_int(got) != want]
    if not wrong:
        return report(name, True)
    too_many = [(case, got, want) for case, got, want in wrong if got > len(case.args[1])]
    case, got, want = (too_many or wrong)[0]
    hint = "take the class of the largest score of each row and count where it equals the target"
    if too_many:
        hint = ("more correct predictions than rows: a (B, 1) tensor compared with a (B,) one broadcasts to "
                "(B, B); give both the same shape")
    elif got == len(case.args[1]) - want:
        hint = "you counted the wrong predictions; count where the prediction equals the target"
    return report(name, False, expected=want, received=got, hint=f"{case.label}: {hint}")


# ----------------------------------------------------------------------------- exercise 4
def _file_id(path: Path) -> tuple[str, str]:
    return path.name, hashlib.sha256(path.read_bytes()).hexdigest()


def check_predict_digit(fn: Callable[[nn.Module, str], int], folder: str | Path = "data/mnist_test_images") -> bool:
    """Check ``fn(model, path)`` on every .jpg of ``folder`` with a NetCNN of fixed weights, handed over in
    training mode as after training (lab 02, ex. 4): the predicted digit, as an int."""
    from labhelpers.models import NetCNN
    name = "predict_digit"
    if skip_during_grading(name):
        return True
    paths = sorted(Path(folder).glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no .jpg images in {folder} (the current folder is {Path.cwd()}); "
                                "run the notebook from the repository root or python -m labhelpers.assets")
    model = seeded_weights(NetCNN(), 7, scale_last=50.0)       # clear winners: no near-ties between classes
    answers = []
    for path in paths:
        model.train()                                           # a model as training leaves it
        ok, received = attempt(name, fn, model, str(path))
        if not ok:
            return False
        if as_int(received) is None:
            return report_not_int(name, received, "an int", path.name,
                                  hint="return the index of the largest output as a Python int (.item())")
        answers.append(as_int(received))
    expected = stored(LAB, name, answers, [_file_id(p) for p in paths])
    if expected is None:
        return False
    for path, got, want in zip(paths, answers, expected):
        if got != want:
            return report(name, False, expected=want, received=got,
                          hint=f"{path.name}: lh.load_digit(path) gives a (1, 1, 28, 28) batch; move it to the "
                               "model's device, run the model in eval mode and take the class of the largest output")
    return report(name, True)

