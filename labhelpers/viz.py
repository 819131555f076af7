"""Matplotlib plots shared by the labs: image grids, training curves, confusion matrices, top-k bars,
filters and feature maps (labs 01-03, 06-10).

Every function returns the matplotlib ``Figure`` and never calls ``plt.show()``, so it also runs
headless (CI, Agg backend). In a notebook the figure is shown at the end of the cell; assign the
result (``fig = show_images(...)``) to avoid a second copy, and ``fig.savefig(...)`` to keep it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["show_images", "plot_history", "confusion_matrix", "plot_confusion_matrix",
           "show_misclassified", "plot_topk", "show_kernels", "show_feature_maps"]


def _to_numpy(x: Any) -> np.ndarray:
    """Tensor (any device, with or without grad), PIL image, list or array -> NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _display_ready(img: Any) -> tuple[np.ndarray, bool]:
    """One image -> ((H, W) or (H, W, 3) floats in [0, 1], is_rgb); min-max scales what is outside."""
    a = _to_numpy(img)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]  # (H, W, 1) -> (H, W)
    if a.ndim != 2 and not (a.ndim == 3 and a.shape[-1] == 3):
        raise ValueError(f"each image must be (H, W), (1, H, W), (3, H, W) or (H, W, 3); got shape "
                         f"{a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0, a.ndim == 3
    a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:  # e.g. MNIST- or ImageNet-normalised: rescale this image to [0, 1]
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a, a.ndim == 3


def _split_images(images: Any) -> list[Any]:
    """A batch (N, ...) tensor/array or a list of images -> list of single images."""
    if isinstance(images, (list, tuple)):
        items = list(images)
    else:
        batch = _to_numpy(images)
        if batch.ndim not in (3, 4):
            raise ValueError(f"images must be a batch (N, H, W), (N, 1, H, W), (N, 3, H, W) or "
                             f"(N, H, W, 3), or a list of images; got shape {batch.shape}")
        items = list(batch)
    if not items:
        raise ValueError("images is empty: pass at least one image")
    return items


def _grid(n: int, ncols: int, cell: float = 1.6) -> tuple[Figure, list[Axes]]:
    """A figure with n image axes in rows of ncols (unused grid cells removed)."""
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, (cell + 0.3) * nrows + 0.4),
                             squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    for ax in flat[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, flat[:n]


def _imshow(ax: Axes, ready: tuple[np.ndarray, bool], cmap: str = "gray") -> None:
    """Show one _display_ready image on ax (grey images on a fixed 0..1 scale)."""
    a, is_rgb = ready
    if is_rgb:
        ax.imshow(a)
    else:
        ax.imshow(a, cmap=cmap, vmin=0.0, vmax=1.0)


def show_images(images: Any, labels: Sequence[Any] | None = None, ncols: int = 8,
                title: str | None = None, cmap: str = "gray") -> Figure:
    """Grid of images with optional per-image labels (labs 01-03, 06-10: data batches, test digits)."""
    items = _split_images(images)
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"got {len(items)} images but {len(labels)} labels; pass one label per image")
    ready = [_display_ready(img) for img in items]  # validate every image before drawing
    fig, axes = _grid(len(items), ncols)
    for i, (ax, img) in enumerate(zip(axes, ready)):
        _imshow(ax, img, cmap)
        if labels is not None:
            label = labels[i]
            ax.set_title(str(label.item() if hasattr(label, "item") else label), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: Mapping[str, Any], metrics: Sequence[str] = ("loss", "accuracy")) -> Figure:
    """Train vs test curves per metric from fit()'s history, or {name: history} (labs 02, 06-10)."""
    if not isinstance(history, Mapping) or not history:
        raise ValueError("history must be a non-empty dict such as the one labhelpers.train.fit returns")
    if not metrics:
        raise ValueError("metrics is empty: name at least one, e.g. ('loss', 'accuracy')")
    many = all(isinstance(h, Mapping) for h in history.values())
    runs = dict(history) if many else {"": history}
    for metric in metrics:
        if not any(k in h for h in runs.values() for k in (metric, f"train_{metric}", f"test_{metric}")):
            keys = sorted({k for h in runs.values() for k in h})
            raise ValueError(f"no curve for metric {metric!r}; history has keys {keys}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for run, (name, h) in enumerate(runs.items()):
            curves = [(f"{split}_{metric}", split, style)
                      for split, style in (("train", "-"), ("test", "--")) if f"{split}_{metric}" in h]
            if not curves and metric in h:  # a bare key such as "lr"
                curves = [(metric, metric, "-")]
            for key, split, style in curves:
                y = np.asarray(h[key], dtype=float)
                x = np.asarray(h.get("epoch", range(1, len(y) + 1)))
                if len(x) != len(y):
                    plt.close(fig)
                    raise ValueError(f"history[{key!r}] has {len(y)} values but 'epoch' has {len(x)}")
                label = f"{name} {split}".strip()
                ax.plot(x, y, style, color=f"C{run}", marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{metric} (%)" if metric == "accuracy" else metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(y: Any, y_hat: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts (num_classes, num_classes): rows = true class, columns = predicted class (labs 02, 06-10)."""
    y, y_hat = _to_numpy(y).reshape(-1), _to_numpy(y_hat).reshape(-1)
    if y.shape != y_hat.shape:
        raise ValueError(f"y has {y.size} labels but y_hat has {y_hat.size}; they must match")
    if y.size and not (np.issubdtype(y.dtype, np.integer) and np.issubdtype(y_hat.dtype, np.integer)):
        raise ValueError("y and y_hat must be integer class indices (use probs.argmax(1) for y_hat)")
    y, y_hat = y.astype(np.int64), y_hat.astype(np.int64)
    if y.size and min(y.min(), y_hat.min()) < 0:
        raise ValueError("class indices must be >= 0")
    top = int(max(y.max(), y_hat.max())) + 1 if y.size else 0
    k = top if num_classes is None else int(num_classes)
    if k < top:
        raise ValueError(f"num_classes={k} but a label {top - 1} was found; increase num_classes")
    return np.bincount(y * k + y_hat, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(cm: Any, class_names: Sequence[str] | None = None, normalize: bool = False,
                          ax: Axes | None = None, title: str | None = None) -> Figure:
    """Annotated heat map of a confusion matrix; normalize=True shows row fractions (labs 02, 06-10)."""
    cm = _to_numpy(cm).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) matrix, got shape {cm.shape}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"got {len(names)} class_names for a {k}x{k} matrix")
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = ax.figure if ax is not None else plt.subplots(figsize=(0.6 * k + 2.5, 0.6 * k + 2))[0]
    ax = ax if ax is not None else fig.axes[0]
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("confusion matrix (row fractions)" if normalize else "confusion matrix"))
    fig.tight_layout()
    return fig


