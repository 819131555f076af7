"""Self-checks of lab 12 (deck 003's practicals in PyTorch): the MLP and CNN builders, the training and the
evaluation loops, and standardising a table with the training set's statistics.

No check holds an implementation of its exercise. The builders and the loops are compared with the answers the
solution notebook gave to the same fixed public cases (NumPy-seeded weights and inputs;
``expected/12_deck003_practicals.json``); the loops are also watched (the mode and autograd state of every forward
call, the gradient of every optimizer step), so the usual mistakes are named. ``standardise`` is compared with
scikit-learn's ``StandardScaler``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from labhelpers.checks import Case, as_numpy, attempt, close, report, run_cases, skip_during_grading, stored
from labhelpers.checks.watch import WatchedOptimizer

__all__ = ["check_dense_stack", "check_slide_cnn", "check_train_epoch", "check_evaluate_model", "check_standardise"]

LAB = "12_deck003_practicals"
DENSE_CASES = ([784, 256, 256, 256, 10], [784, 10], [20, 7, 3], [6, 5, 5, 5, 5, 2])  # the first: the Keras MLP
CNN_CASES = ((1, 28, True), (1, 28, False), (3, 32, True), (3, 16, False), (1, 30, True))  # (1, 28, True): Keras CNN


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    """Every tensor of ``model`` (in state_dict order) overwritten with NumPy-seeded noise in [-0.2, 0.2]."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, size=tuple(tensor.shape)).astype(np.float32)))
    return model.eval()


def _built(name: str, fn: Callable, args: tuple) -> nn.Module | None:
    """The model ``fn(*args)`` returns (torch's RNG left alone), or None after reporting why there is none."""
    with torch.random.fork_rng(devices=[]):
        ok, model = attempt(name, fn, *args)
    if not ok:
        return None
    if not isinstance(model, nn.Module):
        report(name, False, expected="an nn.Module (an nn.Sequential)", received=type(model).__name__,
               hint="return the model you built")
        return None
    return model


def _model_answer(model: nn.Module, X: torch.Tensor, seed: int) -> dict:
    """The layer names and shapes, the parameter count and the output on ``X`` after seeded weights (or why the
    model could not compute one: the layers are compared first, and usually say more)."""
    state = [[key, list(value.shape)] for key, value in model.state_dict().items()]
    n_params = sum(p.numel() for p in model.parameters())
    try:
        with torch.no_grad():
            output = _seeded(model, seed)(X)
    except Exception as exc:  # the student's model failed on the input: reported after the layers are compared
        output = f"your model raised {type(exc).__name__}: {exc}"
    return {"state": state, "parameters": n_params, "output": output}


def _compare_models(name: str, cases: list[Case], answers: list[dict], expected: list[dict], hints: dict) -> bool:
    for case, got, want in zip(cases, answers, expected):
        if got["parameters"] != want["parameters"]:
            return report(name, False, expected=f"{want['parameters']:,} parameters", received=f"{got['parameters']:,}",
                          hint=f"{case.label}: {hints['parameters']}")
        if got["state"] != want["state"]:
            return report(name, False, expected=want["state"], received=got["state"],
                          hint=f"{case.label}: {hints['state']}")
        y_hat = got["output"]
        if isinstance(y_hat, str):
            return report(name, False, expected=f"a tensor of shape {tuple(np.shape(want['output']))}",
                          received=y_hat, hint=case.label)
        if not isinstance(y_hat, torch.Tensor) or tuple(y_hat.shape) != tuple(np.shape(want["output"])):
            return report(name, False, expected=f"a tensor of shape {tuple(np.shape(want['output']))}",
                          received=getattr(y_hat, "shape", type(y_hat).__name__), hint=case.label)
        if not close(y_hat, want["output"], atol=1e-4, rtol=1e-4):
            hint = hints["values"]
            if close(y_hat.sum(dim=1), torch.ones(len(y_hat)), atol=1e-4):
                hint = "return logits: no softmax at the end (F.cross_entropy applies log_softmax itself)"
            elif (y_hat >= 0).all() and (np.asarray(want["output"]) < 0).any():
                hint = "no ReLU after the last layer: the logits may be negative"
            return report(name, False, expected=np.asarray(want["output"])[:2], received=y_hat.numpy()[:2],
                          hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 1
def check_dense_stack(fn: Callable[[list], nn.Module]) -> bool:
    """Check ``fn(sizes)``: Flatten, then Linear layers with ReLU between them, logits out (lab 12, exercise 1)."""
    name = "dense_stack"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1203)
    cases = [Case((list(sizes),), f"sizes={sizes}") for sizes in DENSE_CASES]
    answers = []
    for case in cases:
        model = _built(name, fn, case.args)
        if model is None:
            return False
        X = torch.from_numpy(rng.normal(size=(3, case.args[0][0])).astype(np.float32))   # (3, sizes[0])
        ok, answer = attempt(name, _model_answer, model, X, 12)
        if not ok:
            return False
        answers.append(answer)
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    return _compare_models(name, cases, answers, expected, {
        "parameters": "one nn.Linear(n_in, n_out) per consecutive pair of sizes (weights n_in * n_out, biases n_out)",
        "state": "one nn.Sequential: nn.Flatten() first, then Linear, ReLU, Linear, ..., Linear (names 1, 3, 5, ...)",
        "values": "a ReLU after every Linear except the last"})


