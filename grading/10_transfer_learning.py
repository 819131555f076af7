"""Hidden tests of lab 10 (transfer learning: digits prepared for a pretrained model).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
Only to_model_input is graded here. capture_activation, pooled_features and prepare_for_finetuning
cannot be probed through the codec yet: they need a layer that belongs to the model passed beside it
(each Model(...) input is a separate object), a network with EfficientNet's anatomy (extract_features,
_blocks, _conv_head, _bn1, _fc; Model() builds only the MNIST models), and, for the last, the
requires_grad flags of the returned model, which do not travel back. The notebook's self-checks cover them.
"""
import numpy as np
import torch

from labhelpers.checks.transfer import reference_model_input
from labhelpers.instructor.codec import encode
from labhelpers.instructor.hidden import Call, Exercise
from labhelpers.instructor.verdict import as_array, compare, describe, kind

LAB = "10_transfer_learning"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900}


def _input_probes(rng):
    calls = []
    for size in (28, int(rng.integers(29, 64)), int(rng.integers(64, 113))):
        n = int(rng.integers(1, 5))
        X = torch.from_numpy(rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8))
        X[:, :, : int(rng.integers(0, 5))] = 0                          # a black border, like MNIST
        calls.append(Call((X, size), report_args=True, label=f"{n} uint8 digits (random pixels), size={size}"))
    return calls


def _input_compare(got, want) -> str | None:
    """Like the public check: any bilinear resize passes (largest |difference| below 0.05)."""
    if kind(got) != "tensor" or "float" not in got["dtype"]:
        return f"expected a float torch tensor, received {describe(got)}"
    g, w = as_array(got), as_array(want)
    if g.shape != w.shape:
        return f"expected shape {w.shape} (N, 3, size, size), received shape {g.shape}"
    error = np.abs(g - w).max()
    if not error < 0.05:
        return f"values too far from [0, 1] scaling, bilinear resize, grey to RGB, (x - 0.5) / 0.5 " \
               f"(largest difference {error:.3g}; yours range from {g.min():.2f} to {g.max():.2f})"
    return None


def _x_unchanged(call: Call, response: dict) -> str | None:
    after = (response.get("args_after") or [None])[0]
    return "X was modified in place; work on a new tensor" if compare(after, encode(call.args[0]), 0, 0) else None


EXERCISES = [
    Exercise("to_model_input", 2, "Scale the uint8 values to [0, 1] as floats, add a channel dimension, resize "
             "bilinearly to size x size, copy the grey channel into three (RGB), then map [0, 1] to [-1, 1] with "
             "(x - 0.5) / 0.5, leaving X itself untouched.", _input_probes, reference_model_input,
             compare=_input_compare, verify=_x_unchanged),
]
