"""Tests for labhelpers.numpy_ref: seed worked examples and agreement with torch.nn.functional."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labhelpers.numpy_ref import (conv1d_numpy, conv2d_numpy, conv_output_size, correlate2d_numpy,
                                  max_pool2d_numpy, padding_for)

RNG = np.random.default_rng(0)

# Seed 004 "Performing Max Pooling": X1 with a 2x2 pool, stride 2.
X1 = np.array([[10, 255, 125, 0, 170, 100],
               [70, 255, 105, 25, 25, 70],
               [255, 0, 150, 0, 10, 10],
               [0, 255, 10, 10, 150, 20],
               [70, 15, 200, 100, 95, 0],
               [35, 25, 100, 20, 0, 60]])
# Seed 001 "Max Pooling".
X_001 = np.array([[146, 155, 144, 130, 145, 151],
                  [142, 153, 150, 128, 131, 151],
                  [131, 141, 142, 130, 128, 148],
                  [122, 123, 125, 127, 130, 135],
                  [130, 123, 107, 118, 150, 154],
                  [127, 120, 125, 143, 153, 161]])


# ---- conv_output_size / padding_for ----------------------------------------------------------

def test_conv_output_size_formula():
    assert conv_output_size(28, 5) == 24                 # seed 002 example
    assert conv_output_size(8, 4, p=0, s=2) == 3         # seed 004 1-D example
    assert conv_output_size(5, 3, p=1, s=2) == 3         # seed 002 7x7x3 (5x5 + pad 1) example
    assert conv_output_size(7, 3, p=0, s=3) == 2         # floor


@pytest.mark.parametrize("args", [(0, 3), (5, 0), (5, 3, -1), (5, 3, 0, 0)])
def test_conv_output_size_rejects_non_positive(args):
    with pytest.raises(ValueError):
        conv_output_size(*args)


def test_conv_output_size_rejects_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(3, 5, p=0)
    assert conv_output_size(3, 5, p=1) == 1


def test_conv_output_size_rejects_non_int():
    with pytest.raises(TypeError):
        conv_output_size(5.0, 3)
    with pytest.raises(TypeError):
        conv_output_size(5, True)


def test_padding_for_modes():
    assert [padding_for(m, 5) for m in ("valid", "same", "full")] == [0, 2, 4]
    with pytest.raises(ValueError, match="odd"):
        padding_for("same", 4)
    with pytest.raises(ValueError, match="mode"):
        padding_for("half", 3)


# ---- conv1d --------------------------------------------------------------------------------

def test_conv1d_seed_worked_example():
    y = conv1d_numpy([3, 2, 1, 7, 1, 2, 5, 4], [1 / 2, 3 / 4, 1, 1 / 4], p=0, s=2)
    np.testing.assert_allclose(y, [7, 9, 8])


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_conv1d_matches_np_convolve(mode):
    x, w = RNG.normal(size=11), RNG.normal(size=5)
    y = conv1d_numpy(x, w, p=padding_for(mode, len(w)))
    np.testing.assert_allclose(y, np.convolve(x, w, mode=mode))


@pytest.mark.parametrize("p,s", [(0, 1), (1, 1), (2, 2), (3, 3)])
def test_conv1d_matches_torch_with_flipped_filter(p, s):
    x, w = RNG.normal(size=13), RNG.normal(size=4)
    expected = F.conv1d(torch.tensor(x)[None, None], torch.tensor(w[::-1].copy())[None, None],
                        padding=p, stride=s)[0, 0].numpy()
    y = conv1d_numpy(x, w, p=p, s=s)
    assert y.shape == (conv_output_size(13, 4, p, s),)
    np.testing.assert_allclose(y, expected)


def test_conv1d_rejects_2d_input():
    with pytest.raises(ValueError, match="1-D"):
        conv1d_numpy(np.ones((3, 3)), [1, 2])


# ---- conv2d / correlate2d --------------------------------------------------------------------

@pytest.mark.parametrize("pad,stride", [(0, 1), (1, 1), (1, 2), (2, 3)])
def test_correlate2d_matches_torch_conv2d(pad, stride):
    X, W = RNG.normal(size=(9, 8)), RNG.normal(size=(3, 2))
    expected = F.conv2d(torch.tensor(X)[None, None], torch.tensor(W)[None, None],
                        padding=pad, stride=stride)[0, 0].numpy()
    out = correlate2d_numpy(X, W, pad=pad, stride=stride)
    assert out.shape == (conv_output_size(9, 3, pad, stride), conv_output_size(8, 2, pad, stride))
    np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize("pad,stride", [(0, 1), (1, 2), (2, 1)])
def test_conv2d_equals_torch_conv2d_with_flipped_kernel(pad, stride):
    X, W = RNG.normal(size=(7, 7)), RNG.normal(size=(3, 3))
    expected = F.conv2d(torch.tensor(X)[None, None], torch.tensor(W).flip(0, 1)[None, None],
                        padding=pad, stride=stride)[0, 0].numpy()
    np.testing.assert_allclose(conv2d_numpy(X, W, pad=pad, stride=stride), expected)


def test_conv2d_is_correlate2d_with_rotated_kernel():
    X, W = RNG.normal(size=(6, 6)), RNG.normal(size=(3, 3))
    np.testing.assert_allclose(conv2d_numpy(X, W), correlate2d_numpy(X, W[::-1, ::-1]))
    assert not np.allclose(conv2d_numpy(X, W), correlate2d_numpy(X, W))


def test_conv2d_matches_seed_loop_implementation():
    def seed_conv2d(X, kernel, pad, stride):  # seed 004 "Convolution from scratch", verbatim logic
        X_pad = np.pad(X, ((pad, pad), (pad, pad)), "constant", constant_values=0)
        kernel_cov = kernel[::-1, ::-1]
        k_x, k_y = kernel.shape
        opt_x = int(((X_pad.shape[0] - k_x) / stride) + 1)
        opt_y = int(((X_pad.shape[1] - k_y) / stride) + 1)
        cov = np.zeros((opt_x, opt_y))
        for i in range(opt_x):
            for j in range(opt_y):
                cov[i][j] = np.sum(X_pad[i * stride:i * stride + k_x, j * stride:j * stride + k_y]
                                   * kernel_cov)
        return cov
    X, W = RNG.integers(0, 9, size=(8, 8)), RNG.integers(-2, 3, size=(3, 3))
    np.testing.assert_allclose(conv2d_numpy(X, W, pad=1, stride=2), seed_conv2d(X, W, 1, 2))


def test_correlate2d_multichannel_sums_over_channels():
    X, W = RNG.normal(size=(3, 5, 5)), RNG.normal(size=(3, 3, 3))
    out = correlate2d_numpy(X, W, pad=1, stride=2, bias=1.0)
    expected = F.conv2d(torch.tensor(X)[None], torch.tensor(W)[None], torch.tensor([1.0], dtype=torch.float64),
                        padding=1, stride=2)[0, 0].numpy()
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, expected)


def test_correlate2d_two_filters_with_bias_like_slide_example():
    # seed 002: 5x5x3 input (+pad 1 -> 7x7x3), two 3x3x3 filters, biases (1, 0), stride 2 -> 3x3x2
    X = RNG.integers(0, 3, size=(3, 5, 5))
    W = RNG.integers(-1, 2, size=(2, 3, 3, 3))
    out = correlate2d_numpy(X, W, pad=1, stride=2, bias=[1, 0])
    expected = F.conv2d(torch.tensor(X, dtype=torch.float64)[None],
                        torch.tensor(W, dtype=torch.float64),
                        torch.tensor([1.0, 0.0], dtype=torch.float64),
                        padding=1, stride=2)[0].numpy()
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out, expected)


def test_conv2d_multichannel_flips_only_spatial_axes():
    X, W = RNG.normal(size=(2, 6, 6)), RNG.normal(size=(4, 2, 3, 3))
    expected = F.conv2d(torch.tensor(X)[None], torch.tensor(W).flip(2, 3), stride=1)[0].numpy()
    np.testing.assert_allclose(conv2d_numpy(X, W), expected)


def test_conv2d_accepts_torch_tensors():
    X, W = torch.randn(5, 5, requires_grad=True), torch.randn(3, 3)
    expected = F.conv2d(X[None, None], W.flip(0, 1)[None, None])[0, 0].detach().numpy()
    np.testing.assert_allclose(conv2d_numpy(X, W), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("X,W,match", [
    (np.ones(5), np.ones((3, 3)), "X must be"),
    (np.ones((5, 5)), np.ones(3), "W must be"),
    (np.ones((5, 5)), np.ones((2, 3, 3)), "2-D X"),
    (np.ones((3, 5, 5)), np.ones((2, 3, 3)), "channels"),
    (np.ones((4, 4)), np.ones((5, 5)), "larger than the padded input"),
])
def test_conv2d_rejects_bad_shapes(X, W, match):
    with pytest.raises(ValueError, match=match):
        conv2d_numpy(X, W)


def test_conv2d_rejects_non_positive_stride_and_bad_bias():
    with pytest.raises(ValueError, match="stride"):
        conv2d_numpy(np.ones((5, 5)), np.ones((3, 3)), stride=0)
    with pytest.raises(ValueError, match="bias"):
        correlate2d_numpy(np.ones((1, 5, 5)), np.ones((2, 1, 3, 3)), bias=[1, 2, 3])


# ---- max pooling ---------------------------------------------------------------------------

def test_max_pool_seed_004_example():
    expected = [[255, 125, 170], [255, 150, 150], [70, 200, 95]]
    np.testing.assert_array_equal(max_pool2d_numpy(X1, 2, 2), expected)


def test_max_pool_seed_001_example():
    expected = [[155, 150, 151], [141, 142, 148], [130, 143, 161]]
    np.testing.assert_array_equal(max_pool2d_numpy(X_001, 2, 2), expected)


@pytest.mark.parametrize("pool,stride", [(2, 2), (3, 2), (2, 1), (3, 3), ((2, 3), (1, 2))])
def test_max_pool_matches_torch(pool, stride):
    X = RNG.normal(size=(3, 9, 10))
    expected = F.max_pool2d(torch.tensor(X)[None], pool, stride)[0].numpy()
    out = max_pool2d_numpy(X, pool, stride)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected)


def test_max_pool_default_stride_is_pool_size():
    X = RNG.normal(size=(6, 6))
    np.testing.assert_array_equal(max_pool2d_numpy(X, 2), max_pool2d_numpy(X, 2, 2))
    assert max_pool2d_numpy(X, 3).shape == (2, 2)


def test_max_pool_rejects_bad_input():
    with pytest.raises(ValueError, match="X must be"):
        max_pool2d_numpy(np.ones(6), 2, 2)
    with pytest.raises(ValueError, match="stride"):
        max_pool2d_numpy(np.ones((6, 6)), 2, 0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        max_pool2d_numpy(np.ones((2, 2)), 3, 1)
