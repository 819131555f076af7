"""Hidden tests of lab 13 (autoencoders and PCA: the nearest/farthest distance ratio, PCA by eigen-decomposition,
principal angles, an autoencoder's training epoch and its evaluation, a convolutional autoencoder).

Instructor only: never released. Fresh random cases per submission; references run in the grader (PCA is
scikit-learn's, the principal angles SciPy's subspace_angles, the distances plain broadcasting). The library
routines that compute an answer are forbidden to the student at run time: distances (torch.cdist, SciPy,
scikit-learn), PCA and every SVD (the exercise asks for the covariance's eigen-decomposition), subspace_angles.

train_autoencoder_epoch and evaluate_autoencoder are graded by behaviour (labkit.grading.training): the student's
function and the reference get the same seeded conv stack with dropout (codec Layers, image -> image of the same
shape, watched; the training probe hands it over in evaluation mode, the evaluation probe in training mode), the
same real digits (Loader: 100 of them in batches of 32, so the last batch holds 4) and, for training, the same
watched SGD; torch's RNG is seeded alike on both sides, so the dropout masks agree. The parts name the known
mistakes: a missing zero_grad, model.train() / model.eval(), the loss tensor instead of loss.item(), autograd left
on while evaluating, a summed loss, a mean over batches instead of images, a per-image sum of pixels. No outcome
part: the task asks for the loop, not for a target loss.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from labkit.grading.codec import decode, resolve_attrs, seed_everything
from labkit.grading.spec import Call, Exercise, Layers, Loader, Optim, Part, wire
from labkit.grading.training import mode_and_grad, returns_numbers, same_steps, same_weights
from labkit.grading.verdict import as_array, describe, ignore_answer, kind

LAB = "13_autoencoders_pca"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}


def _number(call, response) -> str | None:
    value = response.get("value")
    return None if kind(value) in ("float", "int", "numpy-scalar") or (
        kind(value) == "tensor" and value["shape"] == []) else f"return one number; received {describe(value)}"


# ----------------------------------------------------------------------------- exercise 1
def reference_distance_ratio(X: torch.Tensor) -> float:
    """Mean over the points of (nearest other point's distance) / (farthest point's distance), by broadcasting."""
    D = (X[:, None, :] - X[None, :, :]).norm(dim=2)                 # (N, N)
    nearest = D.masked_fill(torch.eye(len(X), dtype=torch.bool), float("inf")).min(dim=1).values
    return float((nearest / D.max(dim=1).values).mean())


def _distance_probes(rng):
    calls = []
    for draw in ("uniform", "normal", "uniform", "line"):
        n, d = int(rng.integers(4, 31)), int(rng.integers(1, 61)) if draw != "line" else 1
        X = rng.uniform(size=(n, d)) if draw == "uniform" else rng.normal(size=(n, d))
        if draw == "line":
            X = np.sort(rng.choice(np.arange(50), n, replace=False)).reshape(n, 1) * 1.0
        calls.append(Call((torch.from_numpy(X),), label=f"{n} {draw} points in {d}-D"))
    return calls


# ----------------------------------------------------------------------------- exercise 2
def reference_pca_fit(X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean (D,), components (k, D), explained variances (k,)) of scikit-learn's PCA."""
    pca = PCA(n_components=k, svd_solver="full").fit(X.numpy())
    return tuple(torch.from_numpy(a) for a in (pca.mean_, pca.components_, pca.explained_variance_))


def _pca_probes(rng):
    calls = []
    for _ in range(3):
        n, d = int(rng.integers(8, 81)), int(rng.integers(3, 13))
        k = int(rng.integers(2, d + 1))
        X = rng.normal(size=(n, d)) * np.linspace(3.0, 0.4, d) + rng.uniform(-2, 2, size=d)
        for j in range(1, d):
            X[:, j] += rng.uniform(-0.8, 0.8) * X[:, j - 1]
        calls.append(Call((torch.from_numpy(X), k), label=f"X ({n}, {d}), k={k}"))
    return calls


def _pca_arrays(enc) -> list | str:
    if kind(enc) not in ("tuple", "list") or len(enc["__seq__"]) != 3:
        return f"return (mean, components, variances); received {describe(enc)}"
    arrays = [as_array(item) for item in enc["__seq__"]]
    return arrays if all(a is not None for a in arrays) else "the three values must be tensors of numbers"


