"""The benchmark's report: ratios, targets met or not, a Markdown table and the JSON file (bench).

``benchmarks.bench`` measures; this module only reads its results dict (see ``bench.run_bench``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from benchmarks.recipes import Recipe

# The targets (2 CPU cores; GPU epoch when CUDA is there), as ratios from one run.
TARGETS = {"speedup_same_recipe": 2.0, "accuracy_tolerance": 0.3, "fast_fraction_of_reference": 0.25,
           "sgemm_fraction": 0.35, "imagenet_ms": 30.0, "peak_memory_mb": 2048.0, "gpu_epoch_s": 1.5}


def summarise(results: dict, targets: dict = TARGETS) -> dict:
    """Add each run's GFLOP/s and sgemm fraction, the ratios, and the targets (met / not met)."""
    flops, sgemm = results["flops_per_image"]["train_flops"], results["sgemm"]["median_gflops"]
    runs = results["runs"]
    for run in runs.values():
        if run.get("images_per_second"):
            run["gflops"] = run["images_per_second"] * flops / 1e9
            run["sgemm_fraction"] = run["gflops"] / run.get("sgemm_local_gflops", sgemm)
            run["epoch_60k_seconds"] = 60000 / run["images_per_second"]
    ref, lab, fast = runs["reference"], runs["labhelpers"], runs["fast"]
    ok = all("error" not in r for r in (ref, lab, fast))
    ratios = results["ratios"] = {} if not ok else {
        "labhelpers_speedup": ref["train_seconds"] / lab["train_seconds"],
        "accuracy_difference": lab["final_accuracy"] - ref["final_accuracy"],
        "fast_time_fraction": (fast["seconds_to_target"] / ref["train_seconds"]
                               if fast["seconds_to_target"] is not None else None),
        # (1) and (2) ran alternately: the i-th runs of each were neighbours in time
        "labhelpers_speedup_runs": [r / l for r, l in zip(ref.get("train_seconds_all", [ref["train_seconds"]]),
                                                         lab.get("train_seconds_all", [lab["train_seconds"]]))]}
    rows = [("(2) >= {:g}x faster than (1), accuracy within +-{:g} points".format(
                targets["speedup_same_recipe"], targets["accuracy_tolerance"]),
             ok and ratios["labhelpers_speedup"] >= targets["speedup_same_recipe"]
             and abs(ratios["accuracy_difference"]) <= targets["accuracy_tolerance"],
             ok and f"{ratios['labhelpers_speedup']:.2f}x, {ratios['accuracy_difference']:+.2f} points"),
            ("(3) reaches (1)'s accuracy in <= {:g} of (1)'s time".format(targets["fast_fraction_of_reference"]),
             ok and ratios["fast_time_fraction"] is not None
             and ratios["fast_time_fraction"] <= targets["fast_fraction_of_reference"],
             ok and (f"{ratios['fast_time_fraction']:.3f} of (1)'s time" if ratios["fast_time_fraction"]
                     is not None else "never reached (1)'s accuracy")),
            ("fast path >= {:.0%} of the in-run sgemm".format(targets["sgemm_fraction"]),
             "sgemm_fraction" in fast and fast["sgemm_fraction"] >= targets["sgemm_fraction"],
             "sgemm_fraction" in fast and f"{fast['sgemm_fraction']:.1%} of "
             f"{fast.get('sgemm_local_gflops', sgemm):.1f} GFLOP/s")]
    imagenet = results.get("imagenet")
    if imagenet is not None:
        ms = imagenet.get("latency_ms")
        rows.append((f"ImageNet default model <= {targets['imagenet_ms']:g} ms/image at batch 1",
                     ms is not None and ms <= targets["imagenet_ms"],
                     f"{ms:.1f} ms ({imagenet['latency_ms_channels_last']:.1f} ms channels_last)"
                     if ms is not None else imagenet.get("error")))
    measured = [r for r in [*runs.values(), imagenet] if r and "peak_rss_mb" in r]
    peak = max([max(r["peak_rss_mb"], r.get("cuda_peak_mb", 0)) for r in measured], default=None)
    rows.append((f"peak memory < {targets['peak_memory_mb']:g} MB per run",
                 peak is not None and peak < targets["peak_memory_mb"], peak and f"max {peak:.0f} MB"))
    if results["machine"]["cuda"] and "epoch_60k_seconds" in fast:
        rows.append((f"GPU: one NetCNN epoch on 60,000 images < {targets['gpu_epoch_s']:g} s",
                     fast["epoch_60k_seconds"] < targets["gpu_epoch_s"], f"{fast['epoch_60k_seconds']:.2f} s"))
    results["targets"] = [{"target": t, "met": bool(met), "value": value or "n/a"} for t, met, value in rows]
    return results


