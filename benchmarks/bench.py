"""Benchmark: the seed's Week13 loop, the same recipe on labhelpers, the fast recipe, sgemm, ImageNet (bench).

``python -m benchmarks.bench [--quick] [--root DIR] [--out results/bench.json]`` runs, in one
command and side by side: (1) the slide's loop (per-image ToTensor/Normalize, torch DataLoader,
batch 32, SGD 0.001/0.9, NetCNN, 2 epochs); (2) the same recipe on labhelpers' tensor loaders
((1) and (2) alternated 3 times, medians reported);
(3) the fast recipe, timed until it first reaches (1)'s accuracy (evaluation time excluded);
(4) an in-run sgemm and each run's FLOP/s as a fraction of it; (5) ImageNet latency at batch 1
and throughput at batch 8 for the default pretrained model; (6) each run's peak memory, every
run in a fresh process ('spawn') so its peak is its own. Writes JSON plus a Markdown table.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

from benchmarks.bench_tasks import TASKS, bench_device, load_data
from labhelpers.device import describe_device, set_threads

SGEMM_SIZES = (1024, 1536, 2048)


def count_flops(model: nn.Module, input_size: tuple[int, ...] = (1, 28, 28)) -> dict[str, int]:
    """Per-image multiply-accumulates of the Conv2d and Linear layers; FLOPs = 2 x MACs, training = 3 x forward."""
    macs, handles = [0], []

    def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        per_output = (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1] \
            if isinstance(module, nn.Conv2d) else module.in_features
        macs[0] += output[0].numel() * per_output        # output (B, ...): one image's outputs

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    forward = 2 * macs[0]
    return {"forward_macs": macs[0], "forward_flops": forward, "train_flops": 3 * forward}


def measure_sgemm(sizes: tuple[int, ...] = SGEMM_SIZES, repeats: int = 5, device: str = "cpu") -> dict:
    """Square float32 matmuls of each size, ``repeats`` times; the median GFLOP/s over all of them."""
    samples = []
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        a @ b                                                    # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            if device == "cuda":
                torch.cuda.synchronize()
            samples.append(2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return {"sizes": list(sizes), "repeats": repeats, "gflops_samples": [round(s, 2) for s in samples],
            "median_gflops": statistics.median(samples)}


def _task(name: str, kwargs: dict, threads: int) -> dict:
    """Run one task; add its memory (ru_maxrss, CUDA peak) and an sgemm taken just before and after it."""
    set_threads(threads)
    local = measure_sgemm((1024, 1536), repeats=2, device=bench_device().type)["gflops_samples"]
    start_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # torch and labhelpers loaded
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        out = TASKS[name](**kwargs)
    except Exception as exc:                                    # reported in the table, not fatal
        out = {"error": f"{type(exc).__name__}: {exc}"}
    local += measure_sgemm((1024, 1536), repeats=2, device=bench_device().type)["gflops_samples"]
    out["sgemm_local_gflops"] = statistics.median(local)       # just before and after, same process
    out["start_rss_mb"] = start_rss_mb
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _child(conn, name: str, kwargs: dict, threads: int) -> None:
    conn.send(_task(name, kwargs, threads))
    conn.close()


def _run(name: str, kwargs: dict, threads: int, isolate: bool) -> dict:
    """The task in a fresh spawned process (its own peak memory), or here when isolate=False (tests)."""
    if not isolate:
        out = _task(name, kwargs, threads)
        out["memory_method"] = "ru_maxrss of the whole benchmark process (not isolated)"
        return out
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, name, kwargs, threads))
    process.start()
    child.close()
    try:
        out = parent.recv()
    except EOFError:                                            # killed (e.g. out of memory)
        out = {}
    process.join()
    out = out or {"error": f"the {name} process died (exit code {process.exitcode})"}
    out["memory_method"] = "ru_maxrss of a fresh spawned process (torch import and data included)"
    return out


def median_run(runs: list[dict]) -> dict:
    """The run with the median training time (the lower middle of an even count), plus every run's time.

    Adds ``train_seconds_all`` and ``final_accuracy_all``; a failed run makes the whole entry failed.
    """
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda r: r["train_seconds"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["train_seconds_all"] = [r["train_seconds"] for r in runs]
    out["final_accuracy_all"] = [r["final_accuracy"] for r in runs]
    return out


def _data_spec(root: str | os.PathLike | None, quick: bool, train_size: int | None,
               test_size: int | None) -> dict:
    """--root -> its IDX files; else data/ if it holds MNIST files; else the offline digits. Never downloads."""
    from labhelpers.data import _find_idx_files
    if root is not None:
        source, root = "idx", str(root)
    elif _find_idx_files(Path("data"), verify_md5=False) is not None:
        source, root = "idx", "data"
    else:
        source, root = "offline", None
    if quick:
        train_size, test_size = train_size or 1000, test_size or 500
    return {"source": source, "root": root, "train_size": train_size, "test_size": test_size}


def run_bench(quick: bool = False, root: str | os.PathLike | None = None, train_size: int | None = None,
              test_size: int | None = None, isolate: bool = True, imagenet: bool = True,
              threads: int | None = None, num_epochs: int | None = None, repeats: int | None = None) -> dict:
    """Run every measurement and return the results dict that ``write_report`` saves (bench).

    ``repeats``: how many times (1) and (2) run, alternately, each in a fresh process (default 3,
    quick 1); each is reported by its median-time run, with every run's time beside it.
    """
    from labhelpers.models import NetCNN
    threads = set_threads(threads)
    spec = _data_spec(root, quick, train_size, test_size)
    X_tr, y_tr, X_te, y_te, description = load_data(spec)
    num_epochs = num_epochs or (1 if quick else 2)
    sgemm_repeats = 3 if quick else 7
    device = bench_device()
    results = {"schema": 1, "mode": "quick" if quick else "full", "created": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": _machine(threads), "load_average_start": list(os.getloadavg()),
               "data": {**spec, "description": description, "train_images": len(y_tr), "test_images": len(y_te)},
               "flops_per_image": count_flops(NetCNN()), "runs": {}}
    sgemm_start = measure_sgemm(repeats=sgemm_repeats, device=device.type)
    runs = results["runs"]
    repeated: dict[str, list[dict]] = {"reference": [], "labhelpers": []}
    for _ in range(repeats or (1 if quick else 3)):          # alternated, so load drifts hit both
        for name in repeated:
            repeated[name].append(_run(name, {"spec": spec, "num_epochs": num_epochs}, threads, isolate))
    runs.update({name: median_run(found) for name, found in repeated.items()})
    target = runs["reference"].get("final_accuracy")
    runs["fast"] = _run("fast", {"spec": spec, "target_accuracy": target,
                                 "num_epochs": 4 if quick else None}, threads, isolate)
    if imagenet:
        results["imagenet"] = _run("imagenet", {"latency_repeats": 5 if quick else 30,
                                                "throughput_repeats": 2 if quick else 7}, threads, isolate)
    sgemm_end = measure_sgemm(repeats=sgemm_repeats, device=device.type)     # start and end: load changes
    samples = sgemm_start["gflops_samples"] + sgemm_end["gflops_samples"]
    results["sgemm"] = {"sizes": list(SGEMM_SIZES), "gflops_samples": samples, "median_gflops":
                        statistics.median(samples), "median_gflops_start": sgemm_start["median_gflops"],
                        "median_gflops_end": sgemm_end["median_gflops"]}
    results["load_average_end"] = list(os.getloadavg())
    from benchmarks.bench_report import summarise
    return summarise(results)


def _machine(threads: int) -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    return {"cpu": names[0] if names else platform.processor() or platform.machine(),
            "logical_cores": os.cpu_count(), "threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "device": describe_device(bench_device()), "cuda": torch.cuda.is_available(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default")}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench_report import format_table, write_report
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subset, 1 epoch, fewer repeats (CI; < 2 min)")
    parser.add_argument("--root", help="folder of MNIST-format IDX files (MNIST, Fashion-MNIST)")
    parser.add_argument("--out", help="JSON path (default results/bench[-gpu][-quick].json); "
                                      "the Markdown table goes beside it")
    parser.add_argument("--no-imagenet", action="store_true", help="skip the ImageNet measurements")
    parser.add_argument("--threads", type=int, help="torch threads (default: the available cores)")
    parser.add_argument("--repeats", type=int, help="runs of (1) and (2) each, alternated; the median is "
                                                    "reported (default 3, quick 1)")
    args = parser.parse_args(argv)
    if args.root is not None and not Path(args.root).is_dir():
        parser.error(f"--root {args.root}: no such folder")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    default = "results/bench" + ("-gpu" if torch.cuda.is_available() else "") + ("-quick" if args.quick else "")
    out = Path(args.out or default + ".json")      # quick runs (CI) never replace the full-size table
    results = run_bench(quick=args.quick, root=args.root, imagenet=not args.no_imagenet, threads=args.threads,
                        repeats=args.repeats)
    json_path, md_path = write_report(results, out)
    print(format_table(results))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
