"""Regrade a graded batch with the current hidden tests: the same probes (or fresh ones), one student or all.

``python -m labkit regrade OUT [--student WHO] [--fresh]``. The download, roster and policy are those the
batch recorded; each submission's file must still hash as it did. Every file the regrade replaces is kept
first in ``OUT/history/<n>-<time>/`` (the earlier records, gradebook, LMS files and reports), the new
records take their place, the batch's files are written again from all records, and
``OUT/regrade_diff.csv`` lists every change: student, submission, exercise, old, new and why.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labhelpers.files import atomic_write

from .merge import copy_record_files
from .outputs import OUTPUT_FILES, Context, finalize, load_records
from .provenance import changes
from .report import _csv_cell, _points, write_record
from .roster import normal


@dataclass(frozen=True)
class Change:
    """One line of regrade_diff.csv."""

    student: str
    submission: str
    exercise: str
    old: str
    new: str
    why: str


def _selected(records: list[dict], who: str | None) -> list[dict]:
    graded = [r for r in records if r.get("status") != "superseded"]
    if not who:
        return graded
    key = normal(who)
    found = [r for r in graded if key in {normal(r["name"]), normal(r.get("submission", ""))}
             | {normal(v) for v in (r.get("student") or {}).values() if isinstance(v, str) and v}]
    if not found:
        raise ValueError(f"regrade --student {who!r}: no graded submission of that student, record name or id")
    return found


def diff(old: dict, new: dict, fresh: bool) -> list[Change]:
    """What changed between two records of one submission, and why."""
    student = (new.get("student") or {}).get("name") or new["name"]
    why = changes(old.get("provenance") or {}, new.get("provenance") or {})
    why.append("fresh probes" if fresh else f"same probes (seed {new.get('seed')})")
    if old.get("sha256") != new.get("sha256"):
        why.append("the submitted file changed since it was graded")
    context = "; ".join(why)
    points_old = {e["function"]: e for e in old.get("exercises", [])}
    out = []
    for ex in new.get("exercises", []):
        before = points_old.get(ex["function"], {"points": 0.0, "status": "absent"})
        if abs(before["points"] - ex["points"]) > 1e-9:
            detail = f"{before['status']} -> {ex['status']}" + (f": {ex['detail'][:160]}" if ex.get("detail") else "")
            out.append(Change(student, new["name"], ex["function"], _points(before["points"]), _points(ex["points"]),
                              f"{detail} ({context})"))
    for field in ("score", "final"):
        if old.get(field) != new.get(field):
            out.append(Change(student, new["name"], "total" if field == "score" else "final",
                              _points(old.get(field) or 0.0), _points(new.get(field) or 0.0), context))
    return out


def diff_csv(rows: list[Change]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "submission", "exercise", "old", "new", "why"])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in (row.student, row.submission, row.exercise, row.old, row.new, row.why)])
    return buffer.getvalue()


def keep_history(out: Path, names: list[str]) -> Path:
    """Copy what a regrade replaces into ``out/history/<n>-<time>/``; that folder."""
    history = out / "history"
    number = 1 + sum(1 for p in history.iterdir() if p.is_dir()) if history.is_dir() else 1
    folder = history / f"{number:03d}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    for name in names:
        copy_record_files(out, folder, name)
    for name in (*OUTPUT_FILES, "grade_report.json", "regrade_diff.csv"):
        if (out / name).is_file():
            shutil.copy2(out / name, folder / name)
    return folder


def regrade(out: Path, *, root: Path, who: str | None = None, fresh: bool = False, jobs: int = 1,
            isolation: str = "auto", log=print) -> dict:
    """Regrade the batch in ``out``; what was done (also appended to grade_report.json's "regrades")."""
    from .course import grade_course
    out = out.resolve()
    try:
        report = json.loads((out / "grade_report.json").read_text())
    except (OSError, ValueError):
        raise ValueError(f"{out} has no readable grade_report.json: pass the OUT folder of an earlier grade") from None
    records = load_records(out)
    chosen = _selected(records, who)
    ctx = Context.from_dict(report["context"])
    staging = Path(tempfile.mkdtemp(prefix="labkit-regrade-"))
    try:
        grade_course(Path(report["source"]["path"]), report["lab"], staging / "out", root=root, jobs=jobs,
                     tests_dir=Path(report["hidden_tests"]).parent, isolation=isolation,
                     parameters=report.get("parameters"), roster=report.get("roster"), policy=report.get("policy"),
                     lms=report["source"].get("lms", "auto"), only={r["name"] for r in chosen},
                     seeds=None if fresh else {r["name"]: r.get("seed") for r in chosen}, log=log)
        fresh_records = {r["name"]: r for r in load_records(staging / "out")}
        lost = sorted({r["name"] for r in chosen} - set(fresh_records))
        if lost:
            raise ValueError(f"regrade: {', '.join(lost)} are no longer in {report['source']['path']}; nothing was changed")
        folder = keep_history(out, sorted(fresh_records))
        rows = []
        for name, new in sorted(fresh_records.items()):
            old = next(r for r in chosen if r["name"] == name)
            rows += diff(old, new, fresh)
            copy_record_files(staging / "out", out, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    atomic_write(out / "regrade_diff.csv", diff_csv(rows))
    merged = load_records(out)
    finalize(out, merged, ctx, log)
    entry = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "who": who or "all", "fresh": fresh,
             "regraded": len(fresh_records), "changes": len(rows), "history": str(folder.relative_to(out))}
    report.update(scores={r["name"]: r["score"] for r in merged}, finals={r["name"]: r.get("final") for r in merged},
                  provenance=next(iter(fresh_records.values())).get("provenance", report.get("provenance")),
                  regrades=report.get("regrades", []) + [entry])
    write_record(out / "grade_report.json", report)
    log(f"regraded {len(fresh_records)} submission(s): {len(rows)} change(s) in {out / 'regrade_diff.csv'}; "
        f"the earlier files are in {folder}")
    return entry
