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


# ---- mixed precision chosen by the GPU --------------------------------------------------------

@pytest.mark.parametrize("capability,dtype,name", [
    ((7, 5), torch.float16, "float16 autocast + GradScaler"),   # Colab's free T4: no fast bfloat16
    ((7, 0), torch.float16, "float16 autocast + GradScaler"),   # V100
    ((8, 0), torch.bfloat16, "bfloat16 autocast"),              # A100
    ((9, 0), torch.bfloat16, "bfloat16 autocast"),              # H100/H200
])
def test_amp_picks_the_dtype_by_compute_capability(capability, dtype, name):
    from labhelpers.device import amp_dtype, precision_name
    assert amp_dtype("cuda", capability) == dtype
    assert precision_name("cuda", True, capability) == name


def test_no_mixed_precision_unless_asked_or_on_a_cpu():
    from labhelpers.device import amp_dtype, precision_name
    assert precision_name("cuda", False, (9, 0)) == "float32"
    assert amp_dtype("cpu") is None and precision_name("cpu", True) == "float32"
