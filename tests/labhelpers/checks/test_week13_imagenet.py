"""Tests for labhelpers.checks.week13_imagenet: each check passes a correct answer and fails wrong ones.

is_cat and top5 compare with the solution's stored answers (labhelpers/checks/expected/03_week13_imagenet.json),
so these tests also prove that file current and right; preprocess_image compares with torchvision's own
ImageNet preprocessing. The generic behaviours (not implemented, raising, None, skipped while graded) are in
test_contract.py.
"""
import csv

import pytest
import torch
import torchvision.transforms.functional as TF

from labhelpers.checks.week13_imagenet import check_is_cat, check_preprocess_image, check_read_class_names, check_top5
from labhelpers.imagenet import Preprocess, imagenet_classes


# ---- correct answers (what the solution notebook does) --------------------------------------

def read_class_names(path):
    imagenet_class = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if row and row[0].strip().isdigit():
                imagenet_class[int(row[0])] = row[1]
    return imagenet_class


def slides_loop(path):
    """The slides' cell as a function: no header, no empty lines."""
    imagenet_class = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            imagenet_class[int(row[0])] = row[1]
    return imagenet_class


def is_cat(index):
    return 281 <= index <= 285


def top5(logits):
    probs = torch.softmax(logits, dim=0)  # (1000,)
    values, indices = probs.topk(5)
    return [(int(i), float(p)) for i, p in zip(indices, values)]


def preprocess_image(image, mean, std):
    x = TF.resize(image, 256)
    x = TF.center_crop(x, 224)
    return TF.normalize(x, mean, std)


def _class_file(tmp_path):
    path = tmp_path / "class_names.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(enumerate(imagenet_classes()))
    return path


# ---- check_read_class_names -----------------------------------------------------------------

def test_read_class_names_accepts_a_correct_answer(tmp_path, capsys):
    assert check_read_class_names(read_class_names, _class_file(tmp_path)) is True
    assert "[OK] read_class_names" in capsys.readouterr().out


def test_read_class_names_without_real_file_checks_sample_only(tmp_path, capsys):
    assert check_read_class_names(read_class_names, tmp_path / "missing.csv") is True
    assert "not found" in capsys.readouterr().out


def test_read_class_names_rejects_split_on_commas(tmp_path, capsys):
    def naive(path):
        with open(path, encoding="utf-8") as f:
            return {int(line.split(",")[0]): line.split(",")[1].strip() for line in f if line[:1].isdigit()}
    assert check_read_class_names(naive, _class_file(tmp_path)) is False
    assert "csv.reader" in capsys.readouterr().out


def test_read_class_names_rejects_the_slides_loop_with_a_hint(tmp_path, capsys):
    assert check_read_class_names(slides_loop, _class_file(tmp_path)) is False
    out = capsys.readouterr().out
    assert "ValueError" in out and "header row" in out


def test_read_class_names_rejects_skipping_the_first_row_by_position(tmp_path, capsys):
    def skip_first(path):
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row][1:]
        return {int(row[0]): row[1] for row in rows}
    assert check_read_class_names(skip_first, _class_file(tmp_path)) is False
    assert "not by their position" in capsys.readouterr().out


def test_read_class_names_rejects_string_keys(tmp_path, capsys):
    def string_keys(path):
        return {str(k): v for k, v in read_class_names(path).items()}
    assert check_read_class_names(string_keys, _class_file(tmp_path)) is False
    assert "int(row[0])" in capsys.readouterr().out


def test_read_class_names_rejects_a_list(tmp_path, capsys):
    assert check_read_class_names(lambda path: list(read_class_names(path).values()), _class_file(tmp_path)) is False
    assert "a dict {index: name}" in capsys.readouterr().out


def test_read_class_names_rejects_hard_coded_imagenet_names(tmp_path):
    fixed = dict(enumerate(imagenet_classes()))
    assert check_read_class_names(lambda path: fixed, _class_file(tmp_path)) is False


def test_read_class_names_rejects_wrong_real_file(tmp_path, capsys):
    path = tmp_path / "class_names.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(enumerate(imagenet_classes()[:10]))
    assert check_read_class_names(read_class_names, path) is False
    assert "10 entries" in capsys.readouterr().out


# ---- check_is_cat ---------------------------------------------------------------------------

def test_is_cat_accepts_a_correct_answer(capsys):
    assert check_is_cat(is_cat) is True
    assert "[OK] is_cat" in capsys.readouterr().out


def test_is_cat_accepts_numpy_bools():
    import numpy as np
    assert check_is_cat(lambda index: np.bool_(281 <= index <= 285)) is True


def test_is_cat_rejects_wild_cats_included(capsys):
    assert check_is_cat(lambda index: 281 <= index <= 293) is False
    out = capsys.readouterr().out
    assert "is_cat(286) == False" in out and "'cougar' is not a domestic cat" in out


def test_is_cat_rejects_off_by_one_range(capsys):
    assert check_is_cat(lambda index: index in range(281, 285)) is False
    out = capsys.readouterr().out
    assert "is_cat(285) == True" in out and "'Egyptian cat' is a domestic cat" in out


def test_is_cat_rejects_non_bool(capsys):
    assert check_is_cat(lambda index: 1 if 281 <= index <= 285 else 0) is False
    assert "True or False" in capsys.readouterr().out


def test_is_cat_rejects_always_false():
    assert check_is_cat(lambda index: False) is False


# ---- check_top5 -----------------------------------------------------------------------------

def test_top5_accepts_a_correct_answer(capsys):
    assert check_top5(top5) is True
    assert "[OK] top5" in capsys.readouterr().out


