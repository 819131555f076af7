"""Hidden tests of lab 03 (Week 13 ImageNet: class names, cats, top-5, preprocessing).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
Every labhelpers function is forbidden inside the exercises (the guard's default): imagenet_classes
(is_cat by looking the names up), classify and predict (top5 through a model that returns its input),
Preprocess (preprocess_image) stay public runtime helpers, but may not stand in for an exercise.
top5 asks for torch.softmax and torch.topk, so neither is forbidden.
"""
import csv
import io

import numpy as np
import torch
import torch.nn.functional as F

from labhelpers.imagenet import Preprocess
from labkit.grading.codec import encode
from labkit.grading.spec import Call, Exercise, File
from labkit.grading.verdict import as_array, compare, kind

LAB = "03_week13_imagenet"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}
WORDS = ["tabby", "tiger cat", "lynx", "espresso", "missile", "goldfish", "café", "Persian cat", "jay", "mug"]


def _names_probes(rng):
    """A small file with a header row and empty lines (the exercise's variation), a plain one of 1000 rows (like
    the real file: no header), and a header-only start with an empty line first."""
    calls = []
    for count, header, empty in ((int(rng.integers(5, 20)), "index,name", True), (1000, None, False),
                                 (int(rng.integers(3, 8)), "id,class", True)):
        indices = rng.permutation(1000)[:count]
        rows = [(int(i), ", ".join(rng.choice(WORDS, int(rng.integers(1, 4)), replace=False))
                 + (' "x"' if rng.random() < 0.2 else "")) for i in indices]
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        if header:
            writer.writerow(header.split(","))
        for k, row in enumerate(rows):
            if empty and k in (0 if header == "id,class" else -1, count // 2):
                text.write("\r\n")
            writer.writerow(row)
        if empty:
            text.write("\r\n")
        what = f"a CSV file of {count} rows, names with commas and quotes" + (
            f", a header row '{header}' and empty lines" if header else ", no header")
        calls.append(Call((File("names.csv", text.getvalue().encode("utf-8")),), label=what))
    return calls


def _read_names(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {int(row[0]): row[1] for row in csv.reader(f) if row and row[0].strip().isdigit()}


def _cat_probes(rng):
    indices = list(range(278, 289)) + [int(i) for i in rng.integers(0, 1000, size=5)] + [0, 999]
    return [Call((i,), label=f"index {i}") for i in indices]


def _top5_probes(rng):
    calls = []
    for shift in (0.0, 1000.0):
        logits = torch.from_numpy((3 * rng.normal(size=1000) + shift).astype(np.float32))  # (1000,)
        calls.append(Call((logits,), label="logits" + (" around 1000 (exp overflows)" if shift else "")))
    return calls


def _top5_reference(logits):
    p = torch.softmax(logits.double(), dim=0)
    values, indices = p.topk(5)
    return [(int(i), float(v)) for i, v in zip(indices, values)]


def _smooth_image(rng, height, width):
    low = torch.from_numpy(rng.random((1, 3, 9, 13)).astype(np.float32))
    blobs = F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)[0]  # (3, H, W)
    noise = torch.from_numpy(0.2 * rng.random((3, height, width)).astype(np.float32))
    return (0.8 * blobs + noise).clamp(0.0, 1.0)


def _preprocess_probes(rng):
    calls = []
    for height, width in [(int(rng.integers(150, 250)), int(rng.integers(260, 340))), (300, 240)]:
        mean = tuple(float(m) for m in np.round(rng.uniform(0.3, 0.6, 3), 3))
        std = tuple(float(s) for s in np.round(rng.uniform(0.2, 0.3, 3), 3))
        calls.append(Call((_smooth_image(rng, height, width), mean, std), report_args=True,
                          label=f"image {height} x {width}, mean {mean}, std {std}"))
    return calls


def _preprocess_compare(got, want) -> str | None:
    """Like the public check: any reasonable resizing passes (mean |difference| < 0.05, max < 0.5)."""
    if kind(got) != "tensor":
        return f"expected a torch tensor, received {kind(got)}"
    g, w = as_array(got), as_array(want)
    if g.shape != w.shape:
        return f"expected shape {w.shape}, received shape {g.shape}"
    error = np.abs(g - w)
    if not (np.isfinite(error).all() and error.mean() < 0.05 and error.max() < 0.5):
        return f"too far from resize 256, centre-crop 224, normalise (mean |difference| {error.mean():.3f})"
    return None


def _image_unchanged(call: Call, response: dict) -> str | None:
    after = (response.get("args_after") or [None])[0]
    if compare(after, encode(call.args[0]), atol=0, rtol=0) is not None:
        return "the input image was modified in place; work on a copy"
    return None


EXERCISES = [
    Exercise("read_class_names", 2, "csv.reader over the open file; {int(row[0]): row[1]} for every row whose first "
             "field is a whole number (no header row, no empty rows)",
             _names_probes, _read_names),
    Exercise("is_cat", 2, "the five domestic cats are the consecutive indices 281-285; return a bool",
             _cat_probes, lambda index: 281 <= index <= 285),
    Exercise("top5", 3, "probs = torch.softmax(logits, dim=0); probs.topk(5); [(int(i), float(p)), ...]",
             _top5_probes, _top5_reference, atol=1e-5, rtol=1e-4),
    Exercise("preprocess_image", 3, "TF.resize(image, 256), TF.center_crop(x, 224), TF.normalize(x, mean, std)",
             _preprocess_probes, lambda image, mean, std: Preprocess(256, 224, mean, std)(image),
             compare=_preprocess_compare, verify=_image_unchanged,
             forbidden=("torchvision.transforms._presets.ImageClassification",)),  # weights.transforms()
]
