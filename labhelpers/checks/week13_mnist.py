"""Self-checks of lab 02 (Week13 MNIST): NetCNN's flattened size, a padded NetCNN, the slide's ``train()`` and
``test()``, predicting the digit in an image file, and per-class correct counts.

No check holds an implementation of its exercise: each one runs the student's code on fixed public cases
(inputs drawn from NumPy's seeded generator, or the lab's test images) and compares with the answers the
solution notebook gave to the same cases (``expected/02_week13_mnist.json``). The training checks also
watch how the student's loop drives the model and the optimizer (training mode, autograd, steps).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from labhelpers.checks import (Case, as_int, as_numpy, attempt, close, report, report_not_int, run_cases,
                               skip_during_grading, stored)

__all__ = ["check_flat_size", "check_padded_net_cnn", "check_train", "check_test", "check_predict_digit",
           "check_correct_per_class"]

LAB = "02_week13_mnist"
FLAT_SIZE_CASES = (28, 32, 29, 36, 20, 64, 100)  # 28: the slides' 4*4*50 = 800
PADDED_SHAPES = {"conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5),
                 "conv2.bias": (50,), "fc1.weight": (500, 1250), "fc1.bias": (500,), "fc2.weight": (10, 500),
                 "fc2.bias": (10,)}                 # the exercise's layers (conv1 padded by 2)
PADDED_PARAMETERS = 656_080                      # conv1 520 + conv2 25,050 + fc1 625,500 + fc2 5,010


def seeded_weights(model: nn.Module, seed: int, scale_last: float = 1.0) -> nn.Module:
    """Overwrite every tensor of ``model`` (by sorted name) with NumPy-seeded noise in [-0.2, 0.2], the same on
    every machine and torch version; the last layer's are multiplied by ``scale_last``; returns it in eval mode."""
    rng = np.random.default_rng(seed)
    state = model.state_dict()
    names = sorted(state)
    last = names[-2:] if scale_last != 1.0 else []
    with torch.no_grad():
        for name in names:
            noise = rng.uniform(-0.2, 0.2, size=tuple(state[name].shape)) * (scale_last if name in last else 1.0)
            state[name].copy_(torch.from_numpy(noise.astype(np.float32)))
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
            elif got * 50 == want * 20:
                hint = "the last conv layer (conv2) has 50 output channels, not 20"
            elif want and got ** 2 == want * 50:
                hint = "the feature map is square: 50 * height * width, not 50 * side"
            return report(name, False, expected=want, received=got, hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def check_padded_net_cnn(cls: Callable[[], nn.Module]) -> bool:
    """Check the class ``cls``: NetCNN with conv1 zero-padded by 2 (656,080 parameters) and, with fixed weights
    loaded, the solution's (B, 10) log-probabilities for a batch of 1 and of 7 images (lab 02, exercise 2)."""
    name = "PaddedNetCNN"
    if skip_during_grading(name):
        return True
    with torch.random.fork_rng(devices=[]):  # building the model must not shift the notebook's seed
        ok, model = attempt(name, cls)
    if not ok:
        return False
    if not isinstance(model, nn.Module):
        return report(name, False, expected="an nn.Module", received=type(model).__name__,
                      hint="pass the class itself: check_padded_net_cnn(PaddedNetCNN)")
    n_params = sum(p.numel() for p in model.parameters())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if n_params != PADDED_PARAMETERS or shapes != PADDED_SHAPES:
        hint = "layers conv1, conv2, fc1, fc2 as in NetCNN; only conv1's padding and fc1's input size change"
        if shapes.get("fc1.weight") == (500, 800):
            hint = ("fc1 still takes NetCNN's 800 inputs: with conv1 padded, the maps are as large as a 32 x 32 "
                    "image's would be (exercise 1)")
        return report(name, False, expected=f"{PADDED_PARAMETERS:,} parameters in conv1, conv2, fc1, fc2",
                      received=f"{n_params:,} parameters in {', '.join(f'{k} {v}' for k, v in shapes.items())}",
                      hint=hint)
    conv1 = getattr(model, "conv1", None)
    if isinstance(conv1, nn.Conv2d) and tuple(conv1.padding) != (2, 2):
        return report(name, False, expected="conv1 with padding (2, 2)", received=f"padding {conv1.padding}",
                      hint="zero padding of 2 pixels on every side keeps conv1's maps 28 x 28")
    model = seeded_weights(model.cpu(), 2024)
    X = torch.from_numpy(np.random.default_rng(13).normal(size=(7, 1, 28, 28)).astype(np.float32))
    cases = [Case((X[:1],), "a batch of 1"), Case((X,), "a batch of 7")]
    with torch.no_grad():
        answers = run_cases(name, model, cases)
    if answers is None:
        return False
    for case, y_hat in zip(cases, answers):
        if not isinstance(y_hat, torch.Tensor) or tuple(y_hat.shape) != (len(case.args[0]), 10):
            return report(name, False, expected=(len(case.args[0]), 10),
                          received=tuple(y_hat.shape) if isinstance(y_hat, torch.Tensor) else type(y_hat).__name__,
                          hint=f"{case.label}: flatten each image's maps after the second pooling into one row "
                               "of fc1's input size; return the (B, 10) log-probabilities")
    y_hat = answers[-1].float()                                 # (7, 10)
    if not close(y_hat.exp().sum(dim=1), torch.ones(len(y_hat)), atol=1e-4):
        return report(name, False, expected="rows of exp(output) summing to 1",
                      received=y_hat.exp().sum(dim=1).numpy(),
                      hint="return log-probabilities over the classes (dim=1), as NetCNN does")
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    if not all(close(got, want, atol=1e-5) for got, want in zip(answers, expected)):
        return report(name, False, expected=np.asarray(expected[-1]), received=y_hat.numpy(),
                      hint="NetCNN's order: conv1, relu, 2x2 max-pool; conv2, relu, 2x2 max-pool; flatten; "
                           "fc1, relu; fc2; log-probabilities")
    return report(name, True)


# ----------------------------------------------------------------------------- exercises 3 and 4
class _Watched(torch.optim.SGD):
    """SGD that counts its steps and zero_grad calls (how a loop drove it)."""

    def __init__(self, params, **hyper) -> None:
        super().__init__(params, **hyper)
        self.steps = self.zero_grads = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.zero_grads += 1
        super().zero_grad(set_to_none)


def _loop_inputs(dropout: float) -> tuple[nn.Module, "object", list[dict]]:
    """A small seeded model (its forward calls logged), and 70 NumPy-made 8 x 8 'images' of 4 classes in
    batches of 32 (the last batch has 6)."""
    from labhelpers.data import TensorLoader
    rng = np.random.default_rng(1302)
    X = rng.normal(size=(70, 1, 8, 8)).astype(np.float32)                     # (70, 1, 8, 8)
    y = (X.reshape(70, -1)[:, :4].argmax(axis=1) + (rng.random(70) < 0.2)) % 4  # learnable, a little noisy
    with torch.random.fork_rng(devices=[]):  # torch's default initialisation must not shift the notebook's seed
        layers = [nn.Flatten(), nn.Linear(64, 16), nn.Tanh()] + ([nn.Dropout(dropout)] if dropout else [])
        model = seeded_weights(nn.Sequential(*layers, nn.Linear(16, 4), nn.LogSoftmax(dim=1)), 5)
    log: list[dict] = []
    model.register_forward_pre_hook(lambda m, inputs: log.append(
        {"training": m.training, "grad": torch.is_grad_enabled()}))
    return model, TensorLoader(torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)), 32), log


