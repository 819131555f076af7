"""labhelpers: the small helper package every lab notebook imports.

The public API is listed in ``__all__``. Each name lives in one module (one concern per module);
they are imported on first use, so ``import labhelpers`` stays fast and does not load torch until a
lab needs it. Self-checks live in ``labhelpers.checks`` (one module per lab). This package is
all a student release or a Colab install contains; the instructor tools are the separate ``labkit``.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    # device.py
    "get_device": "device", "describe_device": "device", "set_seed": "device", "in_colab": "device",
    "set_threads": "device", "amp_dtype": "device", "precision_name": "device",
    # data.py
    "mnist_loaders": "data", "load_mnist": "data", "TensorLoader": "data", "MNIST_MEAN": "data",
    "MNIST_STD": "data", "normalize_mnist": "data", "seen_in_training": "data",
    # models.py
    "NetFF": "models", "NetCNN": "models", "LeNet": "models", "LeNetModified": "models",
    "model_summary": "models", "count_parameters": "models",
    # train.py
    "train_one_epoch": "train", "evaluate": "train", "fit": "train", "predict": "train",
    "save_checkpoint": "train", "load_checkpoint": "train", "use_channels_last": "train",
    # files.py
    "atomic_write": "files", "figure_dir": "files",
    # images.py
    "load_image": "images", "load_digit": "images",
    # imagenet.py
    "imagenet_classes": "imagenet", "load_pretrained": "imagenet", "classify": "imagenet",
    # numpy_ref.py
    "conv1d_numpy": "numpy_ref", "padding_for": "numpy_ref",
    # viz.py
    "show_images": "viz", "plot_history": "viz", "plot_confusion_matrix": "viz",
    "confusion_matrix": "viz", "show_misclassified": "viz", "plot_topk": "viz",
    "show_kernels": "viz", "show_feature_maps": "viz",
    # selfcheck.py
    "run_all_checks": "selfcheck",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    """Import the module that defines ``name`` on first access (PEP 562)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'labhelpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labhelpers.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
