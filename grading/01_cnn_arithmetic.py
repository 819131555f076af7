"""Hidden tests of lab 01 (CNN arithmetic: output size, convolution, pooling, parameters, LeNet shapes).

Instructor only: never released. Fresh random cases per submission; the references below run in the grader.
Every exercise asks for arithmetic or NumPy loops written by hand, so the library routines that would
compute its answer (a convolution or pooling layer run on zeros measures an output size, too) are
forbidden while the probes run, besides every labhelpers function (the guard's default; labhelpers.models
is exempt from that default, so its models and parameter counters are listed where they would answer).
"""
import numpy as np
import torch
import torch.nn.functional as F

from labkit.grading.guard import resolve
from labkit.grading.spec import Call, Exercise
from labkit.grading.verdict import compare, is_integer

LAB = "01_cnn_arithmetic"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 120, "notebook_timeout": 600}


# ----------------------------------------------------------------------------- references
def reference_output_size(n: int, k: int, p: int = 0, s: int = 1) -> int:
    """o = floor((n + 2p - k) / s) + 1, for integers."""
    return (n + 2 * p - k) // s + 1


def reference_conv2d(X: np.ndarray, kernel: np.ndarray, pad: int, stride: int) -> np.ndarray:
    """True 2-D convolution (float64): F.conv2d, a cross-correlation, of the kernel rotated by 180 degrees."""
    x = torch.from_numpy(np.asarray(X, dtype=np.float64))[None, None]               # (1, 1, H, W)
    k = torch.from_numpy(np.asarray(kernel, dtype=np.float64)[::-1, ::-1].copy())[None, None]  # copy: no negative strides
    return F.conv2d(x, k, padding=pad, stride=stride)[0, 0].numpy()                 # (oH, oW)


def reference_max_pool2d(X: np.ndarray, pool_size: int, stride: int) -> np.ndarray:
    """Max pooling (float64) with square windows, no padding, windows that do not fit dropped."""
    x = torch.from_numpy(np.asarray(X, dtype=np.float64))[None, None]               # (1, 1, H, W)
    return F.max_pool2d(x, pool_size, stride)[0, 0].numpy()                         # (oH, oW)


