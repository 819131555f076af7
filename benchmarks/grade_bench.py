"""Benchmark the grader: grade N smoke-mode submissions with -j 2 versus just executing them (grading).

``python -m benchmarks.grade_bench [--lab 02_week13_mnist] [--count 40] [--jobs 2]``.
The baseline executes every submission in a plain Jupyter kernel (nbclient), ``jobs`` at a time, with
the same smoke parameters and one CPU per worker (like the grader), without any grading; the issue's
target is grading time <= 1.5 x baseline. Results go to results/bench-grading.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

from labkit.grading.batch import _cpu_groups, grade_folder
from labkit.grading.spec import load_lab_tests
from labkit.authoring.nbfiles import lab_paths
from labhelpers.selfcheck import inject_parameters

TARGET = 1.5


def make_submissions(root: Path, lab: str, folder: Path, count: int) -> list[Path]:
    """``count`` copies of the lab's solution notebook, each slightly different (distinct files)."""
    solution = nbformat.read(lab_paths(root, lab)[0], as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        nb = nbformat.from_dict(solution)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"Submitted by student {number:03d}."))
        path = folder / f"student_{number:03d}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def _execute_one(args: tuple[str, str, dict, list[int] | None]) -> float:
    """Execute one notebook in a fresh Jupyter kernel (errors allowed); seconds taken."""
    from nbclient import NotebookClient
    path, root, parameters, cpus = args
    if cpus:
        os.sched_setaffinity(0, cpus)  # the kernel inherits it: one CPU per worker, as in the grader
    nb = inject_parameters(nbformat.read(path, as_version=4), parameters)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-run-") as cwd:  # like the grader's private folder
        os.symlink(Path(root) / "data", Path(cwd) / "data")
        start = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": cwd}}).execute()
        return time.perf_counter() - start


def execute_all(paths: list[Path], root: Path, parameters: dict, jobs: int) -> float:
    """Seconds to execute every notebook, ``jobs`` at a time, without grading."""
    groups = _cpu_groups(jobs)
    work = [(str(p), str(root), parameters, groups[i % jobs]) for i, p in enumerate(paths)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_execute_one, work))
    return time.perf_counter() - start


def run(root: Path, lab: str, count: int, jobs: int) -> dict:
    """Baseline and grading times for ``count`` submissions; the result dict (also saved)."""
    tests = load_lab_tests(root / "grading", lab)
    work = Path(tempfile.mkdtemp(prefix="labkit-grade-bench-"))
    try:
        paths = make_submissions(root, lab, work / "submissions", count)
        print(f"executing {count} submissions of {lab} without grading (-j {jobs}) ...", flush=True)
        baseline = execute_all(paths, root, tests.parameters, jobs)
        print(f"  {baseline:.1f} s; grading them (-j {jobs}) ...", flush=True)
        start = time.perf_counter()
        report = grade_folder(work / "submissions", lab, work / "out", root=root, jobs=jobs, log=lambda *a: None)
        grading = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"lab": lab, "submissions": count, "jobs": jobs, "cpus": os.cpu_count(),
              "load_average_at_end": os.getloadavg(), "baseline_s": round(baseline, 1),
              "grading_s": round(grading, 1), "ratio": round(grading / baseline, 3), "target": TARGET,
              "isolation": report["isolation"]["mode"], "mean_score": sum(report["scores"].values()) / count}
    print(f"  {grading:.1f} s: grading / executing = {result['ratio']:.2f} (target <= {TARGET}); "
          f"isolation {result['isolation']}; load average {result['load_average_at_end'][0]:.1f}")
    out = root / "results" / "bench-grading.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--lab", default="02_week13_mnist")
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(args.root.resolve(), args.lab, args.count, args.jobs)
    return 0 if result["ratio"] <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