# ----------------------------------------------------------------------------- exercise 2
def check_slide_cnn(fn: Callable[..., nn.Module]) -> bool:
    """Check ``fn(in_channels, image_size, conv_bias)``: the slides' CNN (the Keras CNN: 50,186 parameters)
    for other image sizes and channels, with or without the convolutions' biases (lab 12, exercise 2)."""
    name = "slide_cnn"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1204)
    cases = [Case((c, n, bias), f"in_channels={c}, image_size={n}, conv_bias={bias}") for c, n, bias in CNN_CASES]
    answers = []
    for case in cases:
        model = _built(name, fn, case.args)
        if model is None:
            return False
        c, n, _ = case.args
        X = torch.from_numpy(rng.normal(size=(2, c, n, n)).astype(np.float32))            # (2, C, n, n)
        ok, answer = attempt(name, _model_answer, model, X, 13)
        if not ok:
            return False
        answers.append(answer)
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    return _compare_models(name, cases, answers, expected, {
        "parameters": "32 then 64 filters of 3 x 3 over the input's channels (a bias each only with conv_bias); two "
                      "2 x 2 poolings shrink each side to image_size // 4 before the fully connected layer to 10",
        "state": "one nn.Sequential in the slide's order: Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, "
                 "Linear (names 0, 3 and 7)",
        "values": "'same' padding (1 for a 3 x 3 kernel), ReLU after each convolution, 2 x 2 max pooling"})


# ----------------------------------------------------------------------------- exercises 3 and 4
# (label, batch sizes, features, classes)
LOOP_CASES = [("3 batches of 8, 8 and 5 rows (the last one smaller), 3 classes", (8, 8, 5), 12, 3),
              ("1 batch of 16 rows, 10 classes", (16,), 20, 10)]


def _loop_inputs(index: int) -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Case ``index``'s small MLP (NumPy-seeded weights) and its fixed batches [(X (B, F), y (B,)), ...]."""
    _, sizes, features, classes = LOOP_CASES[index]
    rng = np.random.default_rng(1205 + index)
    with torch.random.fork_rng(devices=[]):
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, classes))
    _seeded(model, 1207 + index)
    batches = [(torch.from_numpy(rng.normal(size=(b, features)).astype(np.float32)),
                torch.from_numpy(rng.integers(0, classes, size=b).astype(np.int64))) for b in sizes]
    return model, batches


def _loop_run(name: str, fn: Callable, index: int, training: bool) -> dict | None:
    """Run the student's loop on case ``index`` (the model arrives in the other mode); what it returned, the mode
    and autograd state of every forward call, and what it did with the optimizer (training only)."""
    model, batches = _loop_inputs(index)
    model.train(not training)
    calls: list[tuple[bool, bool]] = []
    model.register_forward_pre_hook(lambda module, inputs: calls.append((module.training, torch.is_grad_enabled())))
    args: list[Any] = [model, batches]
    optimizer = None
    if training:
        optimizer = WatchedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        args.append(optimizer)
    with torch.random.fork_rng(devices=[]):
        ok, metrics = attempt(name, fn, *args, "cpu")
    if not ok:
        return None
    return {"metrics": metrics, "calls": calls, "optimizer": optimizer, "batches": batches}


def _metric_problem(name: str, metrics: Any) -> bool | None:
    """Report (False) a return value that is not {"loss": number, "accuracy": number}; None when it is one."""
    if not isinstance(metrics, dict) or not {"loss", "accuracy"} <= set(metrics):
        return report(name, False, expected='a dict {"loss": ..., "accuracy": ...}', received=repr(metrics)[:80],
                      hint="return both numbers in a dict, as Keras prints them")
    tensors = [key for key in ("loss", "accuracy") if isinstance(metrics[key], torch.Tensor)]
    if tensors:
        return report(name, False, expected="Python numbers", received=f"{', '.join(tensors)} as a tensor",
                      hint="add up loss.item() (a Python number), not the loss tensor: a tensor keeps its whole "
                           "autograd graph alive")
    if not all(isinstance(metrics[key], (int, float, np.floating, np.integer)) for key in ("loss", "accuracy")):
        return report(name, False, expected="two numbers", received=repr(metrics)[:80], hint="loss and accuracy")
    return None


