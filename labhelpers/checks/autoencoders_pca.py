"""Self-checks of lab 13 (autoencoders and PCA): the nearest/farthest distance ratio, PCA by hand, principal angles,
an autoencoder's training epoch and its evaluation, the convolutional autoencoder's encode/decode.

No check holds an implementation of its exercise. PCA is compared with scikit-learn's ``PCA`` and the principal
angles with SciPy's ``subspace_angles`` on NumPy-seeded cases; the other checks compare with the answers the
solution notebook gave to the same fixed cases (NumPy-seeded points, images and weights, or literals;
``expected/13_autoencoders_pca.json``). The loop checks watch the optimizer and the model, as in lab 08.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from labhelpers.checks import Case, as_numpy, attempt, close, report, run_cases, skip_during_grading, stored
from labhelpers.checks.watch import WatchedOptimizer
from labhelpers.data import TensorLoader

__all__ = ["check_distance_ratio", "check_pca_fit", "check_principal_angles", "check_train_autoencoder_epoch",
           "check_evaluate_autoencoder", "check_conv_autoencoder"]

LAB = "13_autoencoders_pca"
LINE = "3 points on a line at 0, 1 and 3"
LINE_SQUARED, LINE_INVERTED, LINE_GLOBAL = 29 / 108, 13 / 6, 1 / 3   # that case with squared distances, far/near, global


def _tensor(array: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


def _number(value: Any) -> float | None:
    array = as_numpy(value)
    return float(array.reshape(())) if array is not None and array.size == 1 else None


# ----------------------------------------------------------------------------- exercise 1
def check_distance_ratio(fn: Callable[[torch.Tensor], float]) -> bool:
    """Check ``fn(X)`` = mean over the points of nearest / farthest distance to the other points (lab 13, ex. 1)."""
    name = "distance_ratio"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1301)
    cases = [Case((_tensor(np.array([[0.0], [1.0], [3.0]])),), LINE)]
    cases += [Case((_tensor(rng.uniform(size=(n, d))),), f"{n} uniform points in {d}-D") for n, d in
              ((10, 2), (25, 10), (40, 100), (8, 1000))]
    cases.append(Case((_tensor(rng.normal(size=(30, 5))),), "30 normal points in 5-D"))
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    numbers = [_number(a) for a in answers]
    for case, received, number in zip(cases, answers, numbers):
        if number is None:
            return report(name, False, expected="one number", received=repr(received)[:80],
                          hint=f"{case.label}: return the mean ratio as a float (.item())")
    expected = stored(LAB, name, numbers, cases)
    if expected is None:
        return False
    for case, got, want in zip(cases, numbers, expected):
        if np.isclose(got, want, rtol=1e-6, atol=1e-9):
            continue
        hint = "for each point: its smallest and its largest distance to the OTHER points, their ratio; then the mean"
        if got == 0:
            hint = "every point is at distance 0 from itself: leave the point itself out of its nearest neighbours"
        elif case.label == LINE and np.isclose(got, LINE_SQUARED):
            hint = "those are squared distances: take the square root (Euclidean distance)"
        elif case.label == LINE and np.isclose(got, LINE_INVERTED):
            hint = "nearest divided by farthest (a ratio of at most 1), not the other way round"
        elif case.label == LINE and np.isclose(got, LINE_GLOBAL):
            hint = "one ratio per point (its own nearest and farthest), averaged over the points"
        return report(name, False, expected=want, received=got, hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def _pca_data(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n samples in d dimensions with distinct variances and correlated columns (elementwise: bit-reproducible)."""
    X = rng.normal(size=(n, d)) * np.linspace(3.0, 0.5, d) + rng.uniform(-2, 2, size=d)
    for j in range(1, d):
        X[:, j] += rng.uniform(-0.8, 0.8) * X[:, j - 1]
    return X


