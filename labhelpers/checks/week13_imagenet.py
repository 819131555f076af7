"""Self-checks of lab 03 (Week 13, ImageNet): the class-name file, the cat classes, top-5, preprocessing.

No check holds an implementation of its exercise. ``read_class_names`` reads a CSV file the check has
just written from known names (and the real file, whose names are torchvision's); ``is_cat`` and
``top5`` are compared with the answers the solution notebook gave to the same fixed cases
(``expected/03_week13_imagenet.json``); ``preprocess_image`` with torchvision's own ImageNet
preprocessing (what ``weights.transforms()`` returns). Inputs come from NumPy's seeded generator.
"""
from __future__ import annotations

import csv
import math
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from labhelpers.checks import Case, attempt, close, report, run_cases, skip_during_grading, stored

__all__ = ["check_read_class_names", "check_is_cat", "check_top5", "check_preprocess_image"]

LAB = "03_week13_imagenet"
CLASS_NAMES_CSV = "data/imagenet_install/class_names.csv"
_WORDS = ["tabby", "tiger cat", "lynx", "espresso", "missile", "bobsled", "goldfish", "tench",
          "café", "Persian cat", "Siamese cat", "jay", "robin", "coffee mug", "folding chair"]


# ----------------------------------------------------------------------------- exercise 1
def _random_names(seed: int, n: int) -> list[str]:
    """n distinct names; some hold commas and quotes, as the seed's WordNet names ('tabby, tabby cat')."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        words = [_WORDS[j] for j in rng.choice(len(_WORDS), size=int(rng.integers(1, 4)), replace=False)]
        names.append(", ".join(words) + (f" no. {i}" if i % 4 == 0 else "") + (' "x"' if i % 7 == 3 else ""))
    return names


def check_read_class_names(fn: Callable[[str], dict], path: str | Path = CLASS_NAMES_CSV) -> bool:
    """Check ``fn(path)`` -> {index: name} for a CSV file written here from known names, with a header row and
    empty lines, then for the real ``path``, whose names are torchvision's (lab 03, exercise 1)."""
    name = "read_class_names"
    if skip_during_grading(name):
        return True
    names = _random_names(seed=303, n=12)
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "names.csv"
        with open(sample, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)                                        # quotes names holding commas
            writer.writerow(["index", "name"])                            # a header row
            writer.writerows([i, n] for i, n in enumerate(names[:6]))
            f.write("\r\n")                                               # an empty line between the rows
            writer.writerows([i, n] for i, n in enumerate(names[6:], start=6))
            f.write("\r\n")                                               # and one at the end
        written = dict(enumerate(names))                                  # what the file holds
        ok, received = attempt(name, fn, str(sample))
        if not ok:
            try:                                                          # why did it raise? (the file is still there)
                fn(str(sample))
            except (ValueError, IndexError):                              # int('index'), or row[0] of an empty row
                print("  hint: the test file starts with a header row 'index,name' and has empty lines: skip every "
                      "row that is empty or whose first field is not a whole number")
            except Exception:  # noqa: BLE001 - attempt() has reported it already
                pass
            return False
    if not isinstance(received, dict):
        return report(name, False, expected="a dict {index: name}", received=type(received).__name__,
                      hint="start with imagenet_class = {} and fill it row by row")
    if any(not isinstance(k, int) or isinstance(k, bool) for k in received):
        return report(name, False, expected="int keys such as 0, 1, 2", received=sorted(map(repr, received))[:3],
                      hint="row[0] is the text '0'; int(row[0]) makes it a number")
    if received != written:
        wrong = next((i for i in written if received.get(i) != written[i]), None)
        return report(name, False, expected={wrong: written.get(wrong)} if wrong is not None else written,
                      received={wrong: received.get(wrong)} if wrong is not None else received,
                      hint="read the file with csv.reader: a name such as 'tabby, tabby cat' is quoted in "
                           "the file and holds a comma, so line.split(',') cuts it in pieces")
    path = Path(path)
    if not path.is_file():
        print(f"  note: {path} not found, so only a small test file was checked "
              "(run python -m labhelpers.assets from the repository root to create it)")
        return report(name, True)
    from labhelpers.imagenet import imagenet_classes
    written = dict(enumerate(imagenet_classes()))                         # the file is made from these
    ok, received = attempt(name, fn, str(path))
    if not ok:
        return False
    if received != written:
        size = len(received) if isinstance(received, dict) else type(received).__name__
        return report(name, False, expected=f"{len(written)} classes, 0: {written[0]!r}, 999: {written[999]!r}",
                      received=f"{size} entries" + (f", 0: {received.get(0)!r}, 999: {received.get(999)!r}"
                                                     if isinstance(received, dict) else ""),
                      hint=f"every row of {path} is 'index,name' and it has no header: skip rows by what they "
                           "hold (a first field that is a whole number), not by their position")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 2
