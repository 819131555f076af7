"""Grading throughput: a class of smoke-mode MNIST submissions graded -j N, where the time goes (grading).

``python -m benchmarks.grade_bench [--lab 02_week13_mnist] [--count 200] [--jobs 2] [--template auto|off]
[--baseline]``. It grades ``count`` distinct copies of the lab's solution as one batch and reports the wall
time, submissions per minute, and the time per phase: the batch's own (intake, grading, outputs, the
templates' one-off imports) and, summed and averaged over the submissions, each sandbox run's (prepare:
the references; start: the sandbox up to its first cell; cells; probes; cleanup; score), and the CPU time it
all used (what the wall time would be on idle cores: on a shared machine the wall time says more about the
neighbours than about the grader). ``--baseline``
also executes them in plain Jupyter kernels (nbclient) without any grading, for comparison. The issue's
target: 200 submissions in at most 10 minutes on 2 cores. Results go to results/bench-grading.json.
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

from labkit.authoring.nbfiles import lab_paths
from labkit.grading.batch import _cpu_groups, grade_folder
from labkit.grading.spec import load_lab_tests
from labhelpers.selfcheck import inject_parameters

TARGET_S = 600.0   # 200 submissions, 2 cores


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of every process it (or a child) has waited for."""
    import resource
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


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


def phases(out: Path) -> dict[str, dict[str, float]]:
    """Per-submission phases over the records in ``out``: {phase: {"total_s", "mean_s"}}."""
    totals: dict[str, float] = {}
    count = 0
    for path in out.glob("student_*.json"):
        record = json.loads(path.read_text())
        count += 1
        for name, seconds in (record.get("phases") or {}).items():
            totals[name] = totals.get(name, 0.0) + seconds
    return {name: {"total_s": round(total, 1), "mean_s": round(total / max(1, count), 3)}
            for name, total in sorted(totals.items(), key=lambda kv: -kv[1])}


def run(root: Path, lab: str, count: int, jobs: int, template: str = "auto", baseline: bool = False) -> dict:
    """Grade ``count`` submissions; the result dict (also saved)."""
    tests = load_lab_tests(root / "grading", lab)
    work = Path(tempfile.mkdtemp(prefix="labkit-grade-bench-"))
    try:
        paths = make_submissions(root, lab, work / "submissions", count)
        executed = None
        if baseline:
            print(f"executing {count} submissions of {lab} without grading (-j {jobs}) ...", flush=True)
            executed = round(execute_all(paths, root, tests.parameters, jobs), 1)
        print(f"grading {count} submissions of {lab} (-j {jobs}, template {template}) ...", flush=True)
        start, cpu_before = time.perf_counter(), _cpu_seconds()
        report = grade_folder(work / "submissions", lab, work / "out", root=root, jobs=jobs, template=template,
                              log=lambda *a: None)
        grading, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_before
        per_phase = phases(work / "out")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    templates = report.get("templates", {})
    result = {"lab": lab, "submissions": count, "jobs": jobs, "cpus": os.cpu_count(),
              "load_average_at_end": os.getloadavg(), "grading_s": round(grading, 1),
              "submissions_per_minute": round(60 * count / grading, 1), "seconds_per_submission": round(grading / count, 2),
              "batch_phases_s": {**report.get("timing", {}), "template_imports": templates.get("import_seconds", 0.0)},
              "submission_phases": per_phase, "templates": {k: templates.get(k) for k in ("used", "why", "modules")},
              "isolation": report["isolation"]["mode"], "mean_score": sum(report["scores"].values()) / count,
              "projected_200_s": round(grading / count * 200, 1), "target_200_s": TARGET_S,
              "cpu_s": round(cpu, 1), "cpu_s_per_submission": round(cpu / count, 2),
              "wall_s_on_idle_cores": round(cpu / max(1, min(jobs, os.cpu_count() or 1)), 1)}
    if executed is not None:
        result.update(baseline_s=executed, ratio=round(grading / executed, 3))
    print(f"  {grading:.1f} s: {result['submissions_per_minute']} submissions/min ({result['seconds_per_submission']} s "
          f"each; 200 would take {result['projected_200_s']:.0f} s, target <= {TARGET_S:.0f}); isolation "
          f"{result['isolation']}; templates {'used' if templates.get('used') else 'not used'}; load average "
          f"{result['load_average_at_end'][0]:.1f}")
    print(f"  CPU time (grader, templates, sandboxes): {result['cpu_s']} s, {result['cpu_s_per_submission']} s per "
          f"submission: on {min(jobs, os.cpu_count() or 1)} idle cores at least {result['wall_s_on_idle_cores']} s")
    print("  batch phases (s): " + ", ".join(f"{k} {v}" for k, v in result["batch_phases_s"].items()))
    print("  per submission (mean s): " + ", ".join(f"{k} {v['mean_s']}" for k, v in per_phase.items()))
    if executed is not None:
        print(f"  plain execution without grading: {executed} s (grading / executing = {result['ratio']})")
    out = root / "results" / "bench-grading.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--lab", default="02_week13_mnist")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--template", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--baseline", action="store_true", help="also execute them without grading (nbclient)")
    args = parser.parse_args(argv)
    result = run(args.root.resolve(), args.lab, args.count, args.jobs, args.template, args.baseline)
    return 0 if result["mean_score"] > 0 else 1
if __name__ == "__main__":
    raise SystemExit(main())
