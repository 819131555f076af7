"""Tests for labhelpers.checks.cnn_arithmetic: each check passes the reference answer and fails wrong ones."""
import numpy as np
import pytest
import torch

from labhelpers.checks.cnn_arithmetic import (check_conv2d, check_conv_output_size, check_conv_params,
                                   check_lenet_shapes, check_max_pool2d, lenet_reference_shapes)
from labhelpers.numpy_ref import conv2d_numpy, conv_output_size, correlate2d_numpy, max_pool2d_numpy

LENET_28 = [(1, 28, 28), (20, 24, 24), (20, 12, 12), (50, 8, 8), (50, 4, 4), (800,)]


def _todo(*args, **kwargs):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def conv2d(X, kernel, pad, stride):
    return conv2d_numpy(X, kernel, pad=pad, stride=stride)


def conv_params(in_channels, out_channels, kernel_size, bias=True):
    return (kernel_size * kernel_size * in_channels + int(bias)) * out_channels


def lenet_shapes(n):
    shapes = [(1, n, n)]
    size = n
    for filters in (20, 50):
        size = conv_output_size(size, 5)
        shapes.append((filters, size, size))
        size = conv_output_size(size, 2, 0, 2)
        shapes.append((filters, size, size))
    shapes.append((50 * size * size,))
    return shapes


# ---- not implemented yet: every check says so and returns False ------------------------------

@pytest.mark.parametrize("check", [check_conv_output_size, check_conv2d, check_max_pool2d,
                                   check_conv_params, check_lenet_shapes])
def test_checks_report_not_implemented(check, capsys):
    assert check(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_conv_output_size -----------------------------------------------------------------

def test_conv_output_size_accepts_reference(capsys):
    assert check_conv_output_size(conv_output_size) is True
    assert "[OK] conv_output_size" in capsys.readouterr().out


def test_conv_output_size_rejects_missing_plus_one(capsys):
    assert check_conv_output_size(lambda n, k, p, s: (n + 2 * p - k) // s) is False
    assert "+ 1" in capsys.readouterr().out


def test_conv_output_size_rejects_rounding_up():
    assert check_conv_output_size(lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1) is False


def test_conv_output_size_rejects_float_result(capsys):
    assert check_conv_output_size(lambda n, k, p, s: (n + 2 * p - k) / s + 1) is False
    assert "return an int" in capsys.readouterr().out


def test_conv_output_size_rejects_hard_coded_answer():
    assert check_conv_output_size(lambda n, k, p, s: 24) is False


# ---- check_conv2d ---------------------------------------------------------------------------

def test_conv2d_accepts_reference(capsys):
    assert check_conv2d(conv2d) is True
    assert "[OK] conv2d" in capsys.readouterr().out


def test_conv2d_accepts_a_tensor_result():
    assert check_conv2d(lambda X, K, p, s: torch.from_numpy(conv2d(X, K, p, s))) is True


def test_conv2d_rejects_cross_correlation_with_flip_hint(capsys):
    assert check_conv2d(lambda X, K, p, s: correlate2d_numpy(X, K, pad=p, stride=s)) is False
    assert "rotate the kernel" in capsys.readouterr().out


def test_conv2d_rejects_ignoring_stride(capsys):
    assert check_conv2d(lambda X, K, p, s: conv2d_numpy(X, K, pad=p, stride=1)) is False
    assert "expected" in capsys.readouterr().out


def test_conv2d_rejects_ignoring_padding():
    assert check_conv2d(lambda X, K, p, s: conv2d_numpy(X, K, pad=0, stride=s)) is False


def test_conv2d_rejects_a_non_array(capsys):
    assert check_conv2d(lambda X, K, p, s: None) is False
    assert "2-D NumPy array" in capsys.readouterr().out


def test_conv2d_reports_student_exception(capsys):
    assert check_conv2d(lambda X, K, p, s: X[100]) is False
    assert "your code raised IndexError" in capsys.readouterr().out


# ---- check_max_pool2d -----------------------------------------------------------------------

def test_max_pool2d_accepts_reference(capsys):
    assert check_max_pool2d(max_pool2d_numpy) is True
    assert "[OK] max_pool2d" in capsys.readouterr().out


def test_max_pool2d_rejects_average_pooling(capsys):
    def avg_pool(X, pool_size, stride):
        o_x, o_y = (X.shape[0] - pool_size) // stride + 1, (X.shape[1] - pool_size) // stride + 1
        return np.array([[X[i * stride:i * stride + pool_size, j * stride:j * stride + pool_size].mean()
                          for j in range(o_y)] for i in range(o_x)])
    assert check_max_pool2d(avg_pool) is False
    assert "average pooling" in capsys.readouterr().out


def test_max_pool2d_rejects_stride_equal_to_pool_size_always():
    # correct only when stride == pool_size: the overlapping cases must catch it
    assert check_max_pool2d(lambda X, pool_size, stride: max_pool2d_numpy(X, pool_size, pool_size)) is False


def test_max_pool2d_rejects_subsampling_without_max():
    assert check_max_pool2d(lambda X, pool_size, stride: X[::stride, ::stride]) is False


# ---- check_conv_params ----------------------------------------------------------------------

def test_conv_params_accepts_reference(capsys):
    assert check_conv_params(conv_params) is True
    assert "[OK] conv_params" in capsys.readouterr().out


def test_conv_params_rejects_forgotten_bias(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * k * i * o) is False
    assert "add the biases" in capsys.readouterr().out


def test_conv_params_rejects_ignoring_bias_flag(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: (k * k * i + 1) * o) is False
    assert "bias=False" in capsys.readouterr().out


def test_conv_params_rejects_one_filter_only(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * k * i + int(bias)) is False
    assert "out_channels filters" in capsys.readouterr().out


def test_conv_params_rejects_missing_bias_argument(capsys):
    assert check_conv_params(lambda i, o, k: (k * k * i + 1) * o) is False
    assert "your code raised TypeError" in capsys.readouterr().out


# ---- check_lenet_shapes ---------------------------------------------------------------------

def test_lenet_reference_shapes_match_the_slides():
    assert lenet_reference_shapes(28) == LENET_28


def test_lenet_shapes_accepts_reference_function(capsys):
    assert check_lenet_shapes(lenet_shapes) is True
    assert "[OK] lenet_shapes" in capsys.readouterr().out


def test_lenet_shapes_accepts_a_plain_list_with_int_and_size_items():
    answer = [torch.Size([1, 28, 28]), [20, 24, 24], (20, 12, 12), (50, 8, 8), (50, 4, 4), 800]
    assert check_lenet_shapes(answer) is True


def test_lenet_shapes_rejects_wrong_pool_size(capsys):
    wrong = LENET_28[:4] + [(50, 5, 5), (1250,)]
    assert check_lenet_shapes(wrong) is False
    assert "(50, 4, 4)" in capsys.readouterr().out


def test_lenet_shapes_rejects_hard_coded_function():
    assert check_lenet_shapes(lambda n: LENET_28) is False


def test_lenet_shapes_rejects_missing_layers(capsys):
    assert check_lenet_shapes(LENET_28[1:]) is False
    assert "6 shapes" in capsys.readouterr().out


def test_lenet_shapes_rejects_non_list(capsys):
    assert check_lenet_shapes("800") is False
    assert "a list of 6 shapes" in capsys.readouterr().out
