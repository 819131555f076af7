"""Write grading results: per-submission JSON, a CSV gradebook and plain-text feedback (grading).

Feedback cannot be forged. Every string that came from a submission (its file name, an exception's
message, a reason quoting the student's code) has its control characters made visible (a newline
shows as \\n, a tab as \\t, others as \\xNN; bidi and zero-width characters as \\uNNNN), is shortened and
written in double quotes on an indented line. Only the grader writes lines that start at the margin
(the header and the SCORE line), so nothing a student prints or raises can look like a score. The
machine-readable record is the per-submission JSON beside it. CSV cells that a spreadsheet would read
as a formula are quoted.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from labhelpers.files import atomic_write

_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
STATUS_WORDS = {"passed": "ok", "wrong": "wrong answer", "not implemented": "not implemented yet",
                "missing": "function not found", "error": "raised an error", "timeout": "too slow",
                "crash": "crashed", "not run": "not graded", "forbidden": "not allowed", "partial": "partly right"}
HEADER = "labkit feedback (every line at the left margin is written by the grader)"


def _visible(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def clean(text: object, limit: int = 500) -> str:
    """``text`` on one line: control, bidi and zero-width characters made visible; at most ``limit`` characters."""
    value = _INVISIBLE.sub(lambda m: _visible(m.group()), str(text))
    return value if len(value) <= limit else value[:limit] + "..."


def quoted(text: object, limit: int = 500) -> str:
    """``clean(text)`` in double quotes (a quote inside shows as \\"): how feedback shows a student's string."""
    return '"' + clean(str(text).replace("\\", "\\\\").replace('"', '\\"'), limit) + '"'


def write_record(path: Path, record: dict) -> None:
    """The per-submission JSON (all details, for the instructor)."""
    atomic_write(path, json.dumps(record, indent=2, ensure_ascii=True, default=str) + "\n")


def _points(value: float) -> str:
    return f"{value:g}"


def feedback_text(record: dict) -> str:
    """A short plain-text report a student can read (see the module doc: it cannot be forged)."""
    lines = [HEADER, f"lab {record['lab']}, submission {quoted(record['submission'], 120)}",
             f"SCORE {_points(record['score'])} / {_points(record['max_score'])}", ""]
    if record["status"] == "rejected":
        lines += ["Your file could not be graded:", f"    {quoted(record['reason'])}", ""]
    brief = record.get("feedback") == "brief"  # the lab's spec shows no probe details
    width = max([len(e["function"]) for e in record.get("exercises", [])] + [8])
    for ex in record.get("exercises", []):
        word = STATUS_WORDS.get(ex["status"], ex["status"])
        lines.append(f"  {ex['function']:<{width}}  {_points(ex['points']):>4} / {_points(ex['max_points']):<4} {word}")
        for part in ex.get("parts", []) if len(ex.get("parts", [])) > 1 else []:
            lines.append(f"      {_points(part['points']):>4} / {_points(part['max_points']):<4} {clean(part['name'], 80)}"
                         + (f": {quoted(part['detail'], 300)}" if part.get("detail") and not brief else ""))
        if ex["status"] != "passed" and record["status"] != "rejected":
            if ex.get("detail") and not ex.get("parts") and not brief:
                lines.append(f"      why: {quoted(ex['detail'])}")
            if ex.get("message"):
                lines.append(f"      hint: {clean(ex['message'])}")
    problems = [f"    {quoted(f['where'], 60)}: {quoted(f['detail'], 300)}" for f in record.get("failures", [])]
    errors = [f"    {quoted(e['cell'], 40)}: {quoted(e['type'], 60)}: {quoted(e['message'], 200)}"
              for e in record.get("cells", {}).get("errors", []) if e.get("type") != "NotImplementedError"]
    if problems:
        lines += ["", "Problems while running your notebook (the grader then re-ran the cells before the",
                  "problem and graded what they define):"] + problems
    if errors:
        lines += ["", "Cells that raised an error when run top to bottom:"] + errors[:20]
    late = record.get("late") or {}
    if late.get("penalty") or late.get("reason"):
        lines += ["", f"LATE PENALTY -{_points(late.get('penalty', 0))}: FINAL {_points(record.get('final', 0))} / "
                      f"{_points(record['max_score'])}" if late.get("penalty") else "Submission time:",
                  f"    {quoted(late.get('reason', ''), 400)}"]
    lines += ["", "Before submitting, run the last cell of the notebook (the self-check): it runs your",
              "notebook top to bottom in a fresh kernel, as the grader does, and lists what would fail."]
    return "\n".join(lines) + "\n"


def _csv_cell(value: object) -> object:
    """Quote text a spreadsheet would treat as a formula."""
    if isinstance(value, str):
        if value.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@") or value[:1] in ("\t", "\r"):
            value = "'" + value
        return clean(value, 300)
    return value


COURSE_COLUMNS = ["student", "student_id", "submitted_at", "time_source", "raw", "penalty", "final", "penalty_reason",
                  "flag"]


def gradebook_csv(records: list[dict], functions: list[str], course: bool = False,
                  missing: list[dict] = (), max_score: float = 0.0) -> str:
    """One row per submission: file, name, status, points per exercise, total (the raw score), maximum, reason.
    ``course`` (a roster, a late policy or an LMS download): then also who it is from, when it came, raw,
    penalty and final score, the penalty's reason and a flag (duplicate, unmatched), and a row for each
    roster student without a submission (``missing``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "name", "status", *functions, "total", "max", "reason"]
                    + (COURSE_COLUMNS if course else []))
    for record in sorted(records, key=lambda r: r["name"]):
        points = {e["function"]: e["points"] for e in record.get("exercises", [])}
        row = [record["submission"], record["name"], record["status"],
               *[_points(points.get(f, 0.0)) for f in functions],
               _points(record["score"]), _points(record["max_score"]), record.get("reason", "")]
        if course:
            student, late = record.get("student") or {}, record.get("late") or {}
            graded = record["status"] != "superseded"
            row += [student.get("name", ""), student.get("key", ""), record.get("submitted_at") or "",
                    record.get("time_source", ""), _points(record["score"]) if graded else "",
                    _points(late.get("penalty", 0.0)) if graded else "",
                    _points(record.get("final", record["score"])) if graded else "", late.get("reason", ""),
                    record.get("flag", "")]
        writer.writerow([_csv_cell(v) for v in row])
    for student in sorted(missing, key=lambda s: (s.get("name", ""), s.get("key", ""))) if course else []:
        row = ["", "", "missing", *["" for _ in functions], "", _points(max_score),
               "no submission", student.get("name", ""), student.get("key", ""), "", "", "", "", "", "",
               "no submission from this roster student"]
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def write_outputs(out: Path, record: dict) -> None:
    """``out/<name>.json`` and ``out/feedback/<name>.txt`` for one graded submission."""
    write_record(out / f"{record['name']}.json", record)
    atomic_write(out / "feedback" / f"{record['name']}.txt", feedback_text(record))