def _value_problem(name: str, label: str, got: dict, want: dict) -> bool | None:
    """Report (False) a loss or accuracy that differs from the solution's; None when both agree."""
    for key in ("loss", "accuracy"):
        if np.isclose(float(got[key]), float(want[key]), rtol=1e-4, atol=1e-6):
            continue
        hint = ("the mean over the images: weight each batch's loss by its number of images, then divide by "
                "the images seen (the last batch is smaller)" if key == "loss" else
                "the fraction of the images classified right (argmax of the logits equals the label)")
        if key == "accuracy" and np.isclose(float(got[key]), 100 * float(want[key]), rtol=1e-4):
            hint = "a fraction between 0 and 1, as Keras prints acc, not a percentage"
        return report(name, False, expected=f"{key} {float(want[key]):.6g}", received=f"{key} {float(got[key]):.6g}",
                      hint=f"{label}: {hint}")
    return None


def _called_run(name: str, fn: Callable, index: int, training: bool) -> tuple[dict | None, bool]:
    """(the loop's run on case ``index``, None), or (None, the failed report) when it raised, returned no usable
    metrics or never called the model."""
    run = _loop_run(name, fn, index, training=training)
    if run is None:
        return None, False
    problem = _metric_problem(name, run["metrics"])
    if problem is not None:
        return None, problem
    if not run["calls"]:
        return None, report(name, False, expected="the model called on every batch", received="never called",
                            hint="run the model on each batch")
    return run, True


def check_train_epoch(fn: Callable) -> bool:
    """Check ``fn(model, train_loader, optimizer, device)`` -> {"loss", "accuracy"} over one epoch (lab 12, ex. 3).

    Two small MLPs with NumPy-seeded weights train on fixed batches through a watched SGD; the gradient of every
    step and the returned numbers are compared with the solution's. Named: a missing model.train(), a missing
    zero_grad, a summed loss, the loss tensor instead of loss.item(), a mean over batches, a percentage."""
    name = "train_epoch"
    if skip_during_grading(name):
        return True
    runs = []
    for index, (label, sizes, *_) in enumerate(LOOP_CASES):
        run, failure = _called_run(name, fn, index, training=True)
        if run is None:
            return failure
        if not all(training and grad for training, grad in run["calls"]):
            return report(name, False, expected="training mode, autograd on", received="evaluation mode" if not all(
                t for t, _ in run["calls"]) else "autograd off", hint="the model arrives in evaluation mode (as after "
                "an evaluation): call model.train() before the loop, and do not train under torch.no_grad()")
        norms = run["optimizer"].grad_norms
        if len(norms) != len(sizes):
            return report(name, False, expected=f"{len(sizes)} optimizer steps", received=len(norms),
                          hint=f"{label}: one optimizer.step() per batch, after loss.backward()")
        runs.append({"metrics": {key: float(run["metrics"][key]) for key in ("loss", "accuracy")},
                     "grad_norms": norms, "zero_grads": run["optimizer"].zero_grads})
    inputs = [[list(case), [list(b) for b in _loop_inputs(i)[1]], dict(_loop_inputs(i)[0].state_dict())]
              for i, case in enumerate(LOOP_CASES)]
    expected = stored(LAB, name, [{k: r[k] for k in ("metrics", "grad_norms")} for r in runs], inputs)
    if expected is None:
        return False
    for (label, *_), run, want in zip(LOOP_CASES, runs, expected):
        mine, theirs = np.asarray(run["grad_norms"]), np.asarray(want["grad_norms"], dtype=float)
        if not np.allclose(mine, theirs, rtol=1e-4, atol=1e-9):
            first = int(np.argmax(~np.isclose(mine, theirs, rtol=1e-4, atol=1e-9)))
            ratio = mine[first] / theirs[first] if theirs[first] else float("inf")
            hint = f"step {first + 1}'s gradient differs from the solution's"
            if first == 0 and ratio > 1.5:
                hint = (f"the first gradient is {ratio:.3g} times the solution's: the loss is the mean over the "
                        "batch (F.cross_entropy's default reduction), not its sum")
            elif first > 0 and run["zero_grads"] == 0:
                hint = (f"from step {first + 1} on the gradients pile up: clear them before each backward() "
                        "(optimizer.zero_grad())")
            return report(name, False, expected=theirs, received=mine, hint=f"{label}: {hint}")
        problem = _value_problem(name, label, run["metrics"], want["metrics"])
        if problem is not None:
            return problem
    return report(name, True)