def reference_conv_params(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)."""
    return kernel_size * kernel_size * in_channels * out_channels + (out_channels if bias else 0)


def reference_lenet_shapes(n: int = 28) -> list[tuple[int, ...]]:
    """Shapes (no batch) of one n x n image through labhelpers.LeNet's conv part, measured: input .. flatten."""
    from labhelpers.models import LeNet

    model = LeNet()
    x = torch.zeros(1, 1, n, n)                                # (1, 1, n, n)
    shapes = [tuple(x.shape[1:])]
    with torch.no_grad():
        for step in (model.conv1, lambda t: F.max_pool2d(t, 2), model.conv2,
                     lambda t: F.max_pool2d(t, 2), lambda t: t.flatten(1)):
            x = step(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


# ----------------------------------------------------------------------------- what students write themselves
def _present(*paths: str) -> tuple[str, ...]:
    """The private paths this NumPy / SciPy has (their names move between versions). A public routine whose own
    code is short (np.correlate, scipy.ndimage.maximum_filter) is recognised by its identity only, so the
    function it calls is listed as well: the guard then also sees the call made from the public one."""
    found = []
    for path in paths:
        try:
            resolve(path)
        except (ImportError, AttributeError):
            continue
        found.append(path)
    return tuple(found)


# Library routines that run a convolution or pooling (and so also measure its output size).
CONV_LAYERS = ("torch.nn.modules.conv._ConvNd",)                  # nn.Conv1d/2d/3d, ConvTranspose: every method
POOL_LAYERS = ("torch.nn.modules.pooling._MaxPoolNd", "torch.nn.modules.pooling._AvgPoolNd")
SCIPY_CONV = ("scipy.signal.convolve", "scipy.signal.correlate", "scipy.signal.convolve2d", "scipy.signal.correlate2d",
              "scipy.signal.fftconvolve", "scipy.signal.oaconvolve", "scipy.ndimage.convolve", "scipy.ndimage.correlate",
              ) + _present("scipy.ndimage._filters._correlate_or_convolve")
NUMPY_CONV = ("numpy.convolve", "numpy.correlate") + (_present("numpy._core.multiarray.correlate",
                                                               "numpy._core.multiarray.correlate2")
                                                      or _present("numpy.core.multiarray.correlate",
                                                                  "numpy.core.multiarray.correlate2"))
TORCH_CONV = ("torch.nn.functional.conv1d", "torch.nn.functional.conv2d", "torch.nn.functional.conv3d",
              "torch.nn.functional.conv_transpose1d", "torch.nn.functional.conv_transpose2d")
TORCH_MAX_POOL = ("torch.nn.functional.max_pool1d", "torch.nn.functional.max_pool2d", "torch.max_pool1d",
                  "torch.max_pool2d", "torch.nn.functional.max_pool2d_with_indices",
                  "torch.nn.functional.adaptive_max_pool2d", "torch.nn.functional.fractional_max_pool2d")
WINDOW_COUNTERS = ("torch.nn.functional.unfold", "torch.Tensor.unfold",        # the number of windows is the
                   "numpy.lib.stride_tricks.sliding_window_view")                # output size
OUTPUT_SIZE_FORBIDDEN = (CONV_LAYERS + POOL_LAYERS + TORCH_CONV + TORCH_MAX_POOL + WINDOW_COUNTERS + NUMPY_CONV
                         + SCIPY_CONV + ("torch.nn.functional.avg_pool1d", "torch.nn.functional.avg_pool2d"))
CONV2D_FORBIDDEN = CONV_LAYERS + TORCH_CONV + SCIPY_CONV + NUMPY_CONV
MAX_POOL_FORBIDDEN = POOL_LAYERS + TORCH_MAX_POOL + ("scipy.ndimage.maximum_filter", "skimage.measure.block_reduce",
                                                     ) + _present("scipy.ndimage._filters._min_or_max_filter")
LABHELPERS_MODELS = ("labhelpers.models.LeNet", "labhelpers.models.NetCNN", "labhelpers.models.LeNetModified")
PARAM_COUNTERS = ("labhelpers.models.count_parameters", "labhelpers.models.model_summary")
# lenet_shapes: F.conv2d and F.max_pool2d are left out on purpose: the source check matches an entry's last
# name, so a lenet_shapes that runs the student's own conv2d / max_pool2d on zeros would count as forbidden.
LENET_FORBIDDEN = LABHELPERS_MODELS + PARAM_COUNTERS + CONV_LAYERS + POOL_LAYERS


# ----------------------------------------------------------------------------- probes
def _must_be_int(call: Call, response: dict) -> str | None:
    if not is_integer(response.get("value")):
        return "return an int (use // so the result stays an integer)"
    return None


def _size_probes(rng):
    calls = []
    for _ in range(8):
        n, k = int(rng.integers(5, 65)), int(rng.integers(1, 8))
        p, s = int(rng.integers(0, 4)), int(rng.integers(1, 5))
        k = min(k, n + 2 * p)
        calls.append(Call((n, k, p, s), label=f"n={n}, k={k}, p={p}, s={s}"))
    return calls


def _conv_probes(rng):
    calls = []
    for _ in range(4):
        H, W = int(rng.integers(4, 10)), int(rng.integers(4, 10))
        pad, stride = int(rng.integers(0, 3)), int(rng.integers(1, 4))
        kH, kW = int(rng.integers(1, min(H + 2 * pad, 5) + 1)), int(rng.integers(1, min(W + 2 * pad, 5) + 1))
        calls.append(Call((rng.standard_normal((H, W)), rng.standard_normal((kH, kW)), pad, stride),
                          label=f"X ({H}, {W}), kernel ({kH}, {kW}), pad={pad}, stride={stride}"))
    return calls


def _pool_probes(rng):
    calls = []
    for _ in range(4):
        H, W = int(rng.integers(4, 11)), int(rng.integers(4, 11))
        size, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        calls.append(Call((rng.standard_normal((H, W)), size, stride),
                          label=f"X ({H}, {W}), pool_size={size}, stride={stride}"))
    return calls


def _param_probes(rng):
    calls = []
    for bias in (True, False, bool(rng.integers(0, 2))):
        c_in, c_out, k = int(rng.integers(1, 257)), int(rng.integers(1, 257)), int(rng.integers(1, 8))
        calls.append(Call((c_in, c_out, k), {"bias": bias},
                          label=f"nn.Conv2d({c_in}, {c_out}, {k}, bias={bias})"))
    return calls


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
             _size_probes, reference_output_size, atol=0, rtol=0, verify=_must_be_int,
             forbidden=OUTPUT_SIZE_FORBIDDEN),
    Exercise("conv2d", 2, "pad X, rotate the kernel by 180 degrees, then out[i, j] = sum(window * rotated kernel) "
             "with windows starting at (i * stride, j * stride)", _conv_probes, reference_conv2d,
             forbidden=CONV2D_FORBIDDEN),
    Exercise("max_pool2d", 2, "out[i, j] = max of the pool_size x pool_size window starting at "
             "(i * stride, j * stride); windows that do not fit are dropped", _pool_probes, reference_max_pool2d,
             forbidden=MAX_POOL_FORBIDDEN),
    Exercise("conv_params", 2, "k * k * in_channels * out_channels weights, plus out_channels biases when bias=True",
             _param_probes, reference_conv_params, atol=0, rtol=0, verify=_must_be_int,
             forbidden=CONV_LAYERS + PARAM_COUNTERS + ("torch.nn.Conv2d",)),
    Exercise("lenet_shapes", 2, "input (1, n, n); conv 5x5: side - 4; pool 2x2: side // 2; twice (20 then 50 "
             "channels); then (50 * side * side,)", _lenet_probes, reference_lenet_shapes,
             compare=_shapes_compare, forbidden=LENET_FORBIDDEN),
]
