"""Load any common photo as a tensor, and a photo of a hand-written digit the MNIST way (labs 02, 03).

``load_image`` opens JPEG/PNG/GIF/BMP/TIFF/WebP files of every PIL mode (grayscale, 1-bit, palette,
RGBA, CMYK, 16-bit, 32-bit), turns them upright from their EXIF orientation and returns RGB values in
[0, 1]. Broken files raise ``ValueError`` naming the file and what to do. No PIL global setting is
changed: the pixel limit against decompression bombs is checked here, before decoding.
"""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

try:
    from labhelpers.data import MNIST_MEAN, MNIST_STD
except ImportError:  # pragma: no cover - data.py ships with the package; kept for partial copies
    MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

MAX_IMAGE_PIXELS = 89_478_485  # same limit as PIL's default (about 0.25 GiB of 24-bit pixels)
DIGIT_SIZE = 20                # MNIST: the digit's larger side is 20 px ...
CANVAS_SIZE = 28               # ... inside a 28 x 28 canvas, centre of mass at (14, 14)
NOISE_FLOOR = 0.05             # ink below 5% of full contrast is background (JPEG ringing, paper)
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error, IndexError)


def _open(path: str | os.PathLike) -> tuple[Image.Image, str]:
    """Open and fully decode an image file; every failure becomes a clear error naming the file."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no such file (the current folder is {os.getcwd()}); "
                                "check the path and the file name")
    if path.is_dir():
        raise ValueError(f"{name}: is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{name}: file is empty (0 bytes); re-download or re-export it")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except UnidentifiedImageError:
            raise ValueError(f"{name}: not an image PIL can read; save it as JPEG or PNG "
                             "(phone HEIC and camera RAW files need converting first)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(f"{name}: image too large, possible decompression bomb ({exc}); "
                             "resize it to a few megapixels first") from None
        except _DECODE_ERRORS as exc:
            raise ValueError(f"{name}: cannot be read ({exc}); re-download or re-export it") from None
        with image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{name}: image too large, possible decompression bomb "
                                 f"({width} x {height} = {width * height:,} pixels, the limit is "
                                 f"{MAX_IMAGE_PIXELS:,}); resize it to a few megapixels first")
            try:
                image.load()
                return _upright(image), name
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ValueError(f"{name}: image too large, possible decompression bomb ({exc}); "
                                 "resize it to a few megapixels first") from None
            except _DECODE_ERRORS as exc:
                reason = "file is truncated" if "truncated" in str(exc).lower() else "file is corrupt"
                raise ValueError(f"{name}: {reason} ({exc}); re-download or re-export it") from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phones store photos sideways plus a rotation tag)."""
    upright = ImageOps.exif_transpose(image)
    return image.copy() if upright is None or upright is image else upright


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """PIL image of any mode -> float32 (H, W, 3) in [0, 1]; transparency is composited on white."""
    mode = image.mode
    if mode.startswith("I;16"):                       # 16-bit grayscale
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("I", "F"):                            # 32-bit int / float grayscale
        gray = np.asarray(image, dtype=np.float64)
        return np.repeat(_scale_wide(gray)[:, :, None], 3, axis=2).astype(np.float32)
    has_alpha = "A" in image.getbands() or "a" in mode or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0  # (H, W, 4)
        alpha = rgba[:, :, 3:]
        return rgba[:, :, :3] * alpha + (1.0 - alpha)  # composite on a white background
    try:
        rgb = image.convert("RGB")
    except ValueError as exc:
        raise ValueError(f"PIL cannot convert mode {mode!r} to RGB ({exc}); save it as JPEG or PNG") from None
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _scale_wide(gray: np.ndarray) -> np.ndarray:
    """Scale 32-bit values to [0, 1]: kept if already in [0, 1], else /255 or /65535 by range, else min-max."""
    low, high = (float(gray.min()), float(gray.max())) if gray.size else (0.0, 0.0)
    if low >= 0 and high <= 1:
        return gray
    if low >= 0 and high <= 255:
        return gray / 255.0
    if low >= 0 and high <= 65535:
        return gray / 65535.0
    return (gray - low) / (high - low)