def check_evaluate_model(fn: Callable) -> bool:
    """Check ``fn(model, loader, device)`` -> {"loss", "accuracy"} on a model handed over in training mode
    (lab 12, exercise 4): evaluation mode, no autograd, the mean loss over the images, the fraction right."""
    name = "evaluate_model"
    if skip_during_grading(name):
        return True
    runs = []
    for index, (label, *_) in enumerate(LOOP_CASES):
        run, failure = _called_run(name, fn, index, training=False)
        if run is None:
            return failure
        if any(training for training, _ in run["calls"]):
            return report(name, False, expected="evaluation mode", received="training mode",
                          hint="the model arrives in training mode (as after training): call model.eval() first "
                               "(dropout and batch norm behave differently)")
        if any(grad for _, grad in run["calls"]):
            return report(name, False, expected="autograd off", received="autograd recording the evaluation",
                          hint="wrap the loop in torch.no_grad(): faster, and no graph kept in memory")
        runs.append({key: float(run["metrics"][key]) for key in ("loss", "accuracy")})
    inputs = [[list(case), [list(b) for b in _loop_inputs(i)[1]], dict(_loop_inputs(i)[0].state_dict())]
              for i, case in enumerate(LOOP_CASES)]
    expected = stored(LAB, name, runs, inputs)
    if expected is None:
        return False
    for (label, *_), got, want in zip(LOOP_CASES, runs, expected):
        problem = _value_problem(name, label, got, want)
        if problem is not None:
            return problem
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 5
def _table_cases() -> list[Case]:
    """(X_train, X_test): columns of very different scales and means; the test rows drawn elsewhere."""
    rng = np.random.default_rng(1206)
    scales, shifts = np.array([1.0, 100.0, 0.01, 2500.0]), np.array([0.0, 50.0, -3.0, 600.0])
    cases = []
    for n_train, n_test in ((20, 7), (50, 1), (8, 30)):
        X_train = rng.normal(size=(n_train, 4)) * scales + shifts
        X_test = rng.normal(loc=0.5, size=(n_test, 4)) * scales + shifts
        cases.append(Case((X_train, X_test), f"X_train ({n_train}, 4), X_test ({n_test}, 4)"))
    return cases


def check_standardise(fn: Callable) -> bool:
    """Check ``fn(X_train, X_test)`` -> both standardised with the training set's mean and standard deviation,
    as scikit-learn's StandardScaler fitted on X_train does (lab 12, exercise 5)."""
    from sklearn.preprocessing import StandardScaler
    name = "standardise"
    if skip_during_grading(name):
        return True
    cases = _table_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, answer in zip(cases, answers):
        X_train, X_test = case.args
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            return report(name, False, expected="a pair (X_train_std, X_test_std)", received=type(answer).__name__,
                          hint="return both tables")
        got_train, got_test = (as_numpy(a) for a in answer)
        scaler = StandardScaler().fit(X_train)
        want_train, want_test = scaler.transform(X_train), scaler.transform(X_test)
        if got_train is None or got_test is None or got_train.shape != X_train.shape or got_test.shape != X_test.shape:
            return report(name, False, expected=f"shapes {X_train.shape} and {X_test.shape}",
                          received=f"{getattr(got_train, 'shape', None)} and {getattr(got_test, 'shape', None)}",
                          hint=f"{case.label}: one mean and one standard deviation per column (axis 0)")
        if not close(got_train, want_train, atol=1e-6):
            hint = "subtract each column's mean over the training rows, divide by its standard deviation"
            if close(got_train, want_train * np.sqrt((len(X_train) - 1) / len(X_train)), atol=1e-6):
                hint = ("the population standard deviation (ddof=0, NumPy's default; torch.std defaults to ddof=1), "
                        "as StandardScaler uses")
            return report(name, False, expected=want_train[:2], received=got_train[:2], hint=f"{case.label}: {hint}")
        if not close(got_test, want_test, atol=1e-6):
            hint = "the test rows are standardised with the TRAINING set's mean and standard deviation"
            if len(X_test) > 1 and close(got_test, StandardScaler().fit_transform(X_test), atol=1e-6):
                hint = ("the test rows were standardised with their own statistics: use the training set's (the "
                        "test set stands for data you have not seen yet)")
            return report(name, False, expected=want_test[:2], received=got_test[:2], hint=f"{case.label}: {hint}")
    return report(name, True)
