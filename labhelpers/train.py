"""The training loop, read like pytorch/examples mnist/main.py, plus atomic checkpoints (labs 02, 06-10)."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.device import amp_dtype, precision_name
from labhelpers.files import atomic_write

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _autocast(device: torch.device, amp: bool):
    """Autocast to the GPU's mixed-precision dtype when ``amp`` (labhelpers.amp_dtype); nothing otherwise."""
    dtype = amp_dtype(device) if amp else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def make_scaler(device: torch.device | str, amp: bool):
    """A GradScaler when ``amp`` autocasts to float16 (GPUs below compute capability 8.0), else None."""
    if amp and amp_dtype(device) == torch.float16:
        return torch.amp.GradScaler("cuda")
    return None


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                    device: torch.device | str, epoch: int = 1, log_interval: int | None = None,
                    loss_fn: LossFn = F.nll_loss, scheduler=None, amp: bool = False,
                    progress=None, scaler=None) -> dict[str, float]:
    """One pass over ``loader``; returns {"loss": mean loss, "accuracy": % correct} (lab 02).

    With ``log_interval`` it prints the seed's lines ``Train Epoch: 1 [6400/60000 (11%)]  Loss: ...``.
    ``scheduler`` (if any) steps after every batch (one-cycle style); ``progress`` is a tqdm bar
    advanced by one per batch. ``amp=True`` trains in mixed precision on a CUDA GPU (bfloat16 from
    compute capability 8.0, float16 with ``scaler`` = :func:`make_scaler` below); the default is float32.
    """
    if scaler is None:
        scaler = make_scaler(device, amp)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    n_images = len(loader.dataset) if hasattr(loader, "dataset") else None
    for batch_idx, (X, y) in enumerate(loader):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            y_hat = model(X)                                   # (B, num_classes)
            loss = loss_fn(y_hat.float(), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        batch = len(y)
        total_loss += loss.detach() * batch                    # stays on device: no sync per batch
        correct += (y_hat.detach().argmax(dim=1) == y).sum()
        seen += batch
        if log_interval and batch_idx % log_interval == 0:
            print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * batch, n_images if n_images is not None else "?",
                100.0 * batch_idx / len(loader), loss.item()))
        if progress is not None:
            progress.update(1)
    if seen == 0:
        raise ValueError("the training loader yielded no batches")
    return {"loss": float(total_loss) / seen, "accuracy": 100.0 * float(correct) / seen}