def _metrics(name: str, result) -> tuple[float, float] | None:
    """(loss, accuracy) from the returned dict as floats; None after reporting what is wrong with it."""
    if not isinstance(result, dict) or not {"loss", "accuracy"} <= set(result):
        report(name, False, expected="a dict with the keys 'loss' and 'accuracy'", received=repr(result)[:200],
               hint="return {'loss': ..., 'accuracy': ...}")
        return None
    tensors = [k for k in ("loss", "accuracy") if isinstance(result[k], torch.Tensor)]
    values = [as_numpy(result[k]) for k in ("loss", "accuracy")]
    if tensors:
        report(name, False, expected="Python numbers", received=f"{', '.join(tensors)}: a tensor",
               hint="add up loss.item() (a Python number), not the loss tensor: a tensor keeps its autograd "
                    "graph alive")
    elif any(v is None or v.size != 1 or not np.isfinite(v).all() for v in values):
        report(name, False, expected="two numbers", received=repr(result)[:200])
    else:
        return float(values[0]), float(values[1])
    return None


def _run_quietly(name: str, fn: Callable, *args) -> tuple[bool, object]:
    """The student's loop with its log lines kept out of the check's output, torch's RNG left as it was."""
    captured = io.StringIO()
    with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(captured):
        ok, value = attempt(name, fn, *args)
    if not ok:  # attempt's verdict went into the captured output with the log lines: show it alone
        print("\n".join(line for line in captured.getvalue().split("\n") if line.startswith(("[TODO]", "[FAIL]"))))
    return ok, value


