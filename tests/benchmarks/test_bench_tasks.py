"""Tests for benchmarks.bench_tasks: the benchmark's data subset and one of its runs, on small data."""
import torch

from benchmarks.bench_tasks import TASKS, bench_device, load_data

SPEC = {"source": "offline", "root": None, "train_size": 50, "test_size": 20}


def test_a_subset_keeps_every_class():
    X_train, y_train, X_test, y_test, _ = load_data(SPEC)
    assert (len(y_train), len(y_test)) == (50, 20)
    assert set(y_train.tolist()) == set(range(10)) and X_train.dtype == torch.uint8


def test_the_same_recipe_run_trains_every_image_of_every_epoch():
    out = TASKS["labhelpers"](SPEC, num_epochs=2)
    assert out["images"] == 100 and out["recipe"]["batch_size"] == 32 and len(out["evals"]) == 2


def test_the_benchmark_uses_cuda_only_when_there_is_a_gpu():
    assert bench_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
