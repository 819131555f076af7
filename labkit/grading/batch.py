"""Grade every notebook in a folder, N at a time; write JSON, feedback and a CSV gradebook (grading).

``python -m labkit grade SUBMISSIONS --lab NAME --out DIR [-j N]``. The isolation mode
is detected once (a probe sandbox) and recorded; every submission is graded even when another one
breaks; at the end the original files are hashed again to prove they were not modified.
"""
from __future__ import annotations

import ast
import os
import queue
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

from .grade import Sandboxing, grade_submission
from labhelpers.files import atomic_write

from .report import gradebook_csv, write_outputs, write_record
from .spec import load_lab_tests
from .sandbox import detect_isolation, needed_paths
from .submission import MAX_BYTES, Rejected, Submission, file_sha256, load_submission, safe_name

KEEP = ("labhelpers", "data")  # the only top-level entries of the repository a sandbox can see


def _within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def hide_paths(root: Path, extra: list[Path]) -> list[str]:
    """Paths a sandbox must not see (the isolation probe proves they are not readable inside): the
    repository except labhelpers/ and data/ (and whatever holds the Python installation), the grader's
    home, and ``extra`` folders."""
    needed = [Path(p) for p in needed_paths()] + [(root / "data").resolve()]
    hidden = [p.resolve() for p in extra]
    for base in {root.resolve(), Path.home().resolve()}:
        if base == Path("/") or not base.is_dir():
            continue
        if not any(_within(n, base) for n in needed):
            hidden.append(base)
            continue
        for entry in base.iterdir():
            entry = entry.resolve() if not entry.is_symlink() else entry
            if entry.name in KEEP and base == root.resolve():
                continue
            if not any(_within(n, entry) for n in needed):
                hidden.append(entry)
    return sorted({str(p) for p in hidden if not any(_within(n, p) for n in needed)})


def _cpu_groups(jobs: int) -> list[list[int] | None]:
    """CPUs for each worker slot: the available CPUs split evenly, or None (no pinning)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return [None] * jobs
    if jobs <= 1 or jobs > len(cpus):
        return [None] * jobs
    size = len(cpus) // jobs
    return [cpus[k * size:(k + 1) * size] for k in range(jobs)]


def _trim(path: Path, keep: int) -> None:
    """Cut a captured-output file to its first ``keep`` bytes."""
    if path.is_file() and path.stat().st_size > keep:
        with open(path, "r+b") as fp:
            fp.truncate(keep)
            fp.seek(keep)
            fp.write(b"\n[output cut by the grader]\n")


def grade_folder(submissions: Path, lab: str, out: Path, *, root: Path = Path("."), jobs: int = 1,
                 tests_dir: Path | None = None, isolation: str = "auto", parameters: dict | None = None,
                 limits: dict | None = None, seed: int | None = None, force: bool = False,
                 max_bytes: int = MAX_BYTES, log=print) -> dict:
    """Grade every ``*.ipynb`` in ``submissions``; write results to ``out``; return the batch report."""
    submissions, out, root = submissions.resolve(), out.resolve(), root.resolve()
    tests_dir = (tests_dir or root / "grading").resolve()
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder; pass the folder holding the submitted .ipynb files")
    if _within(out, submissions) or _within(submissions, out):
        raise ValueError(f"--out {out} must be outside the submissions folder {submissions} (and not contain it)")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} is not empty; choose another --out folder or pass --force to overwrite results")
    tests = load_lab_tests(tests_dir, lab)
    if parameters is not None:
        tests.parameters = {**tests.parameters, **parameters}
    if limits:
        tests.limits = replace(tests.limits, **limits)
    files = sorted(p for p in submissions.iterdir() if p.suffix.lower() == ".ipynb")
    out.mkdir(parents=True, exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    workroot.chmod(0o711)  # sandbox users may enter their own folder inside, not list the others
    started = time.monotonic()
    try:
        hide = hide_paths(root, [submissions, out, workroot, tests_dir, root / "notebooks"])
        data_dir = root / "data" if (root / "data").is_dir() else None
        found = detect_isolation(isolation, workroot, hide, data_dir)
        if found.mode == "none":
            log("WARNING: no OS isolation on this machine (no unshare/namespaces): submissions can read files "
                "and use the network; see grade_report.json")
        sandboxing = Sandboxing(found.mode, workroot, hide, data_dir)
        log(f"grading {len(files)} submission(s) of {lab} with -j {jobs}, isolation: {found.mode}")
        records = _grade_all(files, tests, sandboxing, out, jobs, seed, max_bytes, log)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    unchanged = {r["submission"]: file_sha256(submissions / r["submission"]) == r.get("sha256")
                 for r in records if r.get("sha256")}
    functions = [ex.function for ex in tests.exercises]
    atomic_write(out / "gradebook.csv", gradebook_csv(records, functions))
    report = {"lab": lab, "submissions": len(records), "jobs": jobs, "seconds": round(time.monotonic() - started, 1),
              "isolation": found.as_dict(), "limits": asdict(tests.limits), "parameters": tests.parameters,
              "hidden_tests": str(tests.path), "originals_unchanged": all(unchanged.values()),
              "unchanged": unchanged, "scores": {r["name"]: r["score"] for r in records}}
    write_record(out / "grade_report.json", report)
    log(f"done in {report['seconds']} s; gradebook: {out / 'gradebook.csv'}; originals unchanged: "
        f"{report['originals_unchanged']}")
    return report


def _grade_all(files: list[Path], tests, sandboxing: Sandboxing, out: Path, jobs: int, seed: int | None,
               max_bytes: int, log) -> list[dict]:
    """Grade ``files`` with ``jobs`` worker threads (each drives one sandbox at a time)."""
    taken: set[str] = set()
    loaded = []  # every file is read (and hashed) before any student code runs
    for path in files:
        try:
            loaded.append(load_submission(path, safe_name(path, taken), tests, max_bytes))
        except Rejected as err:
            loaded.append(err)
    slots: queue.Queue = queue.Queue()
    groups = _cpu_groups(jobs)
    for slot in range(jobs):
        slots.put(slot)
    (out / "output").mkdir(exist_ok=True)

    def work(item: Submission | Rejected) -> dict:
        submission = item.submission if isinstance(item, Rejected) else item
        path, name = submission.path, submission.name
        slot = slots.get()
        output_path = out / "output" / f"{name}.txt"
        try:
            record = grade_submission(item, tests, sandboxing, output_path, slot=slot, cpus=groups[slot], seed=seed)
        except Exception as err:  # a grader bug must not stop the batch: record it and go on
            record = {"submission": path.name, "name": name, "lab": tests.lab, "status": "error",
                      "reason": f"internal grader error: {type(err).__name__}: {err}", "score": 0.0,
                      "max_score": tests.max_score, "exercises": [], "sha256": submission.sha256}
        finally:
            slots.put(slot)
        _trim(output_path, 2 * tests.limits.output_bytes)
        write_outputs(out, record)
        log(f"  {name:<40} {record['score']:g}/{record['max_score']:g}  {record['status']}"
            + (f"  ({record['reason'][:80]})" if record.get("reason") else ""))
        return record

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(work, loaded))


def load_parameters(pairs: list[str]) -> dict:
    """``["SMOKE=True", "EPOCHS=1", "DATA_SOURCE=offline"]`` -> {"SMOKE": True, "EPOCHS": 1, ...}
    (values are Python literals; anything else is kept as text)."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--param {pair!r}: write NAME=VALUE, e.g. --param EPOCHS=1")
        try:
            result[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            result[key] = value
    return result
