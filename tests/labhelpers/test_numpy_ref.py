"""Tests for labhelpers.numpy_ref: the 1-D worked example, agreement with NumPy and PyTorch, the padding modes.

(Lab 01's graded exercises, the output-size formula, 2-D convolution and max pooling, have no reference in
labhelpers: their hidden references are in grading/01_cnn_arithmetic.py.)
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import labhelpers
from labhelpers.numpy_ref import conv1d_numpy, padding_for

RNG = np.random.default_rng(0)


def test_no_graded_answer_is_left_in_labhelpers():
    for name in ("conv_output_size", "conv2d_numpy", "correlate2d_numpy", "max_pool2d_numpy"):
        assert name not in labhelpers.__all__
        with pytest.raises(AttributeError):
            getattr(labhelpers, name)


# ---- padding_for ---------------------------------------------------------------------------

def test_padding_for_modes():
    assert [padding_for(m, 5) for m in ("valid", "same", "full")] == [0, 2, 4]
    with pytest.raises(ValueError, match="odd"):
        padding_for("same", 4)
    with pytest.raises(ValueError, match="mode"):
        padding_for("half", 3)


def test_padding_for_rejects_non_int_kernel():
    with pytest.raises(TypeError):
        padding_for("same", 3.0)
    with pytest.raises(ValueError):
        padding_for("valid", 0)


# ---- conv1d --------------------------------------------------------------------------------

def test_conv1d_seed_worked_example():
    y = conv1d_numpy([3, 2, 1, 7, 1, 2, 5, 4], [1 / 2, 3 / 4, 1, 1 / 4], p=0, s=2)
    np.testing.assert_allclose(y, [7, 9, 8])


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_conv1d_matches_np_convolve(mode):
    x, w = RNG.normal(size=11), RNG.normal(size=5)
    y = conv1d_numpy(x, w, p=padding_for(mode, len(w)))
    np.testing.assert_allclose(y, np.convolve(x, w, mode=mode))


@pytest.mark.parametrize("p,s", [(0, 1), (1, 1), (2, 2), (3, 3), (0, 5)])
def test_conv1d_matches_torch_with_flipped_filter(p, s):
    x, w = RNG.normal(size=13), RNG.normal(size=4)
    expected = F.conv1d(torch.tensor(x)[None, None], torch.tensor(w[::-1].copy())[None, None],
                        padding=p, stride=s)[0, 0].numpy()
    y = conv1d_numpy(x, w, p=p, s=s)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected)


def test_conv1d_accepts_torch_tensors():
    x, w = torch.randn(9, requires_grad=True), torch.randn(3)
    expected = np.convolve(x.detach().numpy().astype(np.float64), w.numpy().astype(np.float64), "valid")
    np.testing.assert_allclose(conv1d_numpy(x, w), expected, rtol=1e-6, atol=1e-6)


def test_conv1d_rejects_2d_input():
    with pytest.raises(ValueError, match="1-D"):
        conv1d_numpy(np.ones((3, 3)), [1, 2])


def test_conv1d_rejects_a_filter_longer_than_the_padded_input():
    with pytest.raises(ValueError, match="fit in the padded input"):
        conv1d_numpy(np.ones(3), np.ones(5))
    assert conv1d_numpy(np.ones(3), np.ones(5), p=1).shape == (1,)


@pytest.mark.parametrize("p,s,error", [(-1, 1, ValueError), (0, 0, ValueError), (0.5, 1, TypeError), (0, True, TypeError)])
def test_conv1d_rejects_bad_padding_and_stride(p, s, error):
    with pytest.raises(error):
        conv1d_numpy(np.ones(5), np.ones(2), p=p, s=s)
