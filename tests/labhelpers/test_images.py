"""Tests for labhelpers.images: every photo kind loads, every broken file gives a clear error."""
from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from labhelpers.data import load_mnist, normalize_mnist
from labhelpers.images import NOISE_FLOOR
from labhelpers.images import MAX_IMAGE_PIXELS, load_digit, load_image


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (its pixel data is a few bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def digit() -> tuple[torch.Tensor, int]:
    """A real MNIST test digit (uint8 (28, 28)) and its label."""
    data = load_mnist(source="offline", verbose=False)
    return data.X_test[400], int(data.y_test[400])


def _noise_rgb(size: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


BAD_FILES = {
    "empty.jpg": (b"", "empty"),
    "notes.jpg": (b"this is a text file, not a photo\n" * 10, "not an image"),
    "truncated.jpg": (_encoded(_noise_rgb(), "JPEG")[:1500], "truncated"),
    "truncated.png": (_encoded(_noise_rgb(), "PNG")[:4000], "re-download"),
    "bomb.png": (_png_with_size(30_000, 30_000), "decompression bomb"),
    "bomb_warning.png": (_png_with_size(10_000, 10_000), "decompression bomb"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_broken_file_raises_value_error_naming_file_and_reason(tmp_path, name):
    payload, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(ValueError) as info:
        load_image(path)
    assert name in str(info.value)
    assert reason in str(info.value)


def test_pixel_limit_is_checked_even_when_pil_limit_is_off(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a user may have disabled PIL's check
    path = tmp_path / "huge.png"
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 10
    path.write_bytes(_png_with_size(side, side))
    with pytest.raises(ValueError, match="decompression bomb"):
        load_image(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")


def test_folder_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        load_image(tmp_path)


def test_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="path or a PIL image"):
        load_image(np.zeros((4, 4, 3)))


def test_pil_globals_unchanged(tmp_path):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    for name, (payload, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(ValueError):
            load_image(tmp_path / name)
    _noise_rgb().save(tmp_path / "ok.png")
    load_image(tmp_path / "ok.png")
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == before


def test_rgb_jpeg_is_float_3hw_close_to_original(tmp_path):
    image = Image.new("RGB", (40, 30), (200, 100, 50))
    image.save(tmp_path / "flat.jpg", quality=95)
    x = load_image(tmp_path / "flat.jpg")
    assert x.dtype == torch.float32 and x.shape == (3, 30, 40)
    expected = torch.tensor([200, 100, 50]).view(3, 1, 1) / 255
    assert (x - expected).abs().max() < 0.03


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.new("L", (5, 4), 128).save(tmp_path / "gray.png")
    x = load_image(tmp_path / "gray.png")
    assert x.shape == (3, 4, 5)
    assert torch.allclose(x, torch.full((3, 4, 5), 128 / 255))


def test_one_bit_image_gives_zeros_and_ones(tmp_path):
    image = Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).convert("1")
    image.save(tmp_path / "bits.png")
    x = load_image(tmp_path / "bits.png")
    assert torch.equal(x[0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_rgba_transparent_pixel_becomes_white(tmp_path):
    array = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    Image.fromarray(array, "RGBA").save(tmp_path / "alpha.png")
    x = load_image(tmp_path / "alpha.png")                      # (3, 1, 3)
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(x[:, 0, 1], torch.ones(3))
    assert torch.allclose(x[:, 0, 2], torch.full((3,), 1 - 128 / 255))


def test_la_transparent_pixel_becomes_white(tmp_path):
    Image.fromarray(np.array([[[0, 0], [0, 255]]], dtype=np.uint8), "LA").save(tmp_path / "la.png")
    x = load_image(tmp_path / "la.png")
    assert torch.allclose(x[:, 0, 0], torch.ones(3)) and torch.allclose(x[:, 0, 1], torch.zeros(3))


def test_palette_with_transparency_composited_on_white(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 255] + [0, 255, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.save(tmp_path / "pal.png", transparency=1)
    x = load_image(tmp_path / "pal.png")
    assert torch.allclose(x[:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(x[:, 0, 1], torch.ones(3))


def test_palette_without_transparency_uses_palette_colours(tmp_path):
    image = Image.new("P", (1, 1))
    image.putpalette([10, 20, 30] + [0] * 765)
    image.save(tmp_path / "pal.gif")
    x = load_image(tmp_path / "pal.gif")
    assert torch.allclose(x[:, 0, 0], torch.tensor([10, 20, 30]) / 255)


def test_cmyk_converted_to_rgb(tmp_path):
    image = Image.new("CMYK", (2, 1))
    image.putpixel((0, 0), (0, 0, 0, 0))      # no ink: white
    image.putpixel((1, 0), (255, 0, 0, 0))    # full cyan
    image.save(tmp_path / "cmyk.tif")
    x = load_image(tmp_path / "cmyk.tif")
    assert torch.allclose(x[:, 0, 0], torch.ones(3))
    assert torch.allclose(x[:, 0, 1], torch.tensor([0.0, 1.0, 1.0]))


def test_16_bit_grayscale_scaled_by_65535(tmp_path):
    Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    x = load_image(tmp_path / "deep.png")
    assert torch.allclose(x[0, 0], torch.tensor([0.0, 32768 / 65535, 1.0]))


def test_32_bit_int_and_float_modes():
    as_int = load_image(Image.fromarray(np.array([[0, 1000, 65535]], dtype=np.int32)))
    assert torch.allclose(as_int[1, 0], torch.tensor([0.0, 1000 / 65535, 1.0]))
    as_float = load_image(Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32)))
    assert torch.allclose(as_float[2, 0], torch.tensor([0.0, 0.25, 1.0]))


def test_exif_orientation_turns_photo_upright(tmp_path):
    array = np.zeros((2, 3, 3), dtype=np.uint8)                # stored 3 wide, 2 high
    array[1, 0] = (255, 0, 0)                                  # red at stored bottom-left
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6                                           # "rotate 90 degrees clockwise to view"
    image.save(tmp_path / "phone.png", exif=exif)
    x = load_image(tmp_path / "phone.png")
    assert x.shape == (3, 3, 2)
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))  # bottom-left turned to top-left


def test_pil_image_accepted_directly():
    x = load_image(Image.new("RGB", (3, 2), (255, 0, 0)))
    assert x.shape == (3, 2, 3) and torch.allclose(x[0], torch.ones(2, 3))


def test_load_digit_keeps_an_mnist_digit(tmp_path, digit):
    X, _ = digit
    Image.fromarray(X.numpy()).save(tmp_path / "digit.png")
    out = load_digit(tmp_path / "digit.png")
    assert out.shape == (1, 1, 28, 28)
    diff = (out - normalize_mnist(X[None])).abs() * 0.3081                # (1, 1, 28, 28), in [0, 1] units
    # only the faint pixels under the noise floor (MNIST's own anti-aliasing fringe) may be cleared
    assert diff.max() <= NOISE_FLOOR + 1e-6
    assert (diff > 0.01).sum() <= 20 and diff.mean() < 0.002


def test_load_digit_of_a_jpeg_digit_is_close(tmp_path, digit):
    X, _ = digit
    Image.fromarray(X.numpy()).save(tmp_path / "digit.jpg", quality=95)
    out = load_digit(tmp_path / "digit.jpg")
    assert (out - normalize_mnist(X[None])).abs().mean() * 0.3081 < 0.03


def test_load_digit_of_a_dark_on_light_photo_matches_mnist(tmp_path, digit):
    X, _ = digit
    ink = Image.fromarray(255 - X.numpy()).resize((140, 140), Image.Resampling.BICUBIC)
    paper = Image.new("L", (300, 220), 235)                      # light grey paper
    paper.paste(ink.crop((20, 20, 120, 120)), (30, 80))          # the digit, off-centre
    noisy = np.asarray(paper, dtype=np.int16) + np.random.default_rng(0).integers(-6, 7, (220, 300))
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).convert("RGB").save(tmp_path / "photo.jpg")
    out = load_digit(tmp_path / "photo.jpg").flatten()
    ref = normalize_mnist(X[None]).flatten()
    assert torch.corrcoef(torch.stack([out, ref]))[0, 1] > 0.85


def test_load_digit_centres_by_mass_and_scales_to_20_px(tmp_path):
    canvas = Image.new("L", (100, 60), 0)
    canvas.paste(255, (10, 5, 20, 55))                           # a 10 x 50 bar in a corner
    canvas.save(tmp_path / "bar.png")
    x = load_digit(tmp_path / "bar.png")[0, 0] * 0.3081 + 0.1307  # (28, 28) back in [0, 1]
    rows = torch.nonzero(x.sum(1) > 0.01).flatten()
    assert rows[-1] - rows[0] + 1 == 20
    mass = x.sum()
    cy = (x.sum(1) * torch.arange(28)).sum() / mass
    cx = (x.sum(0) * torch.arange(28)).sum() / mass
    assert abs(cy - 14) <= 0.501 and abs(cx - 14) <= 0.501       # whole-pixel placement


@pytest.mark.parametrize("value", [0, 255, 128])
def test_load_digit_of_a_blank_image_raises(tmp_path, value):
    Image.new("L", (50, 50), value).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match="blank.png: no digit found"):
        load_digit(tmp_path / "blank.png")
