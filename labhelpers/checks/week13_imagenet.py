"""Self-checks for lab 03 (Week 13, ImageNet): class-name file, cat classes, top-5, preprocessing.

Every check builds its own inputs (a private ``torch.Generator`` or a temporary CSV file with random
names), computes the expected answer independently and calls the student's function through
``attempt``, so hard-coded answers fail. The reference for preprocessing is the ``Preprocess`` that
``labhelpers.load_pretrained`` returns with every model.
"""
from __future__ import annotations

import csv
import math
import random
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from labhelpers.checks import attempt, close, report

__all__ = ["check_read_class_names", "check_is_cat", "check_top5", "check_preprocess_image"]

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat
CLASS_NAMES_CSV = "data/imagenet_install/class_names.csv"
_WORDS = ["tabby", "tiger cat", "lynx", "espresso", "missile", "bobsled", "goldfish", "tench",
          "café", "Persian cat", "Siamese cat", "jay", "robin", "coffee mug", "folding chair"]


def _random_names(seed: int, n: int) -> list[str]:
    """n distinct names; some hold commas and quotes, as the seed's WordNet names ('tabby, tabby cat')."""
    rng = random.Random(seed)
    names = []
    for i in range(n):
        words = rng.sample(_WORDS, rng.randint(1, 3))
        names.append(", ".join(words) + (f" no. {i}" if i % 4 == 0 else "") + (' "x"' if i % 7 == 3 else ""))
    return names


def check_read_class_names(fn: Callable[[str], dict], path: str | Path = CLASS_NAMES_CSV) -> bool:
    """Check ``fn(path)`` -> {index: name} for a random CSV file, then for the real ``path`` (lab 03, ex. 1)."""
    name = "read_class_names"
    names = _random_names(seed=303, n=12)
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "names.csv"
        with open(sample, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([i, n] for i, n in enumerate(names))  # quotes names holding commas
        expected = dict(enumerate(names))
        ok, received = attempt(name, fn, str(sample))
    if not ok:
        return False
    if not isinstance(received, dict):
        return report(name, False, expected="a dict {index: name}", received=type(received).__name__,
                      hint="start with imagenet_class = {} and fill it row by row")
    if any(not isinstance(k, int) or isinstance(k, bool) for k in received):
        return report(name, False, expected="int keys such as 0, 1, 2", received=sorted(map(repr, received))[:3],
                      hint="row[0] is the text '0'; int(row[0]) makes it a number")
    if received != expected:
        wrong = next((i for i in expected if received.get(i) != expected[i]), None)
        return report(name, False, expected={wrong: expected.get(wrong)} if wrong is not None else expected,
                      received={wrong: received.get(wrong)} if wrong is not None else received,
                      hint="read the file with csv.reader: a name such as 'tabby, tabby cat' is quoted in "
                           "the file and holds a comma, so line.split(',') cuts it in pieces")
    path = Path(path)
    if not path.is_file():
        print(f"  note: {path} not found, so only a small test file was checked "
              "(run python -m labhelpers.assets from the repository root to create it)")
        return report(name, True)
    from labhelpers.imagenet import imagenet_classes
    expected = dict(enumerate(imagenet_classes()))
    ok, received = attempt(name, fn, str(path))
    if not ok:
        return False
    if received != expected:
        size = len(received) if isinstance(received, dict) else type(received).__name__
        return report(name, False, expected=f"{len(expected)} classes, 0: {expected[0]!r}, 999: {expected[999]!r}",
                      received=f"{size} entries" + (f", 0: {received.get(0)!r}, 999: {received.get(999)!r}"
                                                     if isinstance(received, dict) else ""),
                      hint=f"every row of {path} is 'index,name'")
    return report(name, True)


def check_is_cat(fn: Callable[[int], bool]) -> bool:
    """Check ``fn(index)`` is True exactly for the domestic cat classes 281-285, for all 1000 (lab 03, ex. 2)."""
    name = "is_cat"
    from labhelpers.imagenet import imagenet_classes
    names = imagenet_classes()
    for index in range(1000):
        ok, received = attempt(name, fn, index)
        if not ok:
            return False
        if not isinstance(received, (bool, np.bool_)):
            return report(name, False, expected="True or False", received=f"{received!r} ({type(received).__name__})",
                          hint="return the comparison itself, e.g. `return a <= index <= b`")
        wanted = index in CAT_CLASSES
        if bool(received) != wanted:
            return report(name, False, expected=f"is_cat({index}) == {wanted} ({index}: {names[index]!r})",
                          received=f"is_cat({index}) == {bool(received)}",
                          hint="print the names around index 281 to 293: which are pet cats, which wild cats?")
    return report(name, True)


def _reference_top5(logits: torch.Tensor) -> tuple[list[int], np.ndarray]:
    """Indices and probabilities of the 5 largest softmax values, computed in float64 NumPy."""
    z = logits.detach().cpu().numpy().astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")[:5]
    return [int(i) for i in order], p[order]


def check_top5(fn: Callable[[torch.Tensor], Sequence[tuple[int, float]]]) -> bool:
    """Check ``fn(logits)`` -> the 5 most probable (index, probability) of a (1000,) logit row (lab 03, ex. 3)."""
    name = "top5"
    generator = torch.Generator().manual_seed(1303)
    cases = [3.0 * torch.randn(1000, generator=generator),             # ordinary logits
             3.0 * torch.randn(1000, generator=generator) + 1000.0]    # large logits: exp() overflows
    cases[0][999] = cases[0].max() + 1.0                               # best class at the very end
    for logits in cases:
        indices, probs = _reference_top5(logits)
        ok, received = attempt(name, fn, logits.clone())
        if not ok:
            return False
        try:
            pairs = [(int(i), float(p)) for i, p in received]
        except (TypeError, ValueError):
            return report(name, False, expected="a list of 5 pairs (index, probability)",
                          received=repr(received)[:200],
                          hint="zip the indices and values of torch.topk: [(int(i), float(p)) for ...]")
        if len(pairs) != 5:
            return report(name, False, expected="5 pairs", received=f"{len(pairs)} pairs")
        got_i, got_p = [i for i, _ in pairs], [p for _, p in pairs]
        if any(math.isnan(p) for p in got_p):
            expected = [(i, round(float(p), 4)) for i, p in zip(indices, probs)]
            return report(name, False, expected=expected, received=pairs,
                          hint="NaN: exp() of large logits overflows; torch.softmax subtracts the max first")
        if got_i != indices:
            return report(name, False, expected=indices, received=got_i,
                          hint="the k largest probabilities, largest first: torch.topk(probs, 5)")
        if not close(got_p, probs, atol=1e-5, rtol=1e-4):
            hint = ("these are logits, not probabilities: apply softmax first" if max(got_p) > 1
                    else "probabilities are softmax(logits) = exp(z) / sum(exp(z)) over all 1000 classes")
            return report(name, False, expected=probs.round(5), received=np.round(got_p, 5), hint=hint)
    return report(name, True)


def _smooth_image(generator: torch.Generator, height: int, width: int) -> torch.Tensor:
    """A random (3, height, width) image in [0, 1]: smooth blobs plus fine noise, so crops differ."""
    low = torch.rand(1, 3, 9, 13, generator=generator)                                        # (1, 3, 9, 13)
    blobs = F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)[0]  # (3, H, W)
    noise = 0.2 * torch.rand(3, height, width, generator=generator)                           # (3, H, W)
    return (0.8 * blobs + noise).clamp(0.0, 1.0)