def _arrays(name: str, received: Any, k: int, d: int) -> tuple | None:
    if not isinstance(received, (tuple, list)) or len(received) != 3:
        report(name, False, expected="(mean, components, variances)", received=repr(received)[:80],
               hint="return the three values as a tuple")
        return None
    arrays = [as_numpy(r) for r in received]
    shapes = [(d,), (k, d), (k,)]
    if any(a is None for a in arrays) or [a.shape for a in arrays] != shapes:
        got = [None if a is None else a.shape for a in arrays]
        hint = "mean (D,), components (k, D): one direction per row, variances (k,)"
        if arrays[1] is not None and arrays[1].shape == (d, k):
            hint = "one principal direction per ROW: the components are (k, D) (transpose the eigenvector columns)"
        report(name, False, expected=shapes, received=got, hint=hint)
        return None
    return arrays


def check_pca_fit(fn: Callable[[torch.Tensor, int], tuple]) -> bool:
    """Check ``fn(X, k)`` -> (mean, components, variances) against scikit-learn's PCA (lab 13, exercise 2)."""
    from sklearn.decomposition import PCA
    name = "pca_fit"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(1302)
    for n, d, k in ((10, 3, 2), (50, 6, 3), (200, 20, 5), (30, 8, 8)):
        X = _pca_data(rng, n, d)
        label = f"X ({n}, {d}), k={k}"
        ok, received = attempt(name, fn, _tensor(X), k)
        if not ok:
            return False
        arrays = _arrays(name, received, k, d)
        if arrays is None:
            return False
        mean, components, variances = arrays
        full = PCA(n_components=d, svd_solver="full").fit(X)
        want_c, want_v = full.components_[:k], full.explained_variance_[:k]
        if not close(mean, full.mean_):
            return report(name, False, expected=full.mean_, received=mean,
                          hint=f"{label}: the mean of the samples, one value per column (average over dim 0)")
        norms = np.linalg.norm(components, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-6):
            return report(name, False, expected="rows of length 1", received=norms,
                          hint=f"{label}: each principal direction is a unit vector (an eigenvector)")
        aligned = components * np.sign(np.sum(components * want_c, axis=1, keepdims=True))
        if any(np.allclose(variances, v, rtol=1e-6) for v in (full.explained_variance_[::-1][:k], want_v[::-1])) \
                and k > 1:
            return report(name, False, expected=want_v, received=variances, hint=f"{label}: eigh sorts the "
                          "eigenvalues in ascending order; keep the k LARGEST, largest first")
        if np.allclose(variances, want_v * (n - 1) / n, rtol=1e-6):
            return report(name, False, expected=want_v, received=variances, hint=f"{label}: divide by N - 1, as "
                          "the sample covariance (and scikit-learn's explained_variance_) does, not by N")
        if not np.allclose(aligned, want_c, atol=1e-6):
            return report(name, False, expected=want_c[0], received=components[0],
                          hint=f"{label}: centre X, then the eigenvectors of its covariance with the largest "
                               "eigenvalues; eigh returns them as the COLUMNS of its second output")
        if not np.allclose(variances, want_v, rtol=1e-6, atol=1e-9):
            return report(name, False, expected=want_v, received=variances,
                          hint=f"{label}: the variances are the covariance's eigenvalues of those directions")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 3
def _angle_cases() -> list[tuple[np.ndarray, np.ndarray, str]]:
    rng = np.random.default_rng(1303)
    e = np.eye(6)
    c30, s30, c60, s60 = np.cos(np.pi / 6), np.sin(np.pi / 6), np.cos(np.pi / 3), np.sin(np.pi / 3)
    tilted = np.stack([c30 * e[0] + s30 * e[2], c60 * e[1] + s60 * e[3]], axis=1)
    A = rng.normal(size=(10, 3))
    return [(e[:, :2], tilted, "the plane of axes 1-2 and a plane tilted by 30 and 60 degrees"),
            (A, A * np.array([2.0, -0.5, 3.0]) + A[:, [1, 2, 0]], "two bases of the same 3-D subspace (not orthonormal)"),
            (rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), "two random 3-D subspaces of 10-D"),
            (rng.normal(size=(5, 1)), rng.normal(size=(5, 1)), "two lines in 5-D")]


