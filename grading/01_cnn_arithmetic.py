"""Hidden tests of lab 01 (CNN arithmetic: output size, convolution, pooling, parameters, LeNet shapes).

Instructor only: never released. Fresh random cases per submission; references run in the grader.
"""
import numpy as np

from labhelpers.checks.cnn_arithmetic import lenet_reference_shapes
from labkit.grading.spec import Call, Exercise
from labkit.grading.verdict import compare, is_integer
from labhelpers.numpy_ref import conv2d_numpy, conv_output_size, max_pool2d_numpy

LAB = "01_cnn_arithmetic"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}


def _must_be_int(call: Call, response: dict) -> str | None:
    if not is_integer(response.get("value")):
        return "return an int (use // so the result stays an integer)"
    return None


# ----------------------------------------------------------------------------- exercise 1
def _size_probes(rng):
    calls = []
    for _ in range(8):
        n, k = int(rng.integers(5, 65)), int(rng.integers(1, 8))
        p, s = int(rng.integers(0, 4)), int(rng.integers(1, 5))
        k = min(k, n + 2 * p)
        calls.append(Call((n, k, p, s), label=f"n={n}, k={k}, p={p}, s={s}"))
    return calls


# ----------------------------------------------------------------------------- exercise 2
def _conv_probes(rng):
    calls = []
    for _ in range(4):
        H, W = int(rng.integers(4, 10)), int(rng.integers(4, 10))
        pad, stride = int(rng.integers(0, 3)), int(rng.integers(1, 4))
        kH, kW = int(rng.integers(1, min(H + 2 * pad, 5) + 1)), int(rng.integers(1, min(W + 2 * pad, 5) + 1))
        calls.append(Call((rng.standard_normal((H, W)), rng.standard_normal((kH, kW)), pad, stride),
                          label=f"X ({H}, {W}), kernel ({kH}, {kW}), pad={pad}, stride={stride}"))
    return calls


# ----------------------------------------------------------------------------- exercise 3
def _pool_probes(rng):
    calls = []
    for _ in range(4):
        H, W = int(rng.integers(4, 11)), int(rng.integers(4, 11))
        size, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        calls.append(Call((rng.standard_normal((H, W)), size, stride),
                          label=f"X ({H}, {W}), pool_size={size}, stride={stride}"))
    return calls


# ----------------------------------------------------------------------------- exercise 4
def _param_probes(rng):
    calls = []
    for bias in (True, False, bool(rng.integers(0, 2))):
        c_in, c_out, k = int(rng.integers(1, 257)), int(rng.integers(1, 257)), int(rng.integers(1, 8))
        calls.append(Call((c_in, c_out, k), {"bias": bias},
                          label=f"nn.Conv2d({c_in}, {c_out}, {k}, bias={bias})"))
    return calls


def _param_reference(in_channels, out_channels, kernel_size, bias=True):
    return kernel_size * kernel_size * in_channels * out_channels + (out_channels if bias else 0)


# ----------------------------------------------------------------------------- exercise 5
def _lenet_probes(rng):
    sizes = [int(n) for n in rng.choice(np.arange(16, 65), size=3, replace=False)]
    return [Call((n,), label=f"n={n}") for n in sizes]


def _shapes_compare(got, want) -> str | None:
    """Like the public check: a bare int is accepted for the flatten's (features,)."""
    if isinstance(got, dict) and "__seq__" in got:
        items = [{"__seq__": [item], "type": "tuple"} if is_integer(item) else item for item in got["__seq__"]]
        got = {"__seq__": items, "type": "list"}
    return compare(got, want, atol=0, rtol=0)


EXERCISES = [
    Exercise("output_size", 2, "o = (n + 2p - k) // s + 1, returned as an int",
             _size_probes, conv_output_size, atol=0, rtol=0, verify=_must_be_int,
             forbidden=("conv_output_size",)),
    Exercise("conv2d", 2, "pad X, rotate the kernel by 180 degrees, then out[i, j] = sum(window * rotated kernel) "
             "with windows starting at (i * stride, j * stride)", _conv_probes, conv2d_numpy,
             forbidden=("conv2d_numpy", "correlate2d_numpy", "convolve2d", "correlate2d", "convolve", "Conv2d",
                        ".conv2d")),
    Exercise("max_pool2d", 2, "out[i, j] = max of the pool_size x pool_size window starting at "
             "(i * stride, j * stride); windows that do not fit are dropped", _pool_probes, max_pool2d_numpy,
             forbidden=("max_pool2d_numpy", "MaxPool2d", ".max_pool2d")),
    Exercise("conv_params", 2, "k * k * in_channels * out_channels weights, plus out_channels biases when bias=True",
             _param_probes, _param_reference, atol=0, rtol=0, verify=_must_be_int,
             forbidden=("Conv2d", "count_parameters")),
    Exercise("lenet_shapes", 2, "input (1, n, n); conv 5x5: side - 4; pool 2x2: side // 2; twice (20 then 50 "
             "channels); then (50 * side * side,)", _lenet_probes, lenet_reference_shapes,
             compare=_shapes_compare),
]
