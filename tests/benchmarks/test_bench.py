"""Tests for benchmarks.bench: the FLOP counter, the sgemm, quick-mode results on tiny IDX data, the CLI."""
import numpy as np
import pytest
import torch.nn as nn

from benchmarks.bench import _run, count_flops, main, measure_sgemm, median_run, run_bench
from labhelpers.models import NetCNN

RUN_KEYS = {"recipe", "train_seconds", "eval_seconds", "images", "images_per_second", "final_accuracy",
            "evals", "peak_rss_mb", "memory_method", "gflops", "sgemm_fraction", "sgemm_local_gflops"}


def _write_idx(path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file: magic 0x00000800 + ndim, big-endian sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def idx_root(tmp_path_factory):
    """Forty training and twenty test images in the flat MNIST file layout (like Fashion-MNIST's)."""
    root = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _write_idx(root / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return root


@pytest.fixture(scope="module")
def quick_results(idx_root):
    return run_bench(quick=True, root=idx_root, isolate=False, imagenet=False)


def test_count_flops_netcnn_matches_hand_count():
    # conv1 20x24x24 outputs x 25 + conv2 50x8x8 x 500 + fc1 800x500 + fc2 500x10 multiply-adds
    macs = 20 * 24 * 24 * 25 + 50 * 8 * 8 * 20 * 25 + 800 * 500 + 500 * 10
    assert macs == 2_293_000
    assert count_flops(NetCNN()) == {"forward_macs": macs, "forward_flops": 2 * macs,
                                     "train_flops": 6 * macs}


def test_count_flops_counts_a_linear_layer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    assert count_flops(model)["forward_macs"] == 7840


def test_measure_sgemm_reports_every_sample():
    sgemm = measure_sgemm(sizes=(64, 128), repeats=2)
    assert len(sgemm["gflops_samples"]) == 4 and sgemm["median_gflops"] > 0


def test_quick_results_use_the_root_data(quick_results):
    data = quick_results["data"]
    assert (data["source"], data["train_images"], data["test_images"]) == ("idx", 40, 20)
    assert quick_results["mode"] == "quick"


def test_quick_results_have_every_run_with_its_measurements(quick_results):
    runs = quick_results["runs"]
    assert set(runs) == {"reference", "labhelpers", "fast"}
    for name, run in runs.items():
        assert RUN_KEYS <= set(run), f"{name} lacks {RUN_KEYS - set(run)}"
    assert runs["reference"]["recipe"]["num_epochs"] == 1                 # quick: one epoch
    assert runs["reference"]["dataset"] == "PerImageMNIST"
    assert runs["fast"]["target_accuracy"] == runs["reference"]["final_accuracy"]


def test_quick_results_state_each_target(quick_results):
    targets = quick_results["targets"]
    assert len(targets) == 4                                              # no ImageNet, no GPU
    assert all(isinstance(t["met"], bool) and t["value"] for t in targets)
    assert set(quick_results["ratios"]) == {"labhelpers_speedup", "accuracy_difference",
                                            "fast_time_fraction", "labhelpers_speedup_runs"}


def test_a_spawned_run_reports_its_own_peak_memory(idx_root):
    spec = {"source": "idx", "root": str(idx_root), "train_size": None, "test_size": None}
    out = _run("labhelpers", {"spec": spec, "num_epochs": 1}, threads=1, isolate=True)
    assert "error" not in out and out["images"] == 40
    assert out["peak_rss_mb"] > 10 and "spawned" in out["memory_method"]


def test_median_run_reports_the_middle_run_and_every_time():
    runs = [{"train_seconds": t, "final_accuracy": a} for t, a in ((3.0, 80.0), (1.0, 81.0), (2.0, 82.0))]
    out = median_run(runs)
    assert (out["train_seconds"], out["final_accuracy"]) == (2.0, 82.0)
    assert out["train_seconds_all"] == [3.0, 1.0, 2.0] and out["final_accuracy_all"] == [80.0, 81.0, 82.0]


def test_median_run_of_an_even_count_takes_the_lower_middle():
    assert median_run([{"train_seconds": t, "final_accuracy": 0.0} for t in (4.0, 1.0)])["train_seconds"] == 1.0


def test_median_run_with_a_failed_run_is_failed():
    assert "error" in median_run([{"train_seconds": 1.0, "final_accuracy": 0.0}, {"error": "boom"}])


def test_main_rejects_zero_repeats():
    with pytest.raises(SystemExit):
        main(["--repeats", "0"])


def test_main_rejects_a_missing_root(tmp_path):
    with pytest.raises(SystemExit):
        main(["--root", str(tmp_path / "nowhere")])