def check_train(fn: Callable) -> bool:
    """Check ``fn(model, device, train_loader, optimizer, epoch, log_interval)``: one epoch of the slide's train()
    on 70 fixed inputs (a small model, SGD lr 0.1, momentum 0.9), returning {"loss", "accuracy"} (lab 02, ex. 3)."""
    name = "train"
    if skip_during_grading(name):
        return True
    model, loader, log = _loop_inputs(dropout=0.0)             # arrives in eval mode, as after a test()
    optimizer = _Watched(model.parameters(), lr=0.1, momentum=0.9)
    ok, result = _run_quietly(name, fn, model, "cpu", loader, optimizer, 1, 1000)
    if not ok:
        return False
    metrics = _metrics(name, result)
    if metrics is None:
        return False
    if not log or not all(entry["training"] and entry["grad"] for entry in log):
        return report(name, False, expected="every forward pass in training mode", received="evaluation mode",
                      hint="call model.train() first: test() leaves the model in evaluation mode")
    if optimizer.steps != len(loader):
        return report(name, False, expected=f"{len(loader)} optimizer steps", received=optimizer.steps,
                      hint="one optimizer.step() per batch, after loss.backward()")
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])   # (1,156,)
    inputs = [loader.X.numpy(), loader.y.numpy(), "SGD(lr=0.1, momentum=0.9), 1 epoch, batches of 32"]
    expected = stored(LAB, name, [weights, *metrics], inputs)
    if expected is None:
        return False
    want_weights, want_loss, want_accuracy = expected
    if not close(weights, want_weights, atol=1e-5, rtol=1e-4):
        hint = "zero_grad, forward, F.nll_loss (its default mean over the batch), backward, step: in this order"
        if optimizer.zero_grads == 0:
            hint = "the gradients pile up from batch to batch: clear them with optimizer.zero_grad() each batch"
        return report(name, False, expected="the solution's weights after one epoch",
                      received="other weights", hint=hint)
    if not np.isclose(metrics[0], want_loss, rtol=1e-4):
        return report(name, False, expected=want_loss, received=metrics[0],
                      hint="the mean loss per image: weight each batch's loss.item() by its number of images and "
                           "divide by the images seen (the last batch holds only 6)")
    if not np.isclose(metrics[1], want_accuracy, rtol=1e-4):
        hint = "the accuracy in percent" if np.isclose(100 * metrics[1], want_accuracy) else \
            "count on each batch's output the images whose largest log-probability is the target"
        return report(name, False, expected=want_accuracy, received=metrics[1], hint=hint)
    return report(name, True)


def check_test(fn: Callable) -> bool:
    """Check ``fn(model, device, test_loader)``: the slide's test() on 70 fixed inputs with a small model (with
    dropout) handed over in training mode; it returns {"loss": average per image, "accuracy": %} (lab 02, ex. 4)."""
    name = "test"
    if skip_during_grading(name):
        return True
    model, loader, log = _loop_inputs(dropout=0.5)
    model.train()                                             # as train() leaves it
    before = [p.detach().clone() for p in model.parameters()]
    ok, result = _run_quietly(name, fn, model, "cpu", loader)
    if not ok:
        return False
    metrics = _metrics(name, result)
    if metrics is None:
        return False
    if not log or any(entry["training"] for entry in log):
        return report(name, False, expected="evaluation mode", received="training mode (dropout on)",
                      hint="call model.eval() before evaluating")
    if any(entry["grad"] for entry in log):
        return report(name, False, expected="no autograd during the evaluation", received="autograd on",
                      hint="wrap the loop in torch.no_grad(): faster, less memory")
    if not all(torch.equal(a, p.detach()) for a, p in zip(before, model.parameters())):
        return report(name, False, expected="the same weights", received="changed weights",
                      hint="test() only evaluates: no backward, no optimizer step")
    inputs = [loader.X.numpy(), loader.y.numpy(), "evaluation, batches of 32"]
    expected = stored(LAB, name, list(metrics), inputs)
    if expected is None:
        return False
    want_loss, want_accuracy = expected
    if not np.isclose(metrics[0], want_loss, rtol=1e-4):
        return report(name, False, expected=want_loss, received=metrics[0],
                      hint="sum the loss over every image (reduction='sum'), then divide by the number of images, "
                           "len(test_loader.dataset): not by the number of batches (the last holds only 6)")
    if not np.isclose(metrics[1], want_accuracy, rtol=1e-4):
        hint = "the accuracy in percent" if np.isclose(100 * metrics[1], want_accuracy) else \
            "100 * correct / len(test_loader.dataset), counting the largest log-probability of each row"
        return report(name, False, expected=want_accuracy, received=metrics[1], hint=hint)
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
def _file_id(path: Path) -> tuple[str, str]:
    return path.name, hashlib.sha256(path.read_bytes()).hexdigest()