def _pca_mean(call, got, want) -> str | None:
    mine, theirs = _pca_arrays(got), _pca_arrays(want)
    if isinstance(mine, str):
        return mine
    ok = mine[0].shape == theirs[0].shape and np.allclose(mine[0], theirs[0], atol=1e-9)
    return None if ok else "the mean is the average of the rows of X (over dim 0), one value per column"


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """The rows of a equal those of b up to each row's sign (an eigenvector's sign is arbitrary)."""
    return a.shape == b.shape and np.allclose(a * np.sign(np.sum(a * b, axis=1, keepdims=True)), b, atol=1e-6)


def _full_pca(call):
    X = call.args[0].numpy()
    return PCA(n_components=X.shape[1], svd_solver="full").fit(X)


def _pca_components(call, got, want) -> str | None:
    mine, theirs = _pca_arrays(got), _pca_arrays(want)
    if isinstance(mine, str):
        return mine
    (k, d), c = theirs[1].shape, mine[1]
    if c.shape == (d, k) and k != d:
        return "one principal direction per row: components is (k, D); eigh's eigenvectors are its columns"
    if c.shape != (k, d):
        return f"components must be ({k}, {d}); received shape {c.shape}"
    if not np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-6):
        return "each principal direction is a unit vector"
    if _same_rows(c, theirs[1]):
        return None
    full = _full_pca(call)
    if k > 1 and any(_same_rows(c, rows) for rows in (full.components_[::-1][:k], theirs[1][::-1])):
        return "largest variance first: eigh sorts its eigenvalues in ascending order"
    return ("the directions are the eigenvectors of the centred data's covariance with the k largest eigenvalues "
            "(the columns of eigh's second output)")


def _pca_variances(call, got, want) -> str | None:
    mine, theirs = _pca_arrays(got), _pca_arrays(want)
    if isinstance(mine, str):
        return mine
    v, w, n = mine[2].reshape(-1), theirs[2], len(call.args[0])
    if v.shape != w.shape:
        return f"{len(w)} variances expected, received {v.size}"
    if np.allclose(v, w, rtol=1e-6, atol=1e-12):
        return None
    if np.allclose(v, w * (n - 1) / n, rtol=1e-6):
        return "the sample covariance divides by N - 1, not by N"
    if any(np.allclose(v, values, rtol=1e-6) for values in (_full_pca(call).explained_variance_[::-1][:len(w)], w[::-1])):
        return "largest variance first: eigh sorts its eigenvalues in ascending order"
    return "the variances are the k largest eigenvalues of the covariance"


PCA_PARTS = (Part("the mean", 0.5, _pca_mean), Part("the principal directions", 1.5, _pca_components),
             Part("their variances", 1.0, _pca_variances))


# ----------------------------------------------------------------------------- exercise 3
def reference_principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """SciPy's subspace_angles, in degrees, smallest first."""
    return torch.from_numpy(np.degrees(np.sort(subspace_angles(A.numpy(), B.numpy()))))


def _angle_probes(rng):
    calls = []
    for label in ("two random subspaces", "the same subspace in two bases", "one shared direction"):
        d, k = int(rng.integers(4, 21)), int(rng.integers(1, 5))
        A = rng.normal(size=(d, k))
        B = rng.normal(size=(d, k))
        if label == "the same subspace in two bases":
            B = A @ (rng.normal(size=(k, k)) + 3 * np.eye(k))
        elif label == "one shared direction":
            B[:, 0] = A @ rng.normal(size=k)
        calls.append(Call((torch.from_numpy(A), torch.from_numpy(B)), label=f"{label}: A, B ({d}, {k})"))
    return calls


# ----------------------------------------------------------------------------- exercises 4 and 5
AE = (("Conv2d", 1, 4, 3, 1, 1), ("ReLU",), ("Dropout", 0.2), ("Conv2d", 4, 1, 3, 1, 1), ("Sigmoid",))


def reference_train_autoencoder_epoch(model, train_loader, optimizer, device, per_batch: bool = False) -> dict:
    """One epoch: zero_grad, reconstruct, MSE against the input, backward, step; the image-weighted mean loss
    (``per_batch``: the wrong mean over batches, to name it)."""
    model.train()
    total, seen, batches = 0.0, 0, 0
    for X, _ in train_loader:
        X = X.to(device)                                          # (B, 1, 28, 28)
        optimizer.zero_grad()
        loss = F.mse_loss(model(X), X)
        loss.backward()
        optimizer.step()
        total += loss.item() * (1 if per_batch else len(X))
        seen, batches = seen + len(X), batches + 1
    return {"loss": total / (batches if per_batch else seen)}