def check_is_cat(fn: Callable[[int], bool]) -> bool:
    """Check ``fn(index)`` for all 1000 ImageNet classes against the solution's stored answers: True
    exactly for the domestic cats (lab 03, exercise 2)."""
    name = "is_cat"
    if skip_during_grading(name):
        return True
    cases = [Case((index,), f"index {index}") for index in range(1000)]
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    for case, received in zip(cases, answers):
        if not isinstance(received, (bool, np.bool_)):
            return report(name, False, expected="True or False",
                          received=f"is_cat({case.args[0]}) = {received!r} ({type(received).__name__})",
                          hint="return the comparison itself, e.g. `return a <= index <= b`")
    answers = [bool(a) for a in answers]
    found = stored(LAB, name, [[index for index, a in enumerate(answers) if a]], list(range(1000)))
    if found is None:                                    # stored compactly: the indices answered True
        return False
    expected = [index in found[0] for index in range(1000)]
    wrong = [(index, got) for index, (got, want) in enumerate(zip(answers, expected)) if got != want]
    if not wrong:
        return report(name, True)
    from labhelpers.imagenet import imagenet_classes
    names = imagenet_classes()
    index, got = wrong[0]
    hint = (f"{names[index]!r} is {'not ' if got else ''}a domestic cat; print the names around index 281 "
            "to 293: which are pet cats, which wild cats?")
    return report(name, False, expected=f"is_cat({index}) == {expected[index]} ({index}: {names[index]!r})",
                  received=f"is_cat({index}) == {got}" + (f" (and {len(wrong) - 1} more wrong)" if len(wrong) > 1
                                                          else ""), hint=hint)


# ----------------------------------------------------------------------------- exercise 3
def _top5_cases() -> list[Case]:
    """(1000,) float32 logits: ordinary ones with the best class at the very end, and large ones (exp overflows)."""
    rng = np.random.default_rng(1303)
    ordinary = 3.0 * rng.normal(size=1000)
    ordinary[999] = ordinary.max() + 1.0
    large = 3.0 * rng.normal(size=1000) + 1000.0
    return [Case((torch.from_numpy(ordinary.astype(np.float32)),), "ordinary logits, the best one last"),
            Case((torch.from_numpy(large.astype(np.float32)),), "logits around 1000 (exp overflows)")]


def _pairs(value) -> list[tuple[int, float]] | None:
    """``value`` as [(int, float), ...], or None when it is not a sequence of (index, probability) pairs."""
    pairs = []
    try:
        for item in value:
            index, probability = item                       # exactly two items each
            pairs.append((int(index), float(probability)))
    except (TypeError, ValueError, RuntimeError):
        return None
    return pairs