def show_misclassified(X: Any, y: Any, y_hat: Any, max_images: int = 16, probs: Any = None,
                       ncols: int = 8) -> Figure:
    """Gallery of wrong predictions titled 'true 4 / pred 9 (0.87)' (labs 02, 06-10)."""
    items = _split_images(X)
    y, y_hat = _to_numpy(y).reshape(-1), _to_numpy(y_hat).reshape(-1)
    if not len(items) == len(y) == len(y_hat):
        raise ValueError(f"X, y and y_hat must have the same length, got {len(items)}, {len(y)}, "
                         f"{len(y_hat)}")
    p = None if probs is None else _to_numpy(probs)
    if p is not None and (p.shape[0] != len(y) or p.ndim not in (1, 2)):
        raise ValueError(f"probs must be (N,) or (N, num_classes) with N={len(y)}, got {p.shape}")
    wrong = np.flatnonzero(y != y_hat)[:max_images]
    if len(wrong) == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    ready = {i: _display_ready(items[i]) for i in wrong}
    fig, axes = _grid(len(wrong), ncols, cell=2.0)
    for ax, i in zip(axes, wrong):
        _imshow(ax, ready[i])
        label = f"true {int(y[i])} / pred {int(y_hat[i])}"
        if p is not None:
            label += f" ({float(p[i] if p.ndim == 1 else p[i, int(y_hat[i])]):.2f})"
        ax.set_title(label, fontsize=7, color="crimson")
    fig.suptitle(f"{len(wrong)} of {int((y != y_hat).sum())} misclassified shown")
    fig.tight_layout()
    return fig