@torch.no_grad()
def reference_evaluate_autoencoder(model, loader, device, variant: str = "") -> dict:
    """The mean squared error per pixel over every image, in evaluation mode without autograd (``variant``:
    "per batch" or "per image sum", the named mistakes)."""
    model.eval()
    total, seen, batches = 0.0, 0, 0
    for X, _ in loader:
        X = X.to(device)
        loss = F.mse_loss(model(X), X, reduction="sum" if variant == "per image sum" else "mean").item()
        total += loss if variant else loss * len(X)
        seen, batches = seen + len(X), batches + 1
    return {"loss": total / (batches if variant == "per batch" else seen)}


def _train_probes(rng):
    seed = int(rng.integers(2**31))
    return [Call((Layers(AE, seed, watch=True, train=False), Loader("train", 100, 32, shuffle=True),
                  Optim("SGD", 0, (("lr", 0.1), ("momentum", 0.9))), "cpu"), seed=seed + 1, collect=True,
                 label="one epoch on 100 digits in batches of 32 (the last holds 4), a conv stack with dropout")]


def _eval_probes(rng):
    seed = int(rng.integers(2**31))
    return [Call((Layers(AE, seed, watch=True, train=True), Loader("test", 100, 32), "cpu"), seed=seed + 1,
                 collect=True, label="100 test digits in batches of 32 (the last holds 4), a conv stack with dropout")]


def _returned_loss(enc) -> float | None:
    record = {k: v for k, v in enc["__map__"]} if kind(enc) == "dict" else {}
    returned = {k: v for k, v in record["returned"]["__map__"]} if kind(record.get("returned")) == "dict" else {}
    value = as_array(returned.get("loss"))
    return float(value.reshape(())) if value is not None and value.size == 1 else None


def _variant_loss(reference, call, **variant) -> float:
    """The reference's loss on the call's own inputs with one mistake made (to name it)."""
    args = resolve_attrs(decode(wire(list(call.args))))
    seed_everything(call.seed)
    return reference(*args, **variant)["loss"]


def _same_loss(reference, variants: tuple[tuple[dict, str], ...]):
    """Part: the returned loss equals the reference's, or the message of the known mistake it matches."""
    def check(call, got, want):
        mine, theirs = _returned_loss(got), _returned_loss(want)
        if mine is None:
            return "return {'loss': the mean loss}, a dict holding one number"
        if np.isclose(mine, theirs, rtol=1e-4, atol=1e-8):
            return None
        for variant, message in variants:
            if np.isclose(mine, _variant_loss(reference, call, **variant), rtol=1e-4, atol=1e-8):
                return message
        return f"the loss is {mine:.6g}, expected {theirs:.6g}"
    return check


def _steps_with_mse(arg: int):
    check = same_steps(arg)

    def steps(call, got, want):
        reason = check(call, got, want)
        return reason.replace("F.nll_loss's default reduction", "F.mse_loss's default reduction") if reason else None
    return steps


PER_BATCH = ("that is the mean over batches; the last batch is smaller, so weight every batch's loss by its number "
             "of images and divide by N")
TRAIN_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss",))),
               Part("model.train()", 0.5, mode_and_grad(0, training=True, grad=True)),
               Part("one step per batch, each on the reference's gradient", 1.0, _steps_with_mse(2)),
               Part("same weights", 0.5, same_weights(0)),
               Part("same loss", 0.5, _same_loss(reference_train_autoencoder_epoch, (({"per_batch": True}, PER_BATCH),))))
EVAL_PARTS = (Part("returns numbers", 0.5, returns_numbers(("loss",))),
              Part("model.eval() and torch.no_grad()", 0.5, mode_and_grad(0, training=False, grad=False)),
              Part("same loss", 1.0, _same_loss(reference_evaluate_autoencoder, (
                  ({"variant": "per batch"}, PER_BATCH),
                  ({"variant": "per image sum"}, "that is each image's sum over its pixels: average the squared "
                                                 "error over the pixels too (F.mse_loss's default reduction)")))))