def format_table(results: dict) -> str:
    """The results as Markdown: machine, data, one row per run, sgemm, ImageNet, targets."""
    m, d, sg = results["machine"], results["data"], results["sgemm"]
    lines = [f"# labhelpers benchmark ({results['mode']} mode, {results['created']})", "",
             f"- machine: {m['cpu']}, {m['logical_cores']} logical cores, torch {m['torch']}, "
             f"{m['threads']} threads (OMP_WAIT_POLICY {m.get('omp_wait_policy', 'default')}), "
             f"Python {m['python']}; load average "
             f"{results['load_average_start'][0]:.2f} at start, {results['load_average_end'][0]:.2f} at end",
             f"- device: {m['device']}",
             f"- data: {d['description']}; used {d['train_images']:,} train / {d['test_images']:,} test",
             f"- sgemm (float32, {'/'.join(map(str, sg['sizes']))} square): median {sg['median_gflops']:.1f} "
             f"GFLOP/s (start {sg['median_gflops_start']:.1f}, end {sg['median_gflops_end']:.1f}); each run's "
             "% sgemm uses an sgemm taken in its own process just before and after it",
             f"- NetCNN: {results['flops_per_image']['forward_flops'] / 1e6:.2f} MFLOP forward per image, "
             f"{results['flops_per_image']['train_flops'] / 1e6:.2f} MFLOP forward+backward", "",
             "| run | recipe | images | train s | images/s | test acc % | s to (1)'s acc | GFLOP/s "
             "| sgemm GFLOP/s | % sgemm | peak RSS MB |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"reference": "(1) seed loop (DataLoader)", "labhelpers": "(2) seed recipe, labhelpers data",
             "fast": "(3) fast recipe"}
    for key, label in names.items():
        r = results["runs"][key]
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} ||||||||||")
            continue
        to_target = r.get("seconds_to_target", r["train_seconds"] if key == "reference" else None)
        peak = f"{r['peak_rss_mb']:.0f} (start {r['start_rss_mb']:.0f})" + (
            f", CUDA {r['cuda_peak_mb']:.0f}" if "cuda_peak_mb" in r else "")
        every = r.get("train_seconds_all", [])
        seconds = f"{r['train_seconds']:.2f}" + (f" (of {', '.join(f'{t:.2f}' for t in every)})" if len(every) > 1 else "")
        lines.append(f"| {label} | {Recipe(**r['recipe']).describe()} | {r['images']:,} | {seconds} "
                     f"| {r['images_per_second']:.0f} | {r['final_accuracy']:.2f} | "
                     f"{'-' if to_target is None else f'{to_target:.2f}'} | {r['gflops']:.1f} | "
                     f"{r.get('sgemm_local_gflops', sg['median_gflops']):.1f} | "
                     f"{100 * r['sgemm_fraction']:.1f} | {peak} |")
    runs = results["runs"]
    if all("error" not in r for r in runs.values()):
        fast = runs["fast"]
        lines += ["", "Training time excludes evaluation (seconds spent evaluating: " + ", ".join(
            f"{n[:3]} {runs[k]['eval_seconds']:.2f}" for k, n in names.items()) + f"); (3) evaluated "
            f"{len(fast['evals'])} times, at {fast['images_to_target'] or '-'} images it first reached (1)'s "
            f"{fast['target_accuracy']:.2f}%. At (3)'s rate one 60,000-image epoch takes "
            f"{fast['epoch_60k_seconds']:.1f} s."]
    ratios = results.get("ratios") or {}
    if ratios:
        pairs = ratios.get("labhelpers_speedup_runs", [])
        spread = (f" (median runs of {len(pairs)} alternated pairs; pairwise {min(pairs):.2f}x to {max(pairs):.2f}x)"
                  if len(pairs) > 1 else "")
        lines += ["", f"Ratios: (1)/(2) time {ratios['labhelpers_speedup']:.2f}x{spread}; accuracy (2)-(1) "
                      f"{ratios['accuracy_difference']:+.2f} points; (3) to (1)'s accuracy in "
                      + ("never" if ratios["fast_time_fraction"] is None
                         else f"{ratios['fast_time_fraction']:.3f} of (1)'s time"
                              f" ({1 / ratios['fast_time_fraction']:.1f}x faster)")]
    im = results.get("imagenet")
    if im:
        lines += ["", f"ImageNet {im.get('model', '?')}: " + (f"failed: {im['error']}" if "error" in im else
                  f"batch 1 median {im['latency_ms']:.1f} ms ({im['latency_ms_channels_last']:.1f} ms "
                  f"channels_last); batch 8 {im['throughput_ips']:.1f} images/s "
                  f"({im['throughput_ips_channels_last']:.1f} channels_last); classify() of a 640x480 image "
                  f"{im['classify_ms']:.1f} ms with preprocessing; peak RSS {im['peak_rss_mb']:.0f} MB")]
    if results["mode"] == "quick":
        lines += ["", f"Quick mode: {d['train_images']:,} training images, (1) and (2) for one epoch; the targets "
                      "are set for the full run (`make bench`) and are shown here for reference only."]
    lines += ["", "| target | met | value |", "|---|---|---|"]
    lines += [f"| {t['target']} | {'met' if t['met'] else 'NOT met'} | {t['value']} |" for t in results["targets"]]
    return "\n".join(lines)


def write_report(results: dict, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write results as JSON at ``out`` and the table beside it as .md; returns both paths."""
    out = Path(out)
    if out.suffix != ".json":
        raise ValueError(f"--out must name a .json file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    md = out.with_suffix(".md")
    md.write_text(format_table(results) + "\n")
    return out, md