def check_predict_digit(fn: Callable[[nn.Module, str], int], folder: str | Path = "data/mnist_test_images") -> bool:
    """Check ``fn(model, path)`` on every .jpg of ``folder`` with a NetCNN of fixed weights, handed over in
    training mode as after training (lab 02, ex. 5): the predicted digit, as an int."""
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



# ----------------------------------------------------------------------------- exercise 6
def _per_class_cases() -> tuple[list[Case], list[np.ndarray]]:
    """(scores (B, 10), target (B,)) cases and each one's predicted classes: a row's largest score is at
    ``intended`` by construction (no argmax needed here). One case has no 9 at all, one is all right."""
    rng = np.random.default_rng(306)
    cases, intended_all = [], []
    for batch, kind in ((1, "random"), (7, "random"), (64, "half right"), (1000, "half right"),
                        (64, "no 9 anywhere"), (64, "all right"), (64, "all wrong")):
        classes = 9 if kind == "no 9 anywhere" else 10
        intended = rng.integers(0, classes, size=batch)
        scores = rng.normal(size=(batch, 10))
        scores[np.arange(batch), intended] += 6.0               # a clear winner per row
        target = {"all right": intended, "all wrong": (intended + 1) % classes}.get(
            kind, rng.integers(0, classes, size=batch))
        if kind in ("half right", "no 9 anywhere"):
            target[: batch // 2] = intended[: batch // 2]
        cases.append(Case((torch.from_numpy(scores.astype(np.float32)), torch.from_numpy(target.astype(np.int64))),
                          f"output ({batch}, 10), target ({batch},), {kind}"))
        intended_all.append(intended)
    return cases, intended_all


def _counts(value) -> list[int] | None:
    """A sequence or 1-D tensor/array of integers as a list of ints, else None."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_floating_point() or value.dim() != 1:
            return None
        return [int(v) for v in value.tolist()]
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim == 1 and np.issubdtype(value.dtype, np.integer) else None
    if not isinstance(value, (list, tuple)):
        return None
    counts = [as_int(v) for v in value]
    return None if any(c is None for c in counts) else counts


def check_correct_per_class(fn: Callable[[torch.Tensor, torch.Tensor], list[int]]) -> bool:
    """Check ``fn(output, target)`` returns, for each of the 10 classes, how many images of that true class were
    predicted right (10 ints) (lab 02, exercise 6)."""
    name = "correct_per_class"
    if skip_during_grading(name):
        return True
    cases, intended = _per_class_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    counts = [_counts(a) for a in answers]
    for case, received, got in zip(cases, answers, counts):
        if got is None:
            return report(name, False, expected="10 ints (a list, or a 1-D integer tensor)",
                          received=repr(received)[:200], hint=f"{case.label}: count images (ints), not fractions")
        if len(got) != 10:
            return report(name, False, expected="10 counts", received=f"{len(got)} counts",
                          hint=f"{case.label}: one count per class, 0 for a digit that never occurs "
                               "(torch.bincount takes a minlength)")
    expected = stored(LAB, name, counts, cases)
    if expected is None:
        return False
    wrong = [(case, got, [int(w) for w in want], pred) for case, got, want, pred in zip(cases, counts, expected, intended)
             if got != [int(w) for w in want]]
    if not wrong:
        return report(name, True)
    too_many = [w for w in wrong if sum(w[1]) > len(w[0].args[1])]
    case, got, want, pred = (too_many or wrong)[0]
    target = case.args[1].numpy()
    hint = "for each true class, count its images whose prediction (largest score) equals the target"
    if too_many:
        hint = ("more correct images than rows: a (B, 1) tensor compared with a (B,) one broadcasts to (B, B); "
                "give both the same shape")
    elif got == np.bincount(target, minlength=10).tolist():
        hint = "you counted every image of each class; count only those predicted right"
    elif got == np.bincount(pred, minlength=10).tolist():
        hint = "you counted the predictions of each class; count only the right ones"
    return report(name, False, expected=want, received=got, hint=f"{case.label}: {hint}")
