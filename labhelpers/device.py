"""Device selection, a readable device report, seeding and threads (every lab; lab 00 explains them)."""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch


def in_colab() -> bool:
    """True when running inside Google Colab (lab 00 and the Colab set-up cells use it)."""
    return "google.colab" in sys.modules


def get_device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU (every lab)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def amp_dtype(device: torch.device | str | None = None,
              capability: tuple[int, int] | None = None) -> torch.dtype | None:
    """The autocast dtype of mixed precision (``amp=True``) on ``device``, or None for float32 (labs 02, 07, 10).

    bfloat16 on CUDA GPUs of compute capability 8.0 and up (A100, L4, H100: fast bfloat16); float16 below
    (Colab's free T4 is 7.5 and has no fast bfloat16; float16 needs a GradScaler, which ``fit`` adds);
    None on a CPU or Apple GPU. ``capability`` overrides what the GPU reports (tests).
    """
    device = torch.device(device) if device is not None else get_device()
    if device.type != "cuda":
        return None
    major, minor = capability if capability is not None else torch.cuda.get_device_capability(device)
    return torch.bfloat16 if (major, minor) >= (8, 0) else torch.float16


def precision_name(device: torch.device | str | None = None, amp: bool = False,
                   capability: tuple[int, int] | None = None) -> str:
    """'float32', or the mixed precision ``amp=True`` uses on ``device`` ('bfloat16 autocast', ...)."""
    dtype = amp_dtype(device, capability) if amp else None
    if dtype is None:
        return "float32"
    return "bfloat16 autocast" if dtype == torch.bfloat16 else "float16 autocast + GradScaler"


def describe_device(device: torch.device | str | None = None) -> str:
    """One paragraph on the device in use: name, memory, torch version, and what to do next (lab 00)."""
    device = torch.device(device) if device is not None else get_device()
    parts = [f"PyTorch {torch.__version__}"]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        parts.append(
            f"running on GPU {props.name} with {props.total_memory / 2**30:.1f} GiB of memory "
            f"(CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s) visible, compute capability "
            f"{props.major}.{props.minor}: mixed precision (amp=True) would use {precision_name(device, True)})."
        )
    elif device.type == "mps":
        parts.append("running on the Apple-silicon GPU (MPS backend).")
    else:
        parts.append(f"running on the CPU with {torch.get_num_threads()} thread(s) "
                     f"({os.cpu_count()} logical cores).")
        if in_colab():
            parts.append("No GPU is attached to this Colab runtime: choose Runtime > Change runtime "
                         "type > Hardware accelerator: GPU (e.g. T4), then Runtime > Restart and run "
                         "all. The labs also run on the CPU, only more slowly.")
        else:
            parts.append("No CUDA or MPS GPU was found; the labs run on the CPU (smaller settings "
                         "are used where it matters).")
    return " ".join(parts)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and make cuDNN deterministic (every lab)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def set_threads(num_threads: int | None = None) -> int:
    """Use one torch thread per available core (CPU speed; bench and labs); returns the count."""
    if num_threads is None:
        try:
            num_threads = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            num_threads = os.cpu_count() or 1
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    torch.set_num_threads(num_threads)
    return num_threads
