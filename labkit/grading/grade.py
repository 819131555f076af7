"""Grade one submission in sandboxes: run its cells, recover from failures, score exported answers (grading).

A fresh sandbox runs the code cells one by one under a per-cell and a whole-notebook time limit.
When cell ``i`` hangs, crashes the process, exits it or runs out of memory, a fresh sandbox runs only
cells ``[0, i)`` and the exercises are graded from there: the submission keeps the points it earned
before the failure. Probe inputs reach the sandbox only after the cells have run; answers come back
as plain JSON and are compared here (:mod:`verdict`). The batch driver is :mod:`grade_batch`.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .spec import LabTests, forbidden_uses, prepare
from .sandbox import Child, ChildFailure, Limits
from .similarity import function_sources
from .submission import Rejected, Submission
from .verdict import score_exercise

# The references run here, in the grader's threads, and seeded calls seed torch's, NumPy's and random's global
# generators first: two threads preparing at once drew from each other's seeded streams (a solution lost points
# on a training exercise under load). One at a time.
REFERENCE_LOCK = threading.RLock()
EXTRA_RUNS = 3  # sandbox re-runs after failures, besides one per exercise (whose call may crash)
MEMORY_WORDS = ("MemoryError", "can't allocate memory", "out of memory")


@dataclass
class Sandboxing:
    """How every sandbox of a batch is made (same for all submissions)."""

    mode: str
    workroot: Path
    hide: list[str]
    data_dir: Path | None
    templates: dict = field(default_factory=dict)  # worker slot -> template.Template (pre-imported forks)


def _is_memory_error(error: dict | None) -> bool:
    return bool(error) and any(word in f"{error.get('type')}: {error.get('message')}" for word in MEMORY_WORDS)


class Session:
    """The sandbox runs of one submission and what they produced."""

    def __init__(self, submission: Submission, prepared: list, limits: Limits, sandboxing: Sandboxing,
                 output_path: Path, slot: int, cpus: list[int] | None):
        self.submission, self.prepared, self.limits = submission, prepared, limits
        self.sandboxing, self.output_path, self.slot, self.cpus = sandboxing, output_path, slot, cpus
        self.runs, self.isolation, self.cells_completed = 0, None, 0
        self.cell_errors: dict[int, dict] = {}
        self.failures: list[dict] = []
        self.answers: dict[int, list] = {}
        self.export_failures: dict[int, dict] = {}
        self.cell_seconds: dict[int, float] = {}
        self.phases = {"start": 0.0, "cells": 0.0, "probes": 0.0, "cleanup": 0.0}  # seconds, summed over the runs

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.phases[name] += now - since
        return now

    def _failure(self, phase: str, where: str, kind: str, detail: str) -> None:
        self.failures.append({"phase": phase, "where": where, "kind": kind, "detail": detail})

    def run(self, pending: list[int]) -> None:
        """Run sandboxes until every pending exercise has an answer or a reason why not."""
        upto, started = len(self.submission.cells), time.monotonic()
        budget = self.limits.notebook_timeout * 3 + 120
        max_runs = 1 + EXTRA_RUNS + len(self.prepared)
        while pending and self.runs < max_runs and time.monotonic() - started < budget:
            self.runs += 1
            upto = self._one_run(upto, pending)
            if upto is None:
                break

    def _one_run(self, upto: int, pending: list[int]) -> int | None:
        """One sandbox: cells [0, upto) then the exports; returns the next ``upto`` (None: stop)."""
        limits = self.limits
        with open(self.output_path, "ab") as log:
            log.write(f"\n===== run {self.runs}: {upto} code cells =====\n".encode())
        child = Child(self.sandboxing.mode, limits, self.sandboxing.workroot, self.output_path,
                      hide=self.sandboxing.hide, data_dir=self.sandboxing.data_dir, slot=self.slot, cpus=self.cpus,
                      template=self.sandboxing.templates.get(self.slot))
        phase, current, run_deadline, mark = "start", 0, 0.0, time.monotonic()
        try:
            ready = child.start(self.submission.cells[:upto])
            self.isolation = self.isolation or ready.get("isolation")
            mark = self._phase("start", mark)
            phase, run_deadline = "cells", time.monotonic() + limits.notebook_timeout
            for index in range(upto):
                current = index
                self._expect(child, {"event": "start", "cell": index}, run_deadline)
                cell_started = time.monotonic()
                done = child.next_event(min(time.monotonic() + limits.cell_timeout, run_deadline))
                self.cell_seconds[index] = round(time.monotonic() - cell_started, 3)
                if done.get("event") != "done" or done.get("cell") != index:
                    raise ChildFailure("protocol", "the notebook interfered with the grader's messages")
                if done.get("error"):
                    self.cell_errors.setdefault(index, done["error"])
                    if _is_memory_error(done["error"]):
                        raise ChildFailure("memory", "the cell ran out of memory")
                self.cells_completed = max(self.cells_completed, index + 1)
            self._expect(child, {"event": "cells_done"}, time.monotonic() + 30)
            mark = self._phase("cells", mark)
            phase = "export"
            for position in list(pending):
                current = position
                exercise, _, wired, _ = self.prepared[position]
                deadline = time.monotonic() + limits.call_timeout
                child.send({"op": "call", "id": position, "function": exercise.function, "calls": wired,
                            "forbidden": list(exercise.forbidden), "allowed": list(exercise.allowed)}, deadline)
                answer = child.next_event(deadline)
                if answer.get("event") != "answer" or answer.get("id") != position:
                    raise ChildFailure("protocol", "an unexpected message came back instead of the answer")
                self.answers[position] = answer.get("results")
                pending.remove(position)
            child.send({"op": "quit"}, time.monotonic() + 5)
            return None
        except ChildFailure as failure:
            return self._recover(failure, phase, current, upto, pending, run_deadline)
        finally:
            mark = self._phase({"start": "start", "cells": "cells"}.get(phase, "probes"), mark)
            child.close()
            self._phase("cleanup", mark)

    def _expect(self, child: Child, wanted: dict, deadline: float) -> None:
        event = child.next_event(deadline)
        if any(event.get(key) != value for key, value in wanted.items()):
            raise ChildFailure("protocol", "the notebook interfered with the grader's messages")

    def _recover(self, failure: ChildFailure, phase: str, current: int, upto: int, pending: list[int],
                 run_deadline: float) -> int | None:
        """Record ``failure``; return the cells to run next time (None: give up)."""
        limits = self.limits
        if phase == "start":
            self._failure("start", "sandbox", failure.kind, failure.detail)
            return upto if self.runs < 2 else None
        if phase == "cells":
            label = self.submission.labels[current]
            if failure.kind == "timeout":
                notebook = time.monotonic() >= run_deadline - 0.5
                detail = (f"the whole notebook ran longer than {limits.notebook_timeout:.0f} s" if notebook
                          else f"this cell ran longer than {limits.cell_timeout:.0f} s")
            else:
                detail = failure.detail
            self._failure("cell", label, failure.kind, detail)
            return current
        exercise = self.prepared[current][0]
        status = {"timeout": "timeout", "crash": "crash"}.get(failure.kind, "error")
        detail = {"timeout": f"your function did not return within {limits.call_timeout:.0f} s",
                  "crash": f"the notebook's process ended while your function ran ({failure.detail})"}.get(
            failure.kind, failure.detail)
        self.export_failures[current] = {"status": status, "detail": detail}
        self._failure("export", exercise.function, failure.kind, detail)
        pending.remove(current)
        return upto


def grade_submission(loaded: Submission | Rejected, tests: LabTests, sandboxing: Sandboxing, output_path: Path, *,
                     slot: int = 0, cpus: list[int] | None = None, seed: int | None = None) -> dict:
    """Grade one submission read beforehand by ``load_submission`` (or the Rejected it raised);
    the per-submission record (score, exercises, errors, runtime, isolation)."""
    started = time.monotonic()
    seed = secrets.randbits(63) if seed is None else seed
    submission = loaded.submission if isinstance(loaded, Rejected) else loaded
    record = {"submission": submission.path.name, "name": submission.name, "lab": tests.lab, "status": "graded",
              "reason": "", "score": 0.0, "max_score": tests.max_score, "seed": seed, "feedback": tests.feedback}
    if isinstance(loaded, Rejected):
        record.update(status="rejected", reason=str(loaded), size_bytes=submission.size, sha256=submission.sha256,
                      exercises=[_unrun(ex, "not run: " + str(loaded)) for ex in tests.exercises],
                      runtime_s=0.0)
        return record
    record.update(size_bytes=submission.size, sha256=submission.sha256,
                  sources=function_sources(submission.cells, [ex.function for ex in tests.exercises]))
    with REFERENCE_LOCK:  # references seed and draw from torch's, NumPy's and random's global generators
        prepared = prepare(tests, np.random.default_rng(seed))
    session = Session(submission, prepared, tests.limits, sandboxing, output_path, slot, cpus)
    forbidden = {i: forbidden_uses(submission.cells, ex) for i, (ex, *_rest) in enumerate(prepared)}
    prepared_at = time.monotonic()
    session.run([i for i in range(len(prepared)) if not forbidden[i]])
    scoring_at = time.monotonic()
    exercises = []
    for position, (exercise, calls, _, expected) in enumerate(prepared):
        failure = session.export_failures.get(position)
        if forbidden[position]:
            failure = {"status": "forbidden", "detail": f"uses {', '.join(forbidden[position])}, which this "
                                                        "exercise asks you to write yourself"}
        elif position not in session.answers and failure is None:
            last = session.failures[-1]["detail"] if session.failures else "the sandbox stopped"
            failure = {"status": "not run", "detail": f"the grader could not call your function ({last})"}
        with REFERENCE_LOCK:  # a check may rebuild seeded layers from the same global generators
            exercises.append(score_exercise(exercise, calls, expected, session.answers.get(position), failure))
    record.update(
        score=float(sum(e["points"] for e in exercises)), exercises=exercises, runs=session.runs,
        cells={"count": len(submission.cells), "completed": session.cells_completed,
               "errors": [{"cell": submission.labels[i], **err} for i, err in sorted(session.cell_errors.items())]},
        failures=session.failures, isolation=session.isolation, runtime_s=round(time.monotonic() - started, 2),
        phases={"prepare": round(prepared_at - started, 3), **{k: round(v, 3) for k, v in session.phases.items()},
                "score": round(time.monotonic() - scoring_at, 3)})
    if session.failures:
        first = session.failures[0]
        record["reason"] = f"{first['where']}: {first['kind']}: {first['detail']}"
    return record


def _unrun(exercise, detail: str) -> dict:
    return {"function": exercise.function, "points": 0.0, "max_points": float(exercise.points),
            "status": "not run", "detail": detail, "message": exercise.message}