def check_principal_angles(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(A, B)`` = the principal angles (degrees, smallest first) between the column spaces of A and B
    against SciPy's ``subspace_angles`` (lab 13, exercise 3)."""
    from scipy.linalg import subspace_angles
    name = "principal_angles"
    if skip_during_grading(name):
        return True
    for A, B, label in _angle_cases():
        ok, received = attempt(name, fn, _tensor(A), _tensor(B))
        if not ok:
            return False
        want = np.degrees(np.sort(subspace_angles(A, B)))
        got = as_numpy(received)
        if got is None or got.reshape(-1).shape != want.shape:
            return report(name, False, expected=f"{len(want)} angles", received=repr(received)[:80],
                          hint=f"{label}: one angle per column of A (a 1-D tensor)")
        got = got.reshape(-1)
        if np.allclose(got, want, atol=1e-3):
            continue
        hint = ("orthonormal bases of both subspaces first (torch.linalg.qr), then the singular values of "
                "Q_A^T Q_B are the cosines of the angles")
        if np.isnan(got).any():
            hint = "rounding can push a cosine just above 1: clamp the cosines into [-1, 1] before arccos"
        elif np.allclose(got, np.radians(want), atol=1e-4):
            hint = "in degrees, not radians"
        elif np.allclose(got[::-1], want, atol=1e-3):
            hint = "smallest angle first"
        return report(name, False, expected=want, received=got, hint=f"{label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercises 4 and 5
# (label, images, batch size, optimizer, hyper-parameters)
LOOP_CASES = [("24 images in batches of 8, SGD", 24, 8, "SGD", {"lr": 0.5}),
              ("20 images in batches of 8 (the last one holds 4), Adam", 20, 8, "Adam", {"lr": 0.01})]


def _loop_inputs(index: int, training: bool) -> tuple[nn.Module, TensorLoader, list]:
    """Case ``index``'s small autoencoder (NumPy-seeded weights, handed over in the other mode than the one the
    function must set), its images (N, 1, 28, 28) in [0, 1] and the log of its forward calls."""
    _, n, batch_size, *_ = LOOP_CASES[index]
    rng = np.random.default_rng(1304 + index)
    with torch.random.fork_rng(devices=[]):                      # leave the notebook's random state alone
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 6), nn.ReLU(), nn.Linear(6, 784), nn.Sigmoid(),
                              nn.Unflatten(1, (1, 28, 28)))
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.copy_(_tensor(rng.uniform(-0.1, 0.1, size=tuple(tensor.shape)), torch.float32))
    X = _tensor(rng.uniform(size=(n, 1, 28, 28)), torch.float32)
    log: list = []
    model.register_forward_pre_hook(lambda module, inputs: log.append((module.training, torch.is_grad_enabled())))
    model.train(not training)
    return model, TensorLoader(X, torch.zeros(n, dtype=torch.int64), batch_size), log


def _loss_of(name: str, received: Any, label: str) -> float | None:
    if not isinstance(received, dict) or "loss" not in received:
        report(name, False, expected='{"loss": mean squared error}', received=repr(received)[:80],
               hint=f"{label}: return a dict with the key 'loss'")
        return None
    if isinstance(received["loss"], torch.Tensor):
        report(name, False, expected="a Python float", received="a tensor", hint="add up loss.item() (a number), "
               "not the loss tensor: a tensor keeps its whole autograd graph alive")
        return None
    loss = _number(received["loss"])
    if loss is None:
        report(name, False, expected="a number", received=repr(received["loss"])[:80], hint="the mean loss")
    return loss