def check_top5(fn: Callable[[torch.Tensor], Sequence[tuple[int, float]]]) -> bool:
    """Check ``fn(logits)`` -> the 5 most probable (index, probability) of a (1000,) logit row, against
    the solution's stored answers (lab 03, exercise 3)."""
    name = "top5"
    if skip_during_grading(name):
        return True
    cases = _top5_cases()
    answers = run_cases(name, fn, cases)
    if answers is None:
        return False
    received = []
    for case, answer in zip(cases, answers):
        pairs = _pairs(answer)
        if pairs is None:
            return report(name, False, expected="a list of 5 pairs (index, probability)",
                          received=repr(answer)[:200],
                          hint="zip the indices and values of torch.topk: [(int(i), float(p)) for ...]")
        if len(pairs) != 5:
            return report(name, False, expected="5 pairs", received=f"{len(pairs)} pairs ({case.label})")
        received.append(pairs)
    expected = stored(LAB, name, received, cases)
    if expected is None:
        return False
    for case, pairs, want in zip(cases, received, expected):
        got_i, got_p = [i for i, _ in pairs], [p for _, p in pairs]
        want_i, want_p = [int(i) for i, _ in want], [float(p) for _, p in want]
        if any(math.isnan(p) for p in got_p):
            return report(name, False, expected=[(i, round(p, 4)) for i, p in want], received=pairs,
                          hint=f"{case.label}: NaN: exp() of large logits overflows; torch.softmax subtracts "
                               "the max first")
        if got_i != want_i:
            hint = "the k largest probabilities, largest first: torch.topk(probs, 5)"
            if got_i == want_i[::-1]:
                hint = "largest first: torch.topk sorts from the largest down"
            return report(name, False, expected=want_i, received=got_i, hint=f"{case.label}: {hint}")
        if not close(got_p, want_p, atol=1e-5, rtol=1e-4):
            hint = "probabilities are softmax(logits) = exp(z) / sum(exp(z)) over all 1000 classes"
            if max(got_p) > 1:
                hint = "these are logits, not probabilities: apply softmax first"
            elif max(got_p) <= 0:
                hint = "these are log-probabilities: use torch.softmax, not log_softmax"
            return report(name, False, expected=np.round(want_p, 5), received=np.round(got_p, 5),
                          hint=f"{case.label}: {hint}")
    return report(name, True)


# ----------------------------------------------------------------------------- exercise 4
def _smooth_image(rng: np.random.Generator, height: int, width: int) -> torch.Tensor:
    """A random (3, height, width) float32 image in [0, 1]: smooth blobs (a 9 x 13 grid of random values,
    interpolated bilinearly) plus fine noise, so that different crops differ. NumPy only."""
    low = rng.random((3, 9, 13))                                              # (3, 9, 13)
    rows, cols = np.linspace(0, 8, height), np.linspace(0, 12, width)
    across = np.stack([[np.interp(cols, np.arange(13), line) for line in channel] for channel in low])  # (3, 9, W)
    blobs = np.stack([[np.interp(rows, np.arange(9), across[c, :, j]) for j in range(width)]
                      for c in range(3)]).transpose(0, 2, 1)                  # (3, H, W)
    noise = 0.2 * rng.random((3, height, width))
    return torch.from_numpy(np.clip(0.8 * blobs + noise, 0.0, 1.0).astype(np.float32))


def _torchvision_preprocess(mean: Sequence[float], std: Sequence[float]) -> Callable[[torch.Tensor], torch.Tensor]:
    """torchvision's ImageNet preprocessing (``weights.transforms()``: resize 256, centre-crop 224,
    normalise), with the given mean and std."""
    from torchvision.models import ResNet18_Weights
    return ResNet18_Weights.IMAGENET1K_V1.transforms(crop_size=224, resize_size=256, mean=tuple(mean), std=tuple(std))


def check_preprocess_image(fn: Callable[[torch.Tensor, Sequence[float], Sequence[float]], torch.Tensor]) -> bool:
    """Check ``fn(image, mean, std)`` = resize 256, centre-crop 224, normalise, against torchvision's own
    ImageNet preprocessing (lab 03, exercise 4).

    Any reasonable resizing (antialiased or not, tensor or PIL) passes: the mean absolute difference
    must stay below 0.05 and the largest below 0.5; a squashed, un-cropped or un-normalised image is far off.
    """
    from labhelpers.imagenet import IMAGENET_MEAN, IMAGENET_STD
    name = "preprocess_image"
    if skip_during_grading(name):
        return True
    rng = np.random.default_rng(2303)
    statistics = [((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), (IMAGENET_MEAN, IMAGENET_STD)]
    for (height, width), (mean, std) in zip([(300, 451), (400, 260), (257, 333), (224, 224)], statistics * 2):
        image = _smooth_image(rng, height, width)                            # (3, H, W)
        expected = _torchvision_preprocess(mean, std)(image)                 # (3, 224, 224)
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