def load_image(path: str | os.PathLike | Image.Image) -> torch.Tensor:
    """Read an image file (or a PIL image) as an upright RGB float tensor (3, H, W) in [0, 1] (labs 02, 03)."""
    if isinstance(path, Image.Image):
        image, name = _upright(path), "<PIL image>"
    elif isinstance(path, (str, os.PathLike)):
        image, name = _open(path)
    else:
        raise TypeError(f"load_image expects a file path or a PIL image, got {type(path).__name__}")
    try:
        array = _to_rgb_array(image)                  # (H, W, 3)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    array = np.clip(array, 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float()  # (3, H, W)


def _gray(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) RGB in [0, 1] -> (H, W) luminance (ITU-R 601 weights, as PIL's convert("L"))."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return (image * weights).sum(0).numpy().astype(np.float64)  # (H, W)


def _border(gray: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels, used to judge the background."""
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def load_digit(path: str | os.PathLike | Image.Image) -> torch.Tensor:
    """A photo of one hand-written digit -> MNIST-style normalised tensor (1, 1, 28, 28) (lab 02).

    The MNIST recipe: grayscale; dark-on-light photos are inverted to light-on-dark (judged from the
    border); the background is set to 0 and the darkest ink to 1; the image is cropped to the ink's
    bounding box, scaled (antialiased) so its larger side is 20 px, pasted into a 28 x 28 canvas with
    its centre of mass at (14, 14), then normalised with (x - 0.1307) / 0.3081.
    """
    name = str(path) if not isinstance(path, Image.Image) else "<PIL image>"
    gray = _gray(load_image(path))                                 # (H, W)
    if np.median(_border(gray)) > 0.5:
        gray = 1.0 - gray                                          # light paper -> dark background
    background, peak = float(np.median(_border(gray))), float(gray.max())
    if peak - background < 0.15:
        raise ValueError(f"{name}: no digit found (the image is blank or has almost no contrast); "
                         "photograph a dark digit on light paper, filling most of the frame")
    gray = np.clip((gray - background) / (peak - background), 0.0, 1.0)
    noise = min(max(3 * float(np.percentile(_border(gray), 95)), NOISE_FLOOR), 0.5)
    gray[gray <= noise] = 0.0                                      # clean paper texture / JPEG noise
    rows, cols = np.flatnonzero(gray.any(axis=1)), np.flatnonzero(gray.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"{name}: no digit found after removing the background; "
                         "use a darker pen or better light")
    crop = torch.from_numpy(gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]).float()  # (h, w)
    h, w = crop.shape
    scale = DIGIT_SIZE / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size != (h, w):
        crop = F.interpolate(crop[None, None], size=size, mode="bilinear", antialias=True,
                             align_corners=False)[0, 0].clamp(0.0, 1.0)  # (h', w')
    digit = _paste_centred(crop)                                   # (28, 28)
    return ((digit - MNIST_MEAN) / MNIST_STD).view(1, 1, CANVAS_SIZE, CANVAS_SIZE)  # (1, 1, 28, 28)


def _paste_centred(patch: torch.Tensor) -> torch.Tensor:
    """Paste (h, w) into a zero 28 x 28 canvas so that its centre of mass lands on pixel (14, 14)."""
    h, w = patch.shape
    total = patch.sum()
    cy = float((patch.sum(1) * torch.arange(h)).sum() / total)
    cx = float((patch.sum(0) * torch.arange(w)).sum() / total)
    top, left = round(CANVAS_SIZE / 2 - cy), round(CANVAS_SIZE / 2 - cx)
    canvas = torch.zeros(CANVAS_SIZE, CANVAS_SIZE)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, CANVAS_SIZE), min(left + w, CANVAS_SIZE)
    canvas[y0:y1, x0:x1] = patch[y0 - top:y1 - top, x0 - left:x1 - left]
    return canvas
