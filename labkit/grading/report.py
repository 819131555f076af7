"""Write grading results: per-submission JSON, a CSV gradebook and plain-text feedback (grading).

Every string that came from a submission (file names, exception messages) is cleaned of control
characters and shortened before it reaches a feedback file, and CSV cells that a spreadsheet would
read as a formula are quoted, so a student cannot inject terminal escapes or spreadsheet formulas.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from labhelpers.files import atomic_write

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
STATUS_WORDS = {"passed": "ok", "wrong": "wrong answer", "not implemented": "not implemented yet",
                "missing": "function not found", "error": "raised an error", "timeout": "too slow",
                "crash": "crashed", "not run": "not graded", "forbidden": "not allowed"}


def clean(text: object, limit: int = 500) -> str:
    """``text`` without control/bidi characters, at most ``limit`` characters."""
    value = _CONTROL.sub("?", str(text))
    return value if len(value) <= limit else value[:limit] + "..."


def write_record(path: Path, record: dict) -> None:
    """The per-submission JSON (all details, for the instructor)."""
    atomic_write(path, json.dumps(record, indent=2, ensure_ascii=True, default=str) + "\n")


def _points(value: float) -> str:
    return f"{value:g}"


def feedback_text(record: dict) -> str:
    """A short plain-text report a student can read."""
    lines = [f"Lab {record['lab']}: feedback for {clean(record['submission'], 120)}",
             f"Score: {_points(record['score'])} / {_points(record['max_score'])}", ""]
    if record["status"] == "rejected":
        lines += ["Your file could not be graded:", f"  {clean(record['reason'])}", ""]
    width = max([len(e["function"]) for e in record.get("exercises", [])] + [8])
    for ex in record.get("exercises", []):
        word = STATUS_WORDS.get(ex["status"], ex["status"])
        lines.append(f"  {ex['function']:<{width}}  {_points(ex['points']):>4} / {_points(ex['max_points']):<4} {word}")
        if ex["status"] != "passed" and record["status"] != "rejected":
            if ex.get("detail"):
                lines.append(f"      {clean(ex['detail'])}")
            if ex.get("message"):
                lines.append(f"      hint: {clean(ex['message'])}")
    problems = [f"  {clean(f['where'], 60)}: {clean(f['detail'], 300)}" for f in record.get("failures", [])]
    errors = [f"  {clean(e['cell'], 40)}: {clean(e['type'], 60)}: {clean(e['message'], 200)}"
              for e in record.get("cells", {}).get("errors", []) if e.get("type") != "NotImplementedError"]
    if problems:
        lines += ["", "Problems while running your notebook (the grader then re-ran the cells before the",
                  "problem and graded what they define):"] + problems
    if errors:
        lines += ["", "Cells that raised an error when run top to bottom:"] + errors[:20]
    lines += ["", "Before submitting, run the last cell of the notebook (the self-check): it runs your",
              "notebook top to bottom in a fresh kernel, as the grader does, and lists what would fail."]
    return "\n".join(lines) + "\n"


def _csv_cell(value: object) -> object:
    """Quote text a spreadsheet would treat as a formula."""
    if isinstance(value, str):
        value = clean(value, 300)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
    return value


def gradebook_csv(records: list[dict], functions: list[str]) -> str:
    """One row per submission: file, name, status, points per exercise, total, maximum, reason."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "name", "status", *functions, "total", "max", "reason"])
    for record in sorted(records, key=lambda r: r["name"]):
        points = {e["function"]: e["points"] for e in record.get("exercises", [])}
        row = [record["submission"], record["name"], record["status"],
               *[_points(points.get(f, 0.0)) for f in functions],
               _points(record["score"]), _points(record["max_score"]), record.get("reason", "")]
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def write_outputs(out: Path, record: dict) -> None:
    """``out/<name>.json`` and ``out/feedback/<name>.txt`` for one graded submission."""
    write_record(out / f"{record['name']}.json", record)
    atomic_write(out / "feedback" / f"{record['name']}.txt", feedback_text(record))
