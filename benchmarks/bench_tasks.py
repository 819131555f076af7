"""The benchmark's runs (1)-(3) and (5), each meant for a fresh process (bench).

(1) ``run_reference``: the slide's loop as written; (2) ``run_labhelpers``: the same recipe on
labhelpers' tensor loaders; (3) ``run_fast``: the fast recipe, timed until it reaches (1)'s accuracy;
(5) ``run_imagenet``: latency and throughput of the default pretrained model. ``benchmarks.bench``
runs them side by side and measures sgemm and memory around them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn

from labhelpers.device import get_device


def load_data(spec: dict):
    """The benchmark's data as uint8 arrays, subset round-robin over the classes like mnist_loaders."""
    from labhelpers.data import _balanced_subset, load_mnist
    data = load_mnist(spec["source"], spec["root"] or "data", verbose=False)
    X_tr, y_tr, X_te, y_te = data.X_train, data.y_train, data.X_test, data.y_test
    if spec["train_size"] and spec["train_size"] < len(y_tr):
        X_tr, y_tr = _balanced_subset(X_tr, y_tr, spec["train_size"])
    if spec["test_size"] and spec["test_size"] < len(y_te):
        X_te, y_te = _balanced_subset(X_te, y_te, spec["test_size"])
    return X_tr, y_tr, X_te, y_te, data.description


def bench_device() -> torch.device:
    """The device every lab uses (labhelpers.get_device: CUDA, then MPS, then the CPU)."""
    return get_device()


def run_reference(spec: dict, num_epochs: int, seed: int = 1) -> dict:
    """(1) The slide's loop as written: seed_loaders + seed_train/seed_test, timed around training."""
    from labhelpers.models import NetCNN
    from benchmarks.recipes import seed_loaders, seed_recipe, seed_test, seed_train
    recipe = dataclasses.replace(seed_recipe(), num_epochs=num_epochs, channels_last=False)  # as written
    X_tr, y_tr, X_te, y_te, _ = load_data(spec)
    root = spec["root"] if not spec["train_size"] else None     # torchvision's own class on full data
    train_loader, test_loader = seed_loaders(X_tr, y_tr, X_te, y_te, recipe.batch_size,
                                             recipe.test_batch_size, root)
    device = bench_device()
    torch.manual_seed(seed)
    model = NetCNN().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    train_seconds = eval_seconds = 0.0
    evals = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        for epoch in range(1, num_epochs + 1):
            start = time.perf_counter()
            seed_train(model, device, train_loader, optimizer, epoch, 200, Path(tmp) / "mnist_cnn.pth")
            train_seconds += time.perf_counter() - start
            start = time.perf_counter()
            accuracy = seed_test(model, device, test_loader)
            eval_seconds += time.perf_counter() - start
            evals.append({"images": epoch * len(y_tr), "seconds": train_seconds, "accuracy": accuracy})
    images = num_epochs * len(y_tr)
    return {"recipe": recipe.as_dict(), "train_seconds": train_seconds, "eval_seconds": eval_seconds,
            "images": images, "images_per_second": images / train_seconds, "evals": evals,
            "final_accuracy": evals[-1]["accuracy"], "dataset": type(train_loader.dataset).__name__}


def run_labhelpers(spec: dict, num_epochs: int, seed: int = 1) -> dict:
    """(2) The seed's recipe (same math) on labhelpers' decoded-once tensor loaders and machine defaults."""
    from labhelpers.data import TensorLoader
    from labhelpers.models import NetCNN
    from benchmarks.recipes import recipe_loaders, seed_recipe, train_recipe
    recipe = dataclasses.replace(seed_recipe(bench_device()), num_epochs=num_epochs)
    torch.manual_seed(seed)
    model = NetCNN()
    train_loader, test_loader = recipe_loaders(recipe, source=spec["source"], root=spec["root"] or "data",
                                               train_size=spec["train_size"], test_size=spec["test_size"],
                                               verbose=False)
    # The slide shuffles its test loader too. Shuffling ours draws the same random numbers as (1)'s
    # evaluation, so epoch 2 trains on the same batches in the same order (the order of the test
    # images does not change the accuracy). Unshuffled, (2) ended 1.5 points below (1) by chance.
    test_loader = TensorLoader(test_loader.X, test_loader.y, test_loader.batch_size, shuffle=True)
    return train_recipe(model, train_loader, test_loader, recipe, bench_device())


def run_fast(spec: dict, target_accuracy: float | None, num_epochs: int | None = None, seed: int = 1) -> dict:
    """(3) The fast recipe, evaluated ~16 times (time excluded) to find when it first reaches the target."""
    from labhelpers.models import NetCNN
    from benchmarks.recipes import fast_recipe, recipe_loaders, train_recipe
    device = bench_device()
    torch.manual_seed(seed)
    model = NetCNN()
    train_loader, test_loader = recipe_loaders(fast_recipe(), source=spec["source"],
                                               root=spec["root"] or "data", train_size=spec["train_size"],
                                               test_size=spec["test_size"], verbose=False)
    recipe = fast_recipe(len(train_loader.dataset), device)
    if num_epochs is not None:
        recipe = dataclasses.replace(recipe, num_epochs=min(num_epochs, recipe.num_epochs))
    eval_every = max(1, recipe.num_epochs * len(train_loader) // 16)
    return train_recipe(model, train_loader, test_loader, recipe, device, eval_every=eval_every,
                        target_accuracy=target_accuracy)


def run_imagenet(latency_repeats: int = 20, throughput_repeats: int = 5) -> dict:
    """(5) Median latency at batch 1 and throughput at batch 8 of load_pretrained()'s default model."""
    from labhelpers.imagenet import classify, load_pretrained
    model, _ = load_pretrained()
    device = bench_device()
    model = model.to(device)

    def median_seconds(net: nn.Module, X: torch.Tensor, repeats: int) -> float:
        times = []
        with torch.inference_mode():
            for _ in range(repeats + 2):                         # two warm-up calls
                start = time.perf_counter()
                net(X)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
        return statistics.median(times[2:])

    X1, X8 = torch.randn(1, 3, 224, 224, device=device), torch.randn(8, 3, 224, 224, device=device)
    out = {"model": getattr(model, "name", type(model).__name__)}
    for suffix, fmt in (("", torch.contiguous_format), ("_channels_last", torch.channels_last)):
        model.to(memory_format=fmt)                              # same weights, NCHW then NHWC layout
        out[f"latency_ms{suffix}"] = 1000 * median_seconds(model, X1.contiguous(memory_format=fmt),
                                                           latency_repeats)
        out[f"throughput_ips{suffix}"] = 8 / median_seconds(model, X8.contiguous(memory_format=fmt),
                                                            throughput_repeats)
    model.to(memory_format=torch.contiguous_format)
    image = torch.rand(3, 480, 640)
    times = []
    for _ in range(max(3, latency_repeats // 4)):
        start = time.perf_counter()
        classify(image, model, topk=5)
        times.append(time.perf_counter() - start)
    out["classify_ms"] = 1000 * statistics.median(times)       # preprocessing included
    return out


TASKS = {"reference": run_reference, "labhelpers": run_labhelpers, "fast": run_fast, "imagenet": run_imagenet}
