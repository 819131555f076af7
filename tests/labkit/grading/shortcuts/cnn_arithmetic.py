"""Shortcut answers for lab 01: each computes a graded answer through something the student already has
(a public labhelpers helper: conv1d_numpy, LeNet, NetCNN, count_parameters; or the PyTorch / SciPy / NumPy
routine the exercise asks to write by hand), reached through an alias, getattr with a built string,
importlib or sys.modules. Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py)."""
import importlib
import sys

import numpy as np
import torch

LAB = "01_cnn_arithmetic"

F = importlib.import_module("torch.nn." + "functional")
nn = sys.modules["torch"].nn
Conv = getattr(nn, "Conv" + "2d")                          # an alias of nn.Conv2d made outside the exercise


def _lh(module: str = ""):
    return importlib.import_module("labh" + "elpers" + module)


# ----------------------------------------------------------------------------- output_size
def output_size_via_conv1d_numpy(n, k, p=0, s=1):
    return len(getattr(_lh(), "conv1d" + "_numpy")(np.zeros(n), np.zeros(k), p, s))


def output_size_via_f_conv1d(n, k, p=0, s=1):
    conv1d = getattr(F, "conv" + "1d")
    return int(conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), padding=p, stride=s).shape[-1])


def output_size_via_unfold(n, k, p=0, s=1):
    return int(torch.zeros(n + 2 * p).unfold(0, k, s).shape[0])          # the number of windows


def output_size_via_sliding_window_view(n, k, p=0, s=1):
    windows = importlib.import_module("numpy.lib.stride_tricks").sliding_window_view(np.zeros(n + 2 * p), k)
    return len(windows[::s])


def output_size_via_max_pool_layer(n, k, p=0, s=1):
    pool = nn.MaxPool1d(k, stride=s, padding=0)
    return int(pool(torch.zeros(1, 1, n + 2 * p)).shape[-1])


# ----------------------------------------------------------------------------- conv2d
def conv2d_via_f_conv2d(X, kernel, pad, stride):
    flipped = torch.from_numpy(kernel[::-1, ::-1].copy())[None, None]
    return getattr(F, "conv" + "2d")(torch.from_numpy(X)[None, None], flipped, padding=pad, stride=stride)[0, 0].numpy()


def conv2d_via_scipy(X, kernel, pad, stride):
    convolve2d = importlib.import_module("scipy.signal").convolve2d
    return convolve2d(np.pad(X, pad), kernel, mode="valid")[::stride, ::stride]


def conv2d_via_conv1d_numpy_rows(X, kernel, pad, stride):
    """A 2-D convolution as sums of lh.conv1d_numpy along the rows of the padded X."""
    conv1d = getattr(_lh(".numpy_ref"), "conv1d_" + "numpy")
    Xp, (k_x, _) = np.pad(X, pad), kernel.shape
    rows = range(0, Xp.shape[0] - k_x + 1, stride)
    return np.array([sum(conv1d(Xp[i + a], kernel[k_x - 1 - a], 0, stride) for a in range(k_x)) for i in rows])


def conv2d_via_np_correlate_rows(X, kernel, pad, stride):
    """Row by row with NumPy's 1-D np.correlate (a short wrapper of a C routine) and the rotated kernel."""
    Xp, rotated, (k_x, _) = np.pad(X, pad), kernel[::-1, ::-1], kernel.shape
    rows = range(0, Xp.shape[0] - k_x + 1, stride)
    return np.array([sum(np.correlate(Xp[i + a], rotated[a], "valid")[::stride] for a in range(k_x)) for i in rows])


def conv2d_via_np_convolve_rows(X, kernel, pad, stride):
    Xp, (k_x, _) = np.pad(X, pad), kernel.shape
    rows = range(0, Xp.shape[0] - k_x + 1, stride)
    return np.array([sum(np.convolve(Xp[i + a], kernel[k_x - 1 - a], "valid")[::stride] for a in range(k_x))
                     for i in rows])


def conv2d_via_ndimage(X, kernel, pad, stride):
    """scipy.ndimage.correlate centres the (rotated) kernel: window [i, i + k) is centred at i + k // 2."""
    Xp, (k_x, k_y) = np.pad(X, pad), kernel.shape
    full = importlib.import_module("scipy.ndimage").correlate(Xp, kernel[::-1, ::-1], mode="constant")
    return full[k_x // 2:Xp.shape[0] - k_x + k_x // 2 + 1:stride, k_y // 2:Xp.shape[1] - k_y + k_y // 2 + 1:stride]


def conv2d_via_conv_layer(X, kernel, pad, stride):
    layer = Conv(1, 1, kernel.shape, padding=pad, stride=stride, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel[::-1, ::-1].copy())[None, None])
        return layer(torch.from_numpy(X)[None, None])[0, 0].numpy()