# ----------------------------------------------------------------------------- exercise 6
class ReferenceConvAutoencoder(nn.Module):
    """The lab's convolutional autoencoder: two stride-2 convolutions, a linear code, two transposed ones."""

    def __init__(self, code_size: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc_enc = nn.Linear(32 * 7 * 7, code_size)
        self.fc_dec = nn.Linear(code_size, 32 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def encode(self, X: torch.Tensor) -> torch.Tensor:
        X = F.relu(self.conv2(F.relu(self.conv1(X))))              # (B, 32, 7, 7)
        return self.fc_enc(X.flatten(1))                           # (B, code_size)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        X = F.relu(self.fc_dec(code)).view(-1, 32, 7, 7)           # (B, 32, 7, 7)
        return torch.sigmoid(self.deconv2(F.relu(self.deconv1(X))))  # (B, 1, 28, 28)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(X))


def _conv_probes(rng):
    calls = []
    for code_size in (int(rng.choice([4, 8, 16])), int(rng.choice([2, 32]))):
        batch = int(rng.integers(1, 6))
        X = torch.from_numpy(rng.uniform(size=(batch, 1, 28, 28)).astype(np.float32))   # (B, 1, 28, 28)
        calls.append(Call((code_size,), module={"seed": int(rng.integers(2**31)), "input": X},
                          label=f"code_size={code_size}, a batch of {batch}, random weights given to your model"))
    return calls


# What the exercises ask students to write themselves (the run-time guard fails any call into these).
DISTANCE_FORBIDDEN = ("torch.cdist", "torch.pdist", "torch.nn.functional.pdist", "torch.nn.functional.pairwise_distance",
                      "scipy.spatial.distance.cdist", "scipy.spatial.distance.pdist", "scipy.spatial.distance_matrix",
                      "sklearn.metrics.pairwise_distances", "sklearn.metrics.pairwise.euclidean_distances",
                      "sklearn.neighbors.NearestNeighbors")
PCA_FORBIDDEN = ("sklearn.decomposition.PCA", "sklearn.decomposition.IncrementalPCA", "sklearn.decomposition.TruncatedSVD",
                 "torch.linalg.svd", "torch.linalg.svdvals", "torch.svd", "torch.Tensor.svd", "torch.pca_lowrank",
                 "torch.svd_lowrank", "numpy.linalg.svd", "scipy.linalg.svd", "scipy.sparse.linalg.svds")
ANGLES_FORBIDDEN = ("scipy.linalg.subspace_angles",)
LOOPS_ALLOWED = ("labhelpers.data.TensorLoader",)   # every other labhelpers function (lh.fit, lh.evaluate) is forbidden

EXERCISES = [
    Exercise("distance_ratio", 2, "for each point, its distance to the nearest OTHER point divided by its distance to "
             "the farthest one (Euclidean distances, not squared); return the mean of these ratios as one number",
             _distance_probes, reference_distance_ratio, atol=1e-9, rtol=1e-6, verify=_number, split="probes",
             forbidden=DISTANCE_FORBIDDEN),
    Exercise("pca_fit", 3, "centre X on its mean, form the sample covariance (divide by N - 1), take its symmetric "
             "eigen-decomposition (torch.linalg.eigh, eigenvalues ascending, eigenvectors in the columns), and return "
             "the k eigenvectors of the largest eigenvalues as rows, largest first, with those eigenvalues",
             _pca_probes, reference_pca_fit, compare=ignore_answer, parts=PCA_PARTS, forbidden=PCA_FORBIDDEN),
    Exercise("principal_angles", 2, "orthonormal bases of both column spaces (QR), the singular values of Q_A^T Q_B are "
             "the cosines; clamp them into [-1, 1], arccos, degrees, smallest angle first",
             _angle_probes, reference_principal_angles, atol=1e-3, rtol=0, split="probes", forbidden=ANGLES_FORBIDDEN),
    Exercise("train_autoencoder_epoch", 3, "model.train(); for each batch: clear the gradients, reconstruct the "
             "images, the mean squared error against the images themselves, backward, step; return {'loss': the "
             "mean of loss.item() over the images (each batch weighted by its size)}",
             _train_probes, reference_train_autoencoder_epoch, compare=ignore_answer, parts=TRAIN_PARTS,
             allowed=LOOPS_ALLOWED),
    Exercise("evaluate_autoencoder", 2, "model.eval() and torch.no_grad(); the mean squared error per pixel over "
             "every image of the loader (each batch weighted by its size); return {'loss': a Python float}",
             _eval_probes, reference_evaluate_autoencoder, compare=ignore_answer, parts=EVAL_PARTS,
             allowed=LOOPS_ALLOWED),
    Exercise("ConvAutoencoder", 3, "encode: conv1, ReLU, conv2, ReLU, flatten, fc_enc (no activation on the code); "
             "decode: fc_dec, ReLU, reshape to (B, 32, 7, 7), deconv1, ReLU, deconv2, sigmoid",
             _conv_probes, ReferenceConvAutoencoder, atol=1e-5, rtol=1e-4, split="probes"),
]
