"""Tests for benchmarks.bench_report: ratios, targets met or not, the table and the files, on made-up results."""
import copy
import json

import pytest

from benchmarks.bench_report import TARGETS, format_table, summarise, write_report
from benchmarks.recipes import fast_recipe, seed_recipe

FLOPS = 13_758_000


def _run(recipe, train_seconds: float, images: int, accuracy: float, **extra) -> dict:
    return {"recipe": recipe.as_dict(), "train_seconds": train_seconds, "eval_seconds": 0.5,
            "images": images, "images_per_second": images / train_seconds, "final_accuracy": accuracy,
            "evals": [{"images": images, "seconds": train_seconds, "accuracy": accuracy}],
            "start_rss_mb": 500.0, "peak_rss_mb": 900.0, **extra}


RESULTS = {
    "schema": 1, "mode": "full", "created": "2026-01-01 00:00:00",
    "machine": {"cpu": "Test CPU", "logical_cores": 2, "threads": 2, "torch": "2.x", "python": "3.11",
                "platform": "linux", "device": "CPU", "cuda": False},
    "load_average_start": [0.5, 0.5, 0.5], "load_average_end": [0.6, 0.5, 0.5],
    "data": {"source": "offline", "root": None, "train_size": None, "test_size": None,
             "description": "offline digits", "train_images": 4000, "test_images": 1000},
    "flops_per_image": {"forward_macs": FLOPS // 6, "forward_flops": FLOPS // 3, "train_flops": FLOPS},
    "sgemm": {"sizes": [1024], "gflops_samples": [100.0], "median_gflops": 100.0,
              "median_gflops_start": 100.0, "median_gflops_end": 100.0},
    "runs": {"reference": _run(seed_recipe("cuda"), 20.0, 8000, 90.0),
             "labhelpers": _run(seed_recipe("cpu"), 8.0, 8000, 90.2),
             "fast": _run(fast_recipe(4000, "cpu"), 4.0, 16000, 96.0, seconds_to_target=4.0,
                          images_to_target=16000, target_accuracy=90.0)},
    "imagenet": {"model": "efficientnet_lite0", "latency_ms": 25.0, "latency_ms_channels_last": 20.0,
                 "throughput_ips": 50.0, "throughput_ips_channels_last": 60.0, "classify_ms": 40.0,
                 "start_rss_mb": 500.0, "peak_rss_mb": 1200.0},
}


def _summary(**changes) -> dict:
    results = copy.deepcopy(RESULTS)
    for key, value in changes.items():
        results["runs"][key].update(value)
    return summarise(results)


def _met(results: dict) -> dict[str, bool]:
    return {t["target"].split()[0]: t["met"] for t in results["targets"]}


def test_summarise_computes_flops_and_sgemm_fraction():
    fast = _summary()["runs"]["fast"]
    assert fast["gflops"] == pytest.approx(4000 * FLOPS / 1e9)          # 4,000 images/s
    assert fast["sgemm_fraction"] == pytest.approx(fast["gflops"] / 100.0)
    assert fast["epoch_60k_seconds"] == pytest.approx(15.0)


def test_summarise_prefers_the_sgemm_taken_beside_the_run():
    fast = _summary(fast={"sgemm_local_gflops": 50.0})["runs"]["fast"]
    assert fast["sgemm_fraction"] == pytest.approx(fast["gflops"] / 50.0)


def test_summarise_ratios():
    ratios = _summary()["ratios"]
    assert ratios["labhelpers_speedup"] == pytest.approx(2.5)
    assert ratios["accuracy_difference"] == pytest.approx(0.2)
    assert ratios["fast_time_fraction"] == pytest.approx(0.2)


def test_every_target_met_on_good_numbers():
    assert all(_met(_summary()).values())
    assert len(_summary()["targets"]) == 5                              # no GPU row on a CPU machine


def test_accuracy_gap_fails_the_same_recipe_target():
    results = _summary(labhelpers={"final_accuracy": 89.0})
    assert _met(results)["(2)"] is False and _met(results)["(3)"] is True


def test_fast_run_that_never_reaches_the_target_is_not_met():
    results = _summary(fast={"seconds_to_target": None})
    assert _met(results)["(3)"] is False
    assert "never" in format_table(results)


def test_a_failed_run_is_reported_not_raised():
    results = copy.deepcopy(RESULTS)
    results["runs"]["labhelpers"] = {"error": "RuntimeError: boom", "peak_rss_mb": 100.0}
    results = summarise(results)
    assert "failed: RuntimeError: boom" in format_table(results)
    assert _met(results)["(2)"] is False


def test_gpu_machines_get_the_epoch_target():
    results = copy.deepcopy(RESULTS)
    results["machine"]["cuda"] = True
    rows = summarise(results)["targets"]
    assert rows[-1]["target"].startswith("GPU") and rows[-1]["met"] is False    # 15 s > 1.5 s


def test_repeated_runs_show_every_time_and_the_pairwise_ratios():
    results = _summary(reference={"train_seconds_all": [21.0, 20.0, 19.0]},
                       labhelpers={"train_seconds_all": [10.0, 8.0, 9.5]})
    assert results["ratios"]["labhelpers_speedup_runs"] == [2.1, 2.5, 2.0]
    table = format_table(results)
    assert "20.00 (of 21.00, 20.00, 19.00)" in table and "pairwise 2.00x to 2.50x" in table


def test_quick_tables_say_the_targets_are_for_the_full_run():
    results = _summary()
    assert "reference only" not in format_table(results)
    results["mode"] = "quick"
    assert "reference only" in format_table(results)


def test_format_table_has_a_row_per_run_and_the_targets():
    table = format_table(_summary())
    for label in ("(1) seed loop (DataLoader)", "(2) seed recipe, labhelpers data", "(3) fast recipe"):
        assert label in table
    assert "| target | met | value |" in table and "NOT met" not in table


def test_write_report_round_trips(tmp_path):
    json_path, md_path = write_report(_summary(), tmp_path / "out" / "bench.json")
    assert json.loads(json_path.read_text())["ratios"]["labhelpers_speedup"] == pytest.approx(2.5)
    assert md_path.name == "bench.md" and "(3) fast recipe" in md_path.read_text()


def test_write_report_wants_a_json_path(tmp_path):
    with pytest.raises(ValueError, match=".json"):
        write_report(_summary(), tmp_path / "bench.txt")


def test_targets_are_the_issue_numbers():
    assert (TARGETS["speedup_same_recipe"], TARGETS["fast_fraction_of_reference"], TARGETS["sgemm_fraction"],
            TARGETS["imagenet_ms"], TARGETS["peak_memory_mb"], TARGETS["gpu_epoch_s"]) == \
        (2.0, 0.25, 0.35, 30.0, 2048.0, 1.5)