# ----------------------------------------------------------------------------- max_pool2d
def max_pool2d_via_f_max_pool2d(X, pool_size, stride):
    pool = sys.modules["torch"].nn.functional.max_pool2d
    return pool(torch.from_numpy(X)[None, None], pool_size, stride)[0, 0].numpy()


def max_pool2d_via_layer(X, pool_size, stride):
    return getattr(nn, "MaxPool" + "2d")(pool_size, stride)(torch.from_numpy(X)[None, None])[0, 0].numpy()


def max_pool2d_via_minimum_filter(X, pool_size, stride):
    minima = importlib.import_module("scipy.ndimage").minimum_filter(-X, size=pool_size, mode="nearest")
    half, (H, W) = pool_size // 2, X.shape
    return -minima[half:H - pool_size + half + 1:stride, half:W - pool_size + half + 1:stride]


def max_pool2d_via_maximum_filter(X, pool_size, stride):
    maxima = importlib.import_module("scipy.ndimage").maximum_filter(X, size=pool_size, mode="nearest")
    half, (H, W) = pool_size // 2, X.shape                   # window [i, i + k) is centred at i + k // 2
    return maxima[half:H - pool_size + half + 1:stride, half:W - pool_size + half + 1:stride]


# ----------------------------------------------------------------------------- conv_params
def conv_params_via_layer(in_channels, out_channels, kernel_size, bias=True):
    return sum(p.numel() for p in Conv(in_channels, out_channels, kernel_size, bias=bias).parameters())


def conv_params_via_count_parameters(in_channels, out_channels, kernel_size, bias=True):
    count = getattr(_lh(".models"), "count_" + "parameters")    # labhelpers.models is exempt by default
    return count(nn.Linear(kernel_size * kernel_size * in_channels, out_channels, bias=bias))


# ----------------------------------------------------------------------------- lenet_shapes
def _measured(conv1, conv2, n):
    x, shapes = torch.zeros(1, 1, n, n), [(1, n, n)]
    with torch.no_grad():
        for step in (conv1, lambda t: t[..., ::2, ::2][..., :t.shape[-2] // 2, :t.shape[-1] // 2], conv2,
                     lambda t: t[..., ::2, ::2][..., :t.shape[-2] // 2, :t.shape[-1] // 2], lambda t: t.flatten(1)):
            x = step(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def lenet_shapes_via_lenet(n):
    model = getattr(_lh(".models"), "Le" + "Net")()         # labhelpers.models is exempt by default
    return _measured(model.conv1, model.conv2, n)


def lenet_shapes_via_netcnn(n):
    model = sys.modules["labhelpers"].NetCNN()
    return _measured(model.conv1, model.conv2, n)


def lenet_shapes_via_conv_layers(n):
    return _measured(Conv(1, 20, 5), Conv(20, 50, 5), n)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "output_size": [("lh.conv1d_numpy's length via getattr", output_size_via_conv1d_numpy),
                    ("F.conv1d on zeros via getattr", output_size_via_f_conv1d),
                    ("Tensor.unfold counts the windows", output_size_via_unfold),
                    ("sliding_window_view via importlib", output_size_via_sliding_window_view),
                    ("nn.MaxPool1d on zeros", output_size_via_max_pool_layer)],
    "conv2d": [("F.conv2d, flipped kernel, via getattr", conv2d_via_f_conv2d),
               ("scipy.signal.convolve2d via importlib", conv2d_via_scipy),
               ("lh.conv1d_numpy row by row", conv2d_via_conv1d_numpy_rows),
               ("np.correlate row by row", conv2d_via_np_correlate_rows),
               ("np.convolve row by row", conv2d_via_np_convolve_rows),
               ("scipy.ndimage.correlate via importlib", conv2d_via_ndimage),
               ("an aliased nn.Conv2d layer", conv2d_via_conv_layer)],
    "max_pool2d": [("F.max_pool2d via sys.modules", max_pool2d_via_f_max_pool2d),
                   ("nn.MaxPool2d via getattr", max_pool2d_via_layer),
                   ("scipy.ndimage.maximum_filter via importlib", max_pool2d_via_maximum_filter),
                   ("scipy.ndimage.minimum_filter of -X", max_pool2d_via_minimum_filter)],
    "conv_params": [("an aliased nn.Conv2d's parameters", conv_params_via_layer),
                    ("lh.count_parameters via getattr", conv_params_via_count_parameters)],
    "lenet_shapes": [("lh.LeNet's layers via getattr", lenet_shapes_via_lenet),
                     ("lh.NetCNN via sys.modules", lenet_shapes_via_netcnn),
                     ("aliased nn.Conv2d layers", lenet_shapes_via_conv_layers)],
}
