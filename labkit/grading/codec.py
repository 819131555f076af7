"""The wire between the grader and the sandbox: probe inputs and answers as plain JSON (grading, all labs).

Plain values (numbers, arrays, tensors, sequences, dicts) use :mod:`labhelpers.values`: nothing is pickled,
so an answer whose ``__eq__`` always returns True cannot reach the grader's comparison. This module adds
the inputs the grader builds on both sides from a spec: functions of x, files, seeded models and layers,
loaders of real digits, optimizers over another argument's parameters, and the *watched* versions of
models and optimizers that log how a training loop used them (:func:`collect`).
"""
from __future__ import annotations

import base64
import math
import os
import sys
from typing import Any

from labhelpers.values import MAX_NUMBERS, Budget, encode, safe_repr  # noqa: F401 - the wire's plain values
from labhelpers.values import decode as decode_plain


# ----------------------------------------------------------------------------- decoding (inputs)
def _poly_trig(spec: dict):
    """f(x) = sum_k poly[k] x**k + a sin(b x) + d exp(e x), written with torch operations."""
    import torch
    poly = [float(c) for c in spec.get("poly", [])]
    a, b = (float(v) for v in spec.get("sin", (0.0, 0.0)))
    d, e = (float(v) for v in spec.get("exp", (0.0, 0.0)))

    def f(x):
        total = x * 0.0
        for k, c in enumerate(poly):
            total = total + c * x**k
        return total + a * torch.sin(b * x) + d * torch.exp(e * x)
    return f


FUNCTIONS = {"poly_trig": _poly_trig}
MODELS = ("NetFF", "NetCNN", "LeNet", "LeNetModified")   # labhelpers.models
ARCHITECTURES = ("EfficientNetLiteTiny",)                # built by _architecture (lab 10)
LAYERS = ("Linear", "Conv1d", "Conv2d", "BatchNorm1d", "BatchNorm2d", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
          "ELU", "Flatten", "Dropout", "MaxPool2d", "LogSoftmax", "RNN", "LSTM")  # torch.nn a __layers__ input may use
OPTIMIZERS = ("SGD", "Adam", "Adagrad", "RMSprop")  # torch.optim classes an __optim__ input may use


def build_layers(spec: list, seed: int, stale_grads: bool = False):
    """``spec`` [[name, *numbers], ...] as torch.nn layers (one alone, more in nn.Sequential), weights from ``seed``.

    ``stale_grads``: every parameter's ``.grad`` already holds noise, as after an earlier backward pass
    (a function that should start from zero gradients must clear them).
    """
    import torch
    from torch import nn
    layers = []
    for name, *args in spec:
        if name not in LAYERS or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise ValueError(f"unknown layer {name!r} or non-numeric arguments; known: {LAYERS}")
        layers.append(getattr(nn, name)(*args))
    model = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
    model = fill_weights(model, seed).train()
    if stale_grads:
        generator = torch.Generator().manual_seed(seed + 1)
        for parameter in model.parameters():
            parameter.grad = torch.randn(tuple(parameter.shape), generator=generator).to(parameter.dtype)
    return model


def fill_weights(model, seed: int, scaled: bool = False):
    """Overwrite every float tensor of ``model``'s state with uniform noise from ``seed`` (same in any process).

    ``scaled`` (deep networks): weights of variance 1/fan_in and BatchNorm scales in [0.5, 1.5], so
    activations neither vanish nor wash out the input over 16 blocks; otherwise noise in [-0.2, 0.2].
    """
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            if tensor.is_floating_point():
                noise = torch.rand(tuple(tensor.shape), generator=generator, dtype=torch.float64)
                if name.endswith("running_var") or (scaled and tensor.dim() == 1 and name.endswith("weight")):
                    value = noise + 0.5
                elif scaled and tensor.dim() >= 2:
                    value = (noise * 2 - 1) * math.sqrt(3 / tensor[0].numel())   # variance 1 / fan_in
                else:
                    value = (noise * 2 - 1) * 0.2
                tensor.copy_(value.to(tensor.dtype))
    return model.eval()


def module_probe(model, spec: dict) -> dict:
    """Fill ``model``'s weights from ``spec["seed"]``, run it on ``spec["input"]``; output and state shapes."""
    import torch
    if not (hasattr(model, "state_dict") and callable(model)):
        return {"__opaque__": type(model).__name__, "repr": "not a torch model (nn.Module)"}
    state = [[name, list(tensor.shape)] for name, tensor in sorted(model.state_dict().items())]
    fill_weights(model, int(spec["seed"]))
    with torch.no_grad():
        output = model(spec["input"])
    return {"__map__": [["output", encode(output)], ["state", encode(state)]]}


def watch_model(model):
    """Log every forward call of ``model``: was it in training mode, was autograd recording, batch size."""
    import torch
    log: list = []

    def hook(module, inputs):
        first = inputs[0] if inputs else None
        log.append({"training": bool(module.training), "grad": bool(torch.is_grad_enabled()),
                    "batch": int(first.shape[0]) if hasattr(first, "shape") and len(first.shape) else None})
    model.register_forward_pre_hook(hook)
    model._labkit_log = log
    return model