def test_top5_accepts_float64_and_tensor_items():
    def in_float64(logits):
        values, indices = torch.softmax(logits.double(), dim=0).topk(5)
        return list(zip(indices, values))
    assert check_top5(in_float64) is True


def test_top5_rejects_logits_instead_of_probabilities(capsys):
    def logits_only(logits):
        values, indices = logits.topk(5)
        return list(zip(indices.tolist(), values.tolist()))
    assert check_top5(logits_only) is False
    assert "apply softmax" in capsys.readouterr().out


def test_top5_rejects_log_probabilities(capsys):
    def log_probs(logits):
        values, indices = torch.log_softmax(logits, 0).topk(5)
        return list(zip(indices.tolist(), values.tolist()))
    assert check_top5(log_probs) is False
    assert "log-probabilities" in capsys.readouterr().out


def test_top5_rejects_overflowing_softmax(capsys):
    def naive_softmax(logits):
        probs = logits.exp() / logits.exp().sum()  # inf / inf for large logits
        values, indices = probs.topk(5)
        return list(zip(indices.tolist(), values.tolist()))
    assert check_top5(naive_softmax) is False
    assert "overflow" in capsys.readouterr().out


def test_top5_rejects_smallest_five():
    def smallest(logits):
        values, indices = torch.softmax(logits, 0).topk(5, largest=False)
        return list(zip(indices.tolist(), values.tolist()))
    assert check_top5(smallest) is False


def test_top5_rejects_ascending_order(capsys):
    assert check_top5(lambda logits: top5(logits)[::-1]) is False
    assert "largest first" in capsys.readouterr().out


def test_top5_rejects_only_four(capsys):
    assert check_top5(lambda logits: top5(logits)[:4]) is False
    assert "5 pairs" in capsys.readouterr().out


def test_top5_rejects_bare_indices(capsys):
    assert check_top5(lambda logits: torch.softmax(logits, 0).topk(5).indices) is False
    assert "pairs (index, probability)" in capsys.readouterr().out


# ---- check_preprocess_image -----------------------------------------------------------------

def test_preprocess_image_accepts_a_correct_answer(capsys):
    assert check_preprocess_image(preprocess_image) is True
    assert "[OK] preprocess_image" in capsys.readouterr().out


def test_preprocess_image_accepts_labhelpers_preprocess():
    assert check_preprocess_image(lambda image, mean, std: Preprocess(256, 224, mean, std)(image)) is True


def test_preprocess_image_accepts_pil_route():
    def via_pil(image, mean, std):
        pil = TF.center_crop(TF.resize(TF.to_pil_image(image), 256), 224)
        return TF.normalize(TF.to_tensor(pil), mean, std)
    assert check_preprocess_image(via_pil) is True


def test_preprocess_image_rejects_squashed_resize():
    def squash(image, mean, std):
        return TF.normalize(TF.center_crop(TF.resize(image, [256, 256]), 224), mean, std)
    assert check_preprocess_image(squash) is False


def test_preprocess_image_rejects_missing_normalisation(capsys):
    assert check_preprocess_image(lambda image, mean, std: TF.center_crop(TF.resize(image, 256), 224)) is False
    assert "normalize" in capsys.readouterr().out


def test_preprocess_image_rejects_fixed_statistics():
    def always_half(image, mean, std):
        return preprocess_image(image, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert check_preprocess_image(always_half) is False


def test_preprocess_image_rejects_plain_resize_without_crop(capsys):
    def no_crop(image, mean, std):
        return TF.normalize(TF.resize(image, [224, 224]), mean, std)
    assert check_preprocess_image(no_crop) is False
    assert "mean abs difference" in capsys.readouterr().out


def test_preprocess_image_rejects_wrong_shape(capsys):
    assert check_preprocess_image(lambda image, mean, std: TF.normalize(TF.resize(image, 256), mean, std)) is False
    assert "shape (3, 224, 224)" in capsys.readouterr().out


def test_preprocess_image_rejects_in_place_change(capsys):
    def in_place(image, mean, std):
        image -= 0.0  # touches the caller's tensor
        image[0, 0, 0] = 0.123
        return preprocess_image(image, mean, std)
    assert check_preprocess_image(in_place) is False
    assert "modified in place" in capsys.readouterr().out


# ---- the upload cell of section 7 (issue 15) ------------------------------------------------

def _upload_cell():
    import nbformat
    from pathlib import Path
    nb = nbformat.read(Path(__file__).resolve().parents[3] / "notebooks" / "03_week13_imagenet_solution.ipynb",
                       as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "files.upload()" in c.source]
    return cell.source


@pytest.mark.parametrize("smoke, env, asks", [(False, None, True), (True, None, False),
                                               (False, "LABKIT_SELFCHECK", False), (False, "LABKIT_GRADING", False)])
def test_upload_asks_only_a_person_with_smoke_off(smoke, env, asks, monkeypatch, tmp_path, capsys):
    import os
    import sys
    import types
    from pathlib import Path

    import labhelpers as lh
    from labhelpers.selfcheck import SKIP_ENV
    asked = []
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(upload=lambda: asked.append(True) or {})
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    for name in SKIP_ENV:
        monkeypatch.delenv(name, raising=False)
    if env:
        monkeypatch.setenv(env, "1")
    exec(_upload_cell(), {"lh": lh, "os": os, "Path": Path, "SKIP_ENV": SKIP_ENV, "SMOKE": smoke,
                          "IMAGE_DIR": str(tmp_path)})
    assert bool(asked) is asks
    assert ("No upload" in capsys.readouterr().out) is not asks