@torch.inference_mode()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device | str,
             loss_fn: LossFn = F.nll_loss, amp: bool = False) -> dict[str, float]:
    """Mean loss and accuracy over ``loader`` (the seed's test()); returns a metric dict (lab 02)."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for X, y in loader:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _autocast(device, amp):
            y_hat = model(X).float()                           # (B, num_classes)
        total_loss += float(loss_fn(y_hat, y, reduction="sum"))
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
    if seen == 0:
        raise ValueError("the evaluation loader yielded no batches")
    return {"loss": total_loss / seen, "accuracy": 100.0 * correct / seen,
            "correct": correct, "total": seen}


def _progress_bar(total: int, enabled: bool):
    """One tqdm bar: a widget in Colab/Jupyter front ends, a sparse text bar in logs (CI)."""
    if not enabled:
        return None
    from labhelpers.device import in_colab
    if in_colab():
        from tqdm.notebook import tqdm
        return tqdm(total=total, unit="batch")
    from tqdm import tqdm
    interactive = sys.stderr.isatty()
    return tqdm(total=total, unit="batch", file=sys.stderr, mininterval=0.5 if interactive else 30,
                maxinterval=60, ascii=not interactive, dynamic_ncols=interactive)


def use_channels_last(model: nn.Module, device: torch.device | str, example: torch.Tensor | None) -> bool:
    """Put a CNN in channels_last (NHWC) memory layout on the CPU, where it trains faster; True if it did (fit).

    Same math, another layout: a NetCNN training step took 0.57-0.75x the time in NHWC on 2 CPU
    cores (batch 32 and 256, measured side by side). A model whose forward calls ``.view`` on conv
    features cannot run in NHWC; ``example`` (one input, e.g. ``test_loader.dataset[0][0]``) is tried
    first and such a model stays as it is, with a one-line note.
    """
    if torch.device(device).type != "cpu" or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return False
    model.to(memory_format=torch.channels_last)
    if example is not None:
        was_training = model.training
        try:
            with torch.inference_mode():
                model.eval()(example.unsqueeze(0).to(device))  # (1, C, H, W)
        except RuntimeError as err:
            model.to(memory_format=torch.contiguous_format)
            if "view" in str(err):
                print("note: the model calls .view() on conv features, so it trains in the default layout; "
                      "use .reshape() or .flatten(1) for the faster channels_last layout on the CPU")
            return False
        finally:
            model.train(was_training)
    return True


def fit(model: nn.Module, train_loader, test_loader, optimizer: torch.optim.Optimizer,
        device: torch.device | str, num_epochs: int, loss_fn: LossFn = F.nll_loss, scheduler=None,
        checkpoint_path: str | os.PathLike | None = None, progress: bool = True,
        log_interval: int | None = None, amp: bool = False,
        channels_last: bool = True, resume: bool = False) -> dict[str, list[float]]:
    """Train for ``num_epochs``, evaluating after each; returns the history (labs 02, 06-10).

    History keys: epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds (cumulative
    training time). ``checkpoint_path`` saves the state_dict after every epoch (atomically), and beside it
    ``<checkpoint_path>.train`` (optimizer, scheduler, epoch, history, random state); with ``resume=True`` a
    run that was interrupted (a Colab runtime that went away) continues after its last finished epoch, with
    the same batches as an uninterrupted run, instead of starting over.
    ``channels_last`` lets a CNN on the CPU train in NHWC layout (:func:`use_channels_last`): the same
    math in another memory layout, so it is on by default; False keeps the model's layout as it is.
    ``amp=True`` (off by default: it changes the numbers) trains in mixed precision on a CUDA GPU, in the
    dtype :func:`labhelpers.amp_dtype` picks for it; the progress bar says which precision is used.
    """
    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}")
    if channels_last:
        dataset = getattr(test_loader, "dataset", None)
        example = dataset[0][0] if dataset is not None and len(dataset) else None
        if isinstance(example, torch.Tensor) and example.dim() == 3:
            use_channels_last(model, device, example)
    history: dict[str, list[float]] = {k: [] for k in (
        "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds")}
    precision = precision_name(device, amp)
    scaler = make_scaler(device, amp)
    done = 0
    if resume:
        if checkpoint_path is None:
            raise ValueError("resume=True needs the checkpoint_path of the run to continue")
        done, history = _resume(Path(checkpoint_path), model, optimizer, scheduler, scaler, device, history)
        if done:
            print(f"resuming after epoch {done} of {num_epochs} from {checkpoint_path}")
    elapsed = history["seconds"][-1] if history["seconds"] else 0.0
    bar = _progress_bar(max(0, num_epochs - done) * len(train_loader), progress)
    try:
        for epoch in range(done + 1, num_epochs + 1):
            start = time.perf_counter()
            train = train_one_epoch(model, train_loader, optimizer, device, epoch, log_interval,
                                    loss_fn, scheduler, amp, bar, scaler)
            elapsed += time.perf_counter() - start
            test = evaluate(model, test_loader, device, loss_fn, amp)
            for key, value in (("epoch", epoch), ("train_loss", train["loss"]),
                               ("train_accuracy", train["accuracy"]), ("test_loss", test["loss"]),
                               ("test_accuracy", test["accuracy"]), ("seconds", elapsed)):
                history[key].append(value)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{train['loss']:.3f}",
                                test_acc=f"{test['accuracy']:.1f}%", precision=precision)
            if checkpoint_path is not None:
                save_checkpoint(model, checkpoint_path)
                state = {"epoch": epoch, "optimizer": optimizer.state_dict(), "history": history,
                         "scheduler": scheduler.state_dict() if scheduler is not None else None,
                         "scaler": scaler.state_dict() if scaler is not None else None,
                         "rng": torch.get_rng_state()}
                atomic_write(_train_state_path(checkpoint_path), lambda fp: torch.save(state, fp), fsync=True)
    finally:
        if bar is not None:
            bar.close()
    return history


def _train_state_path(checkpoint_path: str | os.PathLike) -> Path:
    return Path(f"{checkpoint_path}.train")


def _resume(path: Path, model: nn.Module, optimizer, scheduler, scaler, device, history: dict) -> tuple[int, dict]:
    """Load what ``fit`` saved after its last finished epoch; (epochs done, history). (0, history): nothing yet."""
    state_path = _train_state_path(path)
    if not (path.is_file() and state_path.is_file()):
        return 0, history
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])
    return int(state["epoch"]), {key: list(values) for key, values in state["history"].items()}


@torch.inference_mode()
def predict(model: nn.Module, X: torch.Tensor, device: torch.device | str,
            batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and class probabilities for a tensor of inputs, on the CPU (labs 02, 03)."""
    model.eval()
    probs = []
    for i in range(0, len(X), batch_size):
        out = model(X[i:i + batch_size].to(device)).float()   # (B, C) log-probabilities or logits
        probs.append(out.softmax(dim=1).cpu())
    probs_all = torch.cat(probs)                                # (N, C)
    return probs_all.argmax(dim=1), probs_all


def save_checkpoint(model: nn.Module | dict, path: str | os.PathLike) -> Path:
    """Save a state_dict atomically: write a temporary file, then rename it into place (lab 02).

    A crash mid-write leaves the previous checkpoint intact.
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if not isinstance(state, dict):
        raise TypeError(f"expected an nn.Module or a state_dict, got {type(model).__name__}")
    return atomic_write(path, lambda fp: torch.save(state, fp), fsync=True)


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    map_location: str | torch.device = "cpu"):
    """Load a state_dict saved by ``save_checkpoint`` (weights_only=True); into ``model`` if given (lab 02)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model first (fit(..., "
                                f"checkpoint_path={str(path)!r}) or save_checkpoint(model, path))")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if model is None:
        return state
    model.load_state_dict(state)
    return model