def watched_optimizer(kind: str, params, **hyper):
    """A torch.optim optimizer that logs, at every ``step``, the gradient norm it used and the weight norm
    after it, and every ``zero_grad`` call (how a training loop drove it)."""
    import torch
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {kind!r}; known: {OPTIMIZERS}")

    class Watched(getattr(torch.optim, kind)):
        def step(self, closure=None):
            params = [p for group in self.param_groups for p in group["params"]]
            with torch.no_grad():
                grad = sum(float(p.grad.double().norm()) for p in params if p.grad is not None)
            out = super().step(closure)
            with torch.no_grad():
                weight = sum(float(p.double().norm()) for p in params)
            self._labkit_log.append({"step": len([e for e in self._labkit_log if "step" in e]) + 1,
                                     "grad_norm": grad, "weight_norm": weight})
            return out

        def zero_grad(self, set_to_none: bool = True):
            self._labkit_log.append({"zero_grad": True})
            return super().zero_grad(set_to_none)

    optimizer = Watched(params, **hyper)
    optimizer._labkit_log = []
    return optimizer


_DIGITS: dict = {}


def digits_loader(split: str, n: int, batch_size: int, shuffle: bool):
    """A labhelpers TensorLoader of ``n`` real offline MNIST digits (balanced over the classes) of ``split``."""
    from labhelpers.data import mnist_loaders
    key = (split, n, batch_size)
    if key not in _DIGITS:
        sizes = {"train_size": n, "test_size": 10} if split == "train" else {"train_size": 10, "test_size": n}
        train, test = mnist_loaders(batch_size, batch_size, source="offline", device="cpu", verbose=False, **sizes)
        _DIGITS[key] = train if split == "train" else test
    loader = _DIGITS[key]
    from labhelpers.data import TensorLoader
    return TensorLoader(loader.X, loader.y, batch_size, shuffle=shuffle)


def decode(data: Any, files_dir: str | None = None) -> Any:
    """Rebuild a probe input from its wire form: plain values, or one of the specs of the module doc."""
    if isinstance(data, list):
        return [decode(item, files_dir) for item in data]
    if not isinstance(data, dict):
        return data
    if "__nd__" in data:
        return decode_plain(data)
    if "__seq__" in data:
        items = [decode(item, files_dir) for item in data["__seq__"]]
        return tuple(items) if data.get("type") == "tuple" else items
    if "__map__" in data:
        return {_hashable(decode(k, files_dir)): decode(v, files_dir) for k, v in data["__map__"]}
    if "__fn__" in data:
        return FUNCTIONS[data["__fn__"]](data)
    if "__file__" in data:
        if files_dir is None:
            raise ValueError("a __file__ input needs a folder to write into")
        path = os.path.join(files_dir, os.path.basename(data["__file__"]))
        content = base64.b64decode(data["base64"]) if "base64" in data else data["text"].encode("utf-8")
        with open(path, "wb") as fp:
            fp.write(content)
        return path
    if "__layers__" in data:
        model = build_layers(data["__layers__"], int(data["seed"]), bool(data.get("stale_grads")))
        model.train(bool(data.get("train", True)))
        return watch_model(model) if data.get("watch") else model
    if "__module__" in data:
        name = data["__module__"]
        if name in MODELS:
            from labhelpers import models
            model = getattr(models, name)()
        elif name in ARCHITECTURES:
            model = _architecture(name)
        else:
            raise ValueError(f"unknown model {name!r}; known: {MODELS + ARCHITECTURES}")
        model = fill_weights(model, int(data["seed"]), scaled=name in ARCHITECTURES)
        model = model.train() if data.get("train") else model
        return watch_model(model) if data.get("watch") else model
    if "__loader__" in data:
        return digits_loader(str(data["__loader__"]), int(data["n"]), int(data["batch_size"]), bool(data["shuffle"]))
    if "__optim__" in data:
        return {"__optim__": data["__optim__"], "arg": int(data["arg"]), "hyper": decode(data["hyper"], files_dir)}
    return {key: decode(value, files_dir) for key, value in data.items()}


def seed_everything(seed: int | None) -> None:
    """Seed torch, NumPy and random with ``seed`` (None: leave them), as both sides do before a seeded call."""
    if seed is None:
        return
    import random

    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def collect(value: Any, args: list) -> dict:
    """What a training probe sends back: the function's return value, the logs of the watched arguments
    (models, optimizers) and the state of every argument that is a model, after the call."""
    import torch
    after = [torch.nn.Module.state_dict(a) if isinstance(a, torch.nn.Module) else None for a in args]
    return {"returned": value, "logs": [getattr(a, "_labkit_log", None) for a in args], "after": after}


def _architecture(name: str):
    """EfficientNetLiteTiny: EfficientNet-Lite0's anatomy (_blocks, _conv_head, _bn1, _fc, extract_features)
    at a quarter of its width with 10 classes: 0.37M weights instead of 4.7M, so answers stay small."""
    from efficientnet_lite_pytorch import EfficientNet
    return EfficientNet.from_name("efficientnet-lite0", width_coefficient=0.25, num_classes=10)


def resolve_attrs(args: list) -> list:
    """Replace each input that refers to another argument: ``{"__attr__": path, "arg": i}`` by
    ``args[i].get_submodule(path)`` (a layer of it), ``{"__optim__": kind, "arg": i, ...}`` by a watched
    optimizer over ``args[i].parameters()``."""
    out = list(args)
    for index, arg in enumerate(out):
        if isinstance(arg, dict) and set(arg) == {"__attr__", "arg"}:
            out[index] = out[int(arg["arg"])].get_submodule(str(arg["__attr__"]))
        elif isinstance(arg, dict) and "__optim__" in arg:
            out[index] = watched_optimizer(str(arg["__optim__"]), out[int(arg["arg"])].parameters(), **arg["hyper"])
    return out


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def is_finite_number(value: Any) -> bool:
    """True for an int or a finite float (not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