def check_train_autoencoder_epoch(fn: Callable) -> bool:
    """Check ``fn(model, train_loader, optimizer, device)`` -> {"loss": ...}: one epoch of reconstruction training
    of a small autoencoder with fixed weights, watched through its optimizer (lab 13, exercise 4)."""
    name = "train_autoencoder_epoch"
    if skip_during_grading(name):
        return True
    runs, zero_grads = [], []
    for index, (label, n, batch_size, kind, hyper) in enumerate(LOOP_CASES):
        model, loader, log = _loop_inputs(index, training=True)
        optimizer = WatchedOptimizer(getattr(torch.optim, kind)(model.parameters(), **hyper))
        ok, received = attempt(name, fn, model, loader, optimizer, "cpu")
        if not ok:
            return False
        loss = _loss_of(name, received, label)
        if loss is None:
            return False
        if not log or not all(training for training, _ in log):
            return report(name, False, expected="training mode", received="evaluation mode" if log else "never called",
                          hint="the model arrives in evaluation mode (as after a test): call model.train() first")
        steps = -(-n // batch_size)
        if len(optimizer.grad_norms) != steps:
            return report(name, False, expected=f"{steps} optimizer steps", received=len(optimizer.grad_norms),
                          hint=f"{label}: one optimizer.step() per batch")
        runs.append({"loss": loss, "grad_norms": optimizer.grad_norms})
        zero_grads.append(optimizer.zero_grads)
    inputs = [[list(case[1:3]), case[3], case[4], dict(_loop_inputs(i, True)[0].state_dict())]
              for i, case in enumerate(LOOP_CASES)]
    expected = stored(LAB, name, runs, inputs)
    if expected is None:
        return False
    for (label, *_), run, want, zeroed in zip(LOOP_CASES, runs, expected, zero_grads):
        mine, theirs = np.asarray(run["grad_norms"]), np.asarray(want["grad_norms"], dtype=float)
        if not np.allclose(mine, theirs, rtol=1e-3, atol=1e-9):
            first = int(np.argmax(~np.isclose(mine, theirs, rtol=1e-3, atol=1e-9)))
            hint = f"step {first + 1}'s gradient differs from the solution's: the loss is the MSE of model(X) and X"
            if first == 0 and mine[0] > 1.5 * theirs[0]:
                hint = "the gradient is far too large: average the squared error (F.mse_loss's default), not its sum"
            elif first > 0 and zeroed == 0:
                hint = f"from step {first + 1} on the gradients pile up: clear them (optimizer.zero_grad()) every batch"
            return report(name, False, expected=theirs[:4], received=mine[:4], hint=f"{label}: {hint}")
        if not np.isclose(run["loss"], want["loss"], rtol=1e-4, atol=1e-8):
            hint = "the mean over the epoch's images of each batch's loss (weight a batch by its size)"
            if "last one" in label:
                hint = "the batches trained right; weight each batch's loss by its number of images, then divide by N"
            return report(name, False, expected=want["loss"], received=run["loss"], hint=f"{label}: {hint}")
    return report(name, True)


def check_evaluate_autoencoder(fn: Callable) -> bool:
    """Check ``fn(model, loader, device)`` -> {"loss": mean squared error per pixel} of a small autoencoder with
    fixed weights, handed over in training mode (lab 13, exercise 5)."""
    name = "evaluate_autoencoder"
    if skip_during_grading(name):
        return True
    losses = []
    for index, (label, *_) in enumerate(LOOP_CASES):
        model, loader, log = _loop_inputs(index, training=False)
        ok, received = attempt(name, fn, model, loader, "cpu")
        if not ok:
            return False
        loss = _loss_of(name, received, label)
        if loss is None:
            return False
        if not log or not all(not training for training, _ in log):
            return report(name, False, expected="evaluation mode", received="training mode" if log else "never called",
                          hint="the model arrives in training mode (as after training): call model.eval() first")
        if any(grad for _, grad in log):
            return report(name, False, expected="autograd off", received="autograd on",
                          hint="evaluate inside torch.no_grad(): no graph is needed, it costs time and memory")
        losses.append(loss)
    inputs = [[list(case[1:3]), dict(_loop_inputs(i, False)[0].state_dict())] for i, case in enumerate(LOOP_CASES)]
    expected = stored(LAB, name, losses, inputs)
    if expected is None:
        return False
    for (label, *_), got, want in zip(LOOP_CASES, losses, expected):
        if not np.isclose(got, want, rtol=1e-5, atol=1e-9):
            hint = "the squared error averaged over every pixel of every image"
            if np.isclose(got, want * 784, rtol=1e-4):
                hint = "that is a sum over each image's 784 pixels: average over the pixels too (F.mse_loss's default)"
            elif "last one" in label:
                hint = "weight each batch's loss by its number of images, then divide by N (the last batch is smaller)"
            return report(name, False, expected=want, received=got, hint=f"{label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 6
CODE = 8   # the code size of the checked model
CONV_SHAPES = {"conv1.weight": (16, 1, 3, 3), "conv1.bias": (16,), "conv2.weight": (32, 16, 3, 3), "conv2.bias": (32,),
               "fc_enc.weight": (CODE, 1568), "fc_enc.bias": (CODE,), "fc_dec.weight": (1568, CODE),
               "fc_dec.bias": (1568,), "deconv1.weight": (32, 16, 3, 3), "deconv1.bias": (16,),
               "deconv2.weight": (16, 1, 3, 3), "deconv2.bias": (1,)}   # the layers __init__ defines, code size 8


def check_conv_autoencoder(cls: Callable[[int], nn.Module]) -> bool:
    """Check the class ``cls``: its layers for code_size=8 and, with fixed weights, the solution's codes from
    ``encode``, images from ``decode`` and reconstructions from the model (lab 13, exercise 6)."""
    name = "ConvAutoencoder"
    if skip_during_grading(name):
        return True
    with torch.random.fork_rng(devices=[]):
        ok, model = attempt(name, cls, CODE)
    if not ok:
        return False
    if not isinstance(model, nn.Module):
        return report(name, False, expected="an nn.Module", received=type(model).__name__,
                      hint="pass the class itself: check_conv_autoencoder(ConvAutoencoder)")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if shapes != CONV_SHAPES:
        return report(name, False, expected=CONV_SHAPES, received=shapes, hint="keep __init__ as given")
    rng = np.random.default_rng(1306)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.copy_(_tensor(rng.uniform(-0.2, 0.2, size=tuple(tensor.shape)), torch.float32))
    model.eval()
    X = _tensor(rng.uniform(size=(3, 1, 28, 28)), torch.float32)       # (3, 1, 28, 28)
    Z = _tensor(rng.normal(size=(3, CODE)), torch.float32)            # (3, 8)
    cases = [Case((X,), "encode 3 images"), Case((Z,), "decode 3 codes"), Case((X,), "the model on 3 images")]
    answers = []
    for fn, case in zip((model.encode, model.decode, model), cases):
        with torch.no_grad():
            ok, value = attempt(name, fn, *case.args)
        if not ok:
            return False
        answers.append(value)
    for case, value, shape in zip(cases, answers, ((3, CODE), (3, 1, 28, 28), (3, 1, 28, 28))):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return report(name, False, expected=shape, received=got, hint=f"{case.label}: encode gives (B, code_size); "
                          "decode reshapes fc_dec's output to (B, 32, 7, 7) before the transposed convolutions")
    expected = stored(LAB, name, answers, cases)
    if expected is None:
        return False
    code, image = answers[0], answers[1]
    if not close(code, expected[0], atol=1e-5):
        hint = "conv1, ReLU, conv2, ReLU, flatten, fc_enc"
        if code.min() >= 0 and np.asarray(expected[0]).min() < 0:
            hint = "the code is fc_enc's output as it is: no ReLU on the code"
        return report(name, False, expected=np.asarray(expected[0]), received=code.numpy(), hint=f"encode: {hint}")
    if not close(image, expected[1], atol=1e-5):
        hint = "fc_dec, ReLU, reshape, deconv1, ReLU, deconv2, sigmoid"
        if image.min() < 0 or image.max() > 1:
            hint = "the output pixels lie in (0, 1): end with a sigmoid, like the images"
        return report(name, False, expected=np.asarray(expected[1])[0, 0, 0, :6], received=image.numpy()[0, 0, 0, :6],
                      hint=f"decode: {hint}")
    if not close(answers[2], expected[2], atol=1e-5):
        return report(name, False, expected="decode(encode(X))", received="something else",
                      hint="keep forward as given: decode(encode(X))")
    return report(name, True)