def plot_topk(predictions: Sequence[tuple[int, str, float]], image: Any = None,
              title: str | None = None) -> Figure:
    """Horizontal bars of the top-k (index, name, probability) of one image, image on the left (lab 03)."""
    preds = list(predictions)
    if not preds or not all(isinstance(t, (tuple, list)) and len(t) == 3
                            and not isinstance(t[2], (tuple, list)) for t in preds):
        raise ValueError("predictions must be a non-empty list of (index, name, probability) for ONE "
                         "image, e.g. classify(images)[0]")
    names = [str(name) for _, name, _ in preds]
    values = [float(prob) for _, _, prob in preds]
    ready = None if image is None else _display_ready(image)
    ncols = 1 if image is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(4 + 3.5 * (ncols - 1), 0.45 * len(preds) + 1.5),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * (ncols - 1) + [1.4]})
    if image is not None:
        _imshow(axes[0, 0], ready)
        axes[0, 0].axis("off")
    ax = axes[0, -1]
    rows = np.arange(len(preds))
    ax.barh(rows, values, color="tab:blue")
    ax.set_yticks(rows, names)
    ax.invert_yaxis()  # best prediction on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    for r, v in zip(rows, values):
        ax.text(min(v + 0.02, 0.85), r, f"{v:.2f}", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_kernels(weight: Any, ncols: int = 8, max_kernels: int = 64, channel: int = 0) -> Figure:
    """Conv filters (out, in, kH, kW), min-max scaled; RGB if in == 3, else input `channel` (labs 02, 03)."""
    w = _to_numpy(weight.weight if hasattr(weight, "weight") else weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"weight must be a conv weight (out, in, kH, kW), got shape {w.shape}")
    rgb = w.shape[1] == 3
    if not rgb and not 0 <= channel < w.shape[1]:
        raise ValueError(f"channel={channel} but the weight has {w.shape[1]} input channels")
    w = w[:max_kernels]
    fig, axes = _grid(len(w), ncols, cell=1.0)
    for ax, k in zip(axes, w):
        k = np.moveaxis(k, 0, -1) if rgb else k[channel]  # (kH, kW, 3) or (kH, kW)
        lo, hi = k.min(), k.max()
        k = (k - lo) / (hi - lo) if hi > lo else np.zeros_like(k)
        ax.imshow(k, cmap=None if rgb else "gray", vmin=0, vmax=1)
    suffix = "" if rgb or w.shape[1] == 1 else f", input channel {channel}"
    fig.suptitle(f"{len(w)} filters {w.shape[2]}x{w.shape[3]}{suffix}")
    fig.tight_layout()
    return fig


def show_feature_maps(maps: Any, ncols: int = 8, max_maps: int = 32, cmap: str = "viridis") -> Figure:
    """Activation maps (C, H, W) or (1, C, H, W) of one image, one panel per channel (labs 02, 03)."""
    m = _to_numpy(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]  # (1, C, H, W) -> (C, H, W)
    if m.ndim != 3:
        raise ValueError(f"maps must be (C, H, W) or (1, C, H, W) for one image, got shape {m.shape}; "
                         "for a batch pass maps[0]")
    m = m[:max_maps]
    fig, axes = _grid(len(m), ncols, cell=1.4)
    for c, (ax, fmap) in enumerate(zip(axes, m)):
        ax.imshow(fmap, cmap=cmap)
        ax.set_title(str(c), fontsize=8)
    fig.suptitle(f"{len(m)} feature maps {m.shape[1]}x{m.shape[2]}")
    fig.tight_layout()
    return fig
