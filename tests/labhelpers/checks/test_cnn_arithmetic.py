"""Tests for labhelpers.checks.cnn_arithmetic: each check passes a correct answer and fails wrong ones.

conv2d, max_pool2d and conv_params are compared with PyTorch; output_size and lenet_shapes with the solution's
stored answers (labhelpers/checks/expected/01_cnn_arithmetic.json), so these tests also prove that file
current and right. The generic behaviours (not implemented, raising, None, skipped while graded) are in
test_contract.py.
"""
import numpy as np
import torch
import torch.nn.functional as F

from labhelpers.checks.cnn_arithmetic import (check_conv2d, check_conv_output_size, check_conv_params,
                                              check_lenet_shapes, check_max_pool2d)

LENET_28 = [(1, 28, 28), (20, 24, 24), (20, 12, 12), (50, 8, 8), (50, 4, 4), (800,)]


# ---- correct answers (what the solution notebook does; instructor-side fixtures) -------------

def output_size(n, k, p=0, s=1):
    return (n + 2 * p - k) // s + 1


def _correlate(X, kernel, pad, stride):
    """Cross-correlation by loops (a wrong answer for conv2d, and the core of the right one)."""
    X = np.pad(X, pad)
    k_x, k_y = kernel.shape
    out = np.zeros(((X.shape[0] - k_x) // stride + 1, (X.shape[1] - k_y) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(X[i * stride:i * stride + k_x, j * stride:j * stride + k_y] * kernel)
    return out


def conv2d(X, kernel, pad, stride):
    return _correlate(X, kernel[::-1, ::-1], pad, stride)


def max_pool2d(X, pool_size, stride):
    out = np.zeros(((X.shape[0] - pool_size) // stride + 1, (X.shape[1] - pool_size) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = X[i * stride:i * stride + pool_size, j * stride:j * stride + pool_size].max()
    return out


def conv_params(in_channels, out_channels, kernel_size, bias=True):
    return (kernel_size * kernel_size * in_channels + int(bias)) * out_channels


def lenet_shapes(n):
    shapes = [(1, n, n)]
    size = n
    for filters in (20, 50):
        size = output_size(size, 5)
        shapes.append((filters, size, size))
        size = output_size(size, 2, 0, 2)
        shapes.append((filters, size, size))
    shapes.append((50 * size * size,))
    return shapes


# ---- check_conv_output_size -----------------------------------------------------------------

def test_conv_output_size_accepts_a_correct_answer(capsys):
    assert check_conv_output_size(output_size) is True
    assert "[OK] conv_output_size" in capsys.readouterr().out


def test_conv_output_size_accepts_numpy_ints():
    assert check_conv_output_size(lambda n, k, p, s: np.int64(output_size(n, k, p, s))) is True


def test_conv_output_size_rejects_missing_plus_one(capsys):
    assert check_conv_output_size(lambda n, k, p, s: (n + 2 * p - k) // s) is False
    assert "+ 1" in capsys.readouterr().out


def test_conv_output_size_rejects_one_sided_padding(capsys):
    assert check_conv_output_size(lambda n, k, p, s: (n + p - k) // s + 1) is False
    assert "both sides" in capsys.readouterr().out


def test_conv_output_size_rejects_rounding_up(capsys):
    assert check_conv_output_size(lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1) is False
    assert "round down" in capsys.readouterr().out


def test_conv_output_size_names_forgotten_padding_not_the_plus_one(capsys):
    # issue 15: the first failing case (n=5, k=3, p=1, s=2) gives 2 for both mistakes; the other cases do not
    assert check_conv_output_size(lambda n, k, p, s: (n - k) // s + 1) is False
    out = capsys.readouterr().out
    assert "left out the padding" in out and "+ 1" not in out.split("hint:")[1]


def test_conv_output_size_rejects_a_missing_stride(capsys):
    assert check_conv_output_size(lambda n, k, p, s: n + 2 * p - k + 1) is False
    assert "the stride is missing" in capsys.readouterr().out


def test_conv_output_size_names_no_mistake_for_two_at_once(capsys):
    assert check_conv_output_size(lambda n, k, p, s: (n - k) // s) is False   # no padding and no + 1
    hint = capsys.readouterr().out.split("hint:")[1]
    assert "o = floor((n + 2p - k) / s) + 1" in hint


def test_conv_output_size_cases_tell_every_named_mistake_apart():
    from labhelpers.checks.cnn_arithmetic import _SIZE_CASES, _SIZE_MISTAKES
    variants = [output_size] + [variant for _, variant in _SIZE_MISTAKES]
    for i, first in enumerate(variants):
        for second in variants[i + 1:]:
            assert any(first(*case) != second(*case) for case in _SIZE_CASES)


def test_conv_output_size_rejects_float_result(capsys):
    assert check_conv_output_size(lambda n, k, p, s: (n + 2 * p - k) / s + 1) is False
    assert "return an int" in capsys.readouterr().out


def test_conv_output_size_rejects_hard_coded_answer():
    assert check_conv_output_size(lambda n, k, p, s: 24) is False


# ---- check_conv2d ---------------------------------------------------------------------------

def test_conv2d_accepts_a_correct_answer(capsys):
    assert check_conv2d(conv2d) is True
    assert "[OK] conv2d" in capsys.readouterr().out


def test_conv2d_accepts_a_tensor_result():
    assert check_conv2d(lambda X, K, p, s: torch.from_numpy(conv2d(X, K, p, s))) is True


def test_conv2d_rejects_cross_correlation_with_flip_hint(capsys):
    assert check_conv2d(_correlate) is False
    assert "rotate the kernel" in capsys.readouterr().out


def test_conv2d_rejects_ignoring_stride(capsys):
    assert check_conv2d(lambda X, K, p, s: conv2d(X, K, p, 1)) is False
    assert "expected" in capsys.readouterr().out


def test_conv2d_rejects_ignoring_padding(capsys):
    assert check_conv2d(lambda X, K, p, s: conv2d(X, K, 0, s)) is False
    assert "you did not pad" in capsys.readouterr().out


def test_conv2d_names_a_missing_stride(capsys):
    assert check_conv2d(lambda X, K, p, s: conv2d(X, K, p, 1)) is False
    assert "the stride is missing" in capsys.readouterr().out


def test_conv2d_names_no_mistake_for_a_wrong_shape_of_its_own(capsys):
    assert check_conv2d(lambda X, K, p, s: conv2d(X, K, p, s)[:-1]) is False
    assert "pad first, then opt" in capsys.readouterr().out


def test_conv2d_names_the_flip_only_when_it_explains_every_case(capsys):
    def partly(X, K, p, s):                      # cross-correlation for the first case only
        return _correlate(X, K, p, s) if X.shape == (5, 5) else conv2d(X, K, p, s) + 1.0
    assert check_conv2d(partly) is False
    out = capsys.readouterr().out
    assert "rotate the kernel" not in out and "differs from F.conv2d" in out


def test_conv2d_rejects_a_wrong_window(capsys):
    def shifted(X, K, p, s):
        out = conv2d(X, K, p, s)
        out[0, 0] += 1.0
        return out
    assert check_conv2d(shifted) is False
    assert "differs from F.conv2d" in capsys.readouterr().out


def test_conv2d_rejects_a_non_array(capsys):
    assert check_conv2d(lambda X, K, p, s: "done") is False
    assert "2-D NumPy array" in capsys.readouterr().out


# ---- check_max_pool2d -----------------------------------------------------------------------

def test_max_pool2d_accepts_a_correct_answer(capsys):
    assert check_max_pool2d(max_pool2d) is True
    assert "[OK] max_pool2d" in capsys.readouterr().out


def test_max_pool2d_rejects_average_pooling(capsys):
    def avg_pool(X, pool_size, stride):
        x = torch.from_numpy(X)[None, None]
        return F.avg_pool2d(x, pool_size, stride)[0, 0].numpy()
    assert check_max_pool2d(avg_pool) is False
    assert "average pooling" in capsys.readouterr().out


def test_max_pool2d_rejects_stride_equal_to_pool_size_always(capsys):
    # correct only when stride == pool_size: the overlapping cases must catch it
    assert check_max_pool2d(lambda X, pool_size, stride: max_pool2d(X, pool_size, pool_size)) is False
    assert "output shape" in capsys.readouterr().out


def test_max_pool2d_rejects_subsampling_without_max():
    assert check_max_pool2d(lambda X, pool_size, stride: X[::stride, ::stride]) is False


def test_max_pool2d_rejects_minimum(capsys):
    assert check_max_pool2d(lambda X, pool_size, stride: -max_pool2d(-X, pool_size, stride)) is False
    assert "smallest value" in capsys.readouterr().out


def test_max_pool2d_names_the_stride_mistake(capsys):
    assert check_max_pool2d(lambda X, pool_size, stride: max_pool2d(X, pool_size, pool_size)) is False
    assert "move by pool_size" in capsys.readouterr().out
    assert check_max_pool2d(lambda X, pool_size, stride: max_pool2d(X, pool_size, 1)) is False
    assert "the stride is missing" in capsys.readouterr().out


def test_max_pool2d_rejects_a_wrong_window(capsys):
    def shifted(X, pool_size, stride):
        out = max_pool2d(X, pool_size, stride)
        out[-1, -1] -= 1.0
        return out
    assert check_max_pool2d(shifted) is False
    assert "differs from F.max_pool2d" in capsys.readouterr().out


# ---- check_conv_params ----------------------------------------------------------------------

def test_conv_params_accepts_a_correct_answer(capsys):
    assert check_conv_params(conv_params) is True
    assert "[OK] conv_params" in capsys.readouterr().out


def test_conv_params_leaves_the_torch_seed_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_conv_params(conv_params)
    assert torch.equal(torch.get_rng_state(), state)


def test_conv_params_rejects_forgotten_bias(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * k * i * o) is False
    assert "add the biases" in capsys.readouterr().out


def test_conv_params_rejects_ignoring_bias_flag(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: (k * k * i + 1) * o) is False
    assert "bias=False" in capsys.readouterr().out


def test_conv_params_rejects_one_filter_only(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * k * i + int(bias)) is False
    assert "out_channels filters" in capsys.readouterr().out


def test_conv_params_rejects_filters_not_spanning_the_input_channels(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * k * o + int(bias) * o) is False
    assert "spans all in_channels" in capsys.readouterr().out


def test_conv_params_rejects_an_unsquared_kernel(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * i * o + int(bias) * o) is False
    assert "k * k weights per channel" in capsys.readouterr().out


def test_conv_params_names_no_mistake_for_two_at_once(capsys):
    assert check_conv_params(lambda i, o, k, bias=True: k * k * o) is False   # no in_channels, no bias
    assert "weights: out_channels filters of k x k x in_channels" in capsys.readouterr().out


def test_conv_params_rejects_missing_bias_argument(capsys):
    assert check_conv_params(lambda i, o, k: (k * k * i + 1) * o) is False
    assert "your code raised TypeError" in capsys.readouterr().out


# ---- check_lenet_shapes ---------------------------------------------------------------------

def test_lenet_shapes_accepts_a_correct_function(capsys):
    assert check_lenet_shapes(lenet_shapes) is True
    assert "[OK] lenet_shapes" in capsys.readouterr().out


def test_lenet_shapes_accepts_a_plain_list_with_int_and_size_items():
    answer = [torch.Size([1, 28, 28]), [20, 24, 24], (20, 12, 12), (50, 8, 8), (50, 4, 4), 800]
    assert check_lenet_shapes(answer) is True


def test_lenet_shapes_rejects_wrong_pool_size(capsys):
    wrong = LENET_28[:4] + [(50, 5, 5), (1250,)]
    assert check_lenet_shapes(wrong) is False
    assert "(50, 4, 4)" in capsys.readouterr().out


def test_lenet_shapes_rejects_hard_coded_function(capsys):
    assert check_lenet_shapes(lambda n: LENET_28) is False
    assert "a 32x32 input" in capsys.readouterr().out


def test_lenet_shapes_rejects_rounding_up_the_pooling(capsys):
    def ceil_pool(n):
        shapes, side = [(1, n, n)], n
        for filters in (20, 50):
            side -= 4
            shapes.append((filters, side, side))
            side = -(-side // 2)
            shapes.append((filters, side, side))
        return shapes + [(50 * side * side,)]
    assert check_lenet_shapes(ceil_pool) is False
    assert "a 29x29 input" in capsys.readouterr().out


def test_lenet_shapes_rejects_missing_layers(capsys):
    assert check_lenet_shapes(LENET_28[1:]) is False
    assert "6 shapes" in capsys.readouterr().out


def test_lenet_shapes_rejects_non_list(capsys):
    assert check_lenet_shapes("800") is False
    assert "a list of 6 shapes" in capsys.readouterr().out