def check_preprocess_image(fn: Callable[[torch.Tensor, Sequence[float], Sequence[float]], torch.Tensor]) -> bool:
    """Check ``fn(image, mean, std)`` = resize 256, centre-crop 224, normalise, vs ``Preprocess`` (lab 03, ex. 4).

    Any reasonable resizing (antialiased or not, tensor or PIL) passes: the mean absolute difference
    must stay below 0.05 and the largest below 0.5; a squashed, un-cropped or un-normalised image is far off.
    """
    from labhelpers.imagenet import IMAGENET_MEAN, IMAGENET_STD, Preprocess
    name = "preprocess_image"
    generator = torch.Generator().manual_seed(2303)
    statistics = [((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), (IMAGENET_MEAN, IMAGENET_STD)]
    for (height, width), (mean, std) in zip([(300, 451), (400, 260), (257, 333), (224, 224)], statistics * 2):
        image = _smooth_image(generator, height, width)                      # (3, H, W)
        expected = Preprocess(resize=256, crop=224, mean=mean, std=std)(image)  # (3, 224, 224)
        before = image.clone()
        ok, received = attempt(name, fn, image, mean, std)
        if not ok:
            return False
        case = f"image {height} x {width}, mean {mean}, std {std}"
        if not isinstance(received, torch.Tensor):
            return report(name, False, expected="a torch.Tensor", received=type(received).__name__,
                          hint="the functions of torchvision.transforms.functional take and return tensors")
        if tuple(received.shape) != (3, 224, 224):
            return report(name, False, expected=f"shape (3, 224, 224) for {case}",
                          received=f"shape {tuple(received.shape)}",
                          hint="resize the SHORTER side to 256 (TF.resize(image, 256)), then TF.center_crop(..., 224)")
        if not torch.equal(image, before):
            return report(name, False, expected="the input image unchanged", received="it was modified in place",
                          hint="do not use inplace=True or in-place operators such as -= on the input")
        error = (received.detach().cpu().float() - expected).abs()
        if not (float(error.mean()) < 0.05 and float(error.max()) < 0.5):
            hint = ("values look unnormalised: finish with TF.normalize(x, mean, std)"
                    if float(received.min()) >= 0 and float(received.max()) <= 1 else
                    "resize keeping the aspect ratio (one number: 256), crop the centre 224 x 224, "
                    "then normalise with the given mean and std")
            return report(name, False, expected=f"{case}: mean abs difference < 0.05",
                          received=f"mean abs difference {float(error.mean()):.3f}, largest {float(error.max()):.3f}",
                          hint=hint)
    return report(name, True)
