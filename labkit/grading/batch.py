"""Grade a list of submissions, N at a time, each in its own sandbox (grading: the batch engine).

``python -m labkit grade SUBMISSIONS --lab NAME --out DIR [-j N]`` (the course layer, :mod:`course`, turns a
folder or an LMS zip into this list). The isolation mode is detected once (a probe sandbox) and recorded;
every submission is graded even when another one breaks. For a batch longer than its worker slots, each
slot gets a template process (:mod:`template`) that imported the lab's modules once and forks every
sandbox from there, before any isolation is applied; ``template="off"`` starts a fresh interpreter each time.
"""
from __future__ import annotations

import ast
import os
import queue
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .grade import Sandboxing, grade_submission
from .sandbox import Isolation, child_env, detect_isolation, needed_paths
from .spec import LabTests
from .submission import MAX_BYTES, Rejected, Submission, load_submission

KEEP = ("labhelpers", "data")  # the only top-level entries of the repository a sandbox can see


@dataclass
class Job:
    """One submission to grade: its readable copy, its record's name and what the record calls it."""

    path: Path | None
    name: str
    label: str                   # the record's "submission": where it is in the download
    seed: int | None = None      # replay these probes (None: fresh ones)
    refused: str = ""            # not to be run: the reason (unsafe zip member, ...)


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


def _load(job: Job, tests: LabTests, max_bytes: int) -> Submission | Rejected:
    """The job's submission read and checked (or the Rejected that says why it is not run)."""
    try:
        if job.refused or job.path is None:
            raise Rejected(job.refused or "the file could not be read")
        return load_submission(job.path, job.name, tests, max_bytes)
    except Rejected as err:
        if not hasattr(err, "submission"):
            err.submission = Submission(Path(job.label), job.name)
        return err


def launch_templates(sandboxing: Sandboxing, jobs: int, modules: list[str]) -> float:
    """Start one template per worker slot (they import while the batch reads its files); the start time."""
    from .template import Template
    home = sandboxing.workroot / "template-home"
    home.mkdir(mode=0o700, exist_ok=True)
    env = child_env(str(home), "/tmp", 1)
    for slot in range(jobs):
        sandboxing.templates[slot] = Template.launch(modules, env, sandboxing.workroot / f"template-{slot}.log")
    return time.monotonic()


def templates_ready(sandboxing: Sandboxing, started: float, log: Callable) -> dict:
    """Wait for the templates (what the batch report says about them); none are used when one failed."""
    from .template import TemplateError
    try:
        for template in sandboxing.templates.values():
            template.wait_ready()
    except (TemplateError, OSError) as err:
        stop_templates(sandboxing)
        log(f"WARNING: no template process ({err}); every sandbox starts a fresh interpreter")
        return {"used": False, "why": str(err)}
    info = sandboxing.templates[0].info
    return {"used": True, "slots": len(sandboxing.templates), "modules": info.get("modules", []),
            "failed": info.get("failed", {}), "warmed": info.get("warmed", []),
            "import_seconds": round(time.monotonic() - started, 2)}


def stop_templates(sandboxing: Sandboxing) -> None:
    for template in sandboxing.templates.values():
        template.close()
    sandboxing.templates.clear()


def run_jobs(todo: list[Job], tests: LabTests, out: Path, *, root: Path, jobs: int, hide_extra: list[Path],
             isolation: str = "auto", max_bytes: int = MAX_BYTES, template: str = "auto", preload: list[str] = (),
             finish: Callable[[dict], dict] = lambda r: r, log=print) -> tuple[list[dict], Isolation, dict]:
    """Grade ``todo`` with ``jobs`` sandboxes at a time; ``finish`` completes and writes each record as it is
    done. Returns (records, isolation in force, what the templates did)."""
    workroot = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    workroot.chmod(0o711)  # sandbox users may enter their own folder inside, not list the others
    templates: dict = {"used": False, "why": f"template={template}"}
    try:
        hide = hide_paths(root, [*hide_extra, out, workroot])
        data_dir = root / "data" if (root / "data").is_dir() else None
        found = detect_isolation(isolation, workroot, hide, data_dir)
        if found.mode == "none":
            log("WARNING: no OS isolation on this machine (no unshare/namespaces): submissions can read files "
                "and use the network; see grade_report.json")
        sandboxing = Sandboxing(found.mode, workroot, hide, data_dir)
        use = template == "on" or (template == "auto" and len(todo) > max(1, jobs))
        try:
            try:
                started = launch_templates(sandboxing, max(1, jobs), list(preload)) if use else 0.0
            except OSError as err:
                stop_templates(sandboxing)
                use, templates["why"] = False, f"the template could not start: {err}"
            loaded = [_load(job, tests, max_bytes) for job in todo]  # every file read (and hashed) before any runs
            if use:
                templates = templates_ready(sandboxing, started, log)
            elif template == "auto":
                templates["why"] = f"{len(todo)} submission(s) for {jobs} slot(s): a fresh interpreter is as fast"
        except BaseException:
            stop_templates(sandboxing)
            raise
        log(f"grading {len(todo)} submission(s) of {tests.lab} with -j {jobs}, isolation: {found.mode}"
            + (", from templates" if templates.get("used") else ""))
        try:
            records = _grade_all(loaded, todo, tests, sandboxing, out, jobs, finish, log)
        finally:
            stop_templates(sandboxing)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    return records, found, templates


def _grade_all(loaded: list, todo: list[Job], tests: LabTests, sandboxing: Sandboxing, out: Path, jobs: int,
               finish: Callable[[dict], dict], log) -> list[dict]:
    """Grade ``loaded`` with ``jobs`` worker threads (each drives one sandbox at a time)."""
    slots: queue.Queue = queue.Queue()
    groups = _cpu_groups(jobs)
    for slot in range(jobs):
        slots.put(slot)
    (out / "output").mkdir(parents=True, exist_ok=True)

    def work(pair: tuple[Submission | Rejected, Job]) -> dict:
        item, job = pair
        submission = item.submission if isinstance(item, Rejected) else item
        slot = slots.get()
        output_path = out / "output" / f"{job.name}.txt"
        try:
            record = grade_submission(item, tests, sandboxing, output_path, slot=slot, cpus=groups[slot], seed=job.seed)
        except Exception as err:  # a grader bug must not stop the batch: record it and go on
            record = {"submission": job.label, "name": job.name, "lab": tests.lab, "status": "error",
                      "reason": f"internal grader error: {type(err).__name__}: {err}", "score": 0.0,
                      "max_score": tests.max_score, "exercises": [], "sha256": submission.sha256}
        finally:
            slots.put(slot)
        record["submission"] = job.label
        _trim(output_path, 2 * tests.limits.output_bytes)
        record = finish(record)
        log(f"  {job.name:<40} {record['score']:g}/{record['max_score']:g}  {record['status']}"
            + (f"  ({record['reason'][:80]})" if record.get("reason") else ""))
        return record

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(work, zip(loaded, todo)))


def grade_folder(submissions: Path, lab: str, out: Path, **options) -> dict:
    """Grade a folder or an LMS zip of submissions into ``out`` (see :func:`course.grade_course`)."""
    from .course import grade_course
    return grade_course(submissions, lab, out, **options)


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
