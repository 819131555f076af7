"""labhelpers.device: device choice, the device paragraph, seeding."""
import random

import numpy as np
import pytest
import torch

from labhelpers.device import describe_device, get_device, set_seed, set_threads


def test_get_device_is_cpu_without_accelerators():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert get_device().type == expected


def test_describe_device_names_torch_version_and_device():
    text = describe_device("cpu")
    assert torch.__version__ in text and "CPU" in text


def test_set_seed_repeats_python_numpy_and_torch_draws():
    set_seed(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_seed(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_set_seed_rejects_non_int():
    with pytest.raises(TypeError):
        set_seed("1")


def test_set_threads_uses_available_cores():
    before = torch.get_num_threads()
    try:
        n = set_threads()
        assert n >= 1 and torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)
