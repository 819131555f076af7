"""Grades out: Canvas's gradebook import CSV, Moodle's grade import CSV, Gradescope's results.json (grading).

* ``canvas.csv``: Canvas's own import format: the header row (Student, ID, SIS User ID, SIS Login ID,
  Section, then the assignment as ``Name (id)``, which is how Canvas knows the column), a "Points
  Possible" row, then one row per student. A student without a submission has an empty cell (Canvas
  leaves that grade unchanged).
* ``moodle.csv``: Identifier (``Participant N``), Full name, Email address, ID number, Grade, Maximum Grade,
  Feedback comments: the assignment's grading worksheet upload reads Identifier/Grade/Feedback comments,
  the gradebook's CSV import maps Email address or ID number to the user.
* ``gradescope/<submission>/results.json``: Gradescope's autograder results (a test per exercise).

Every text cell is quoted against formula injection (:func:`report._csv_cell`).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from .report import _csv_cell, _points, clean
from .roster import ASSIGNMENT_COLUMN, Roster, Student


@dataclass(frozen=True)
class Grade:
    """A student's grade for the lab as the LMS gets it (final is None: no submission)."""

    student: Student
    final: float | None
    raw: float | None
    penalty: float
    comment: str
    submission: str = ""       # the record's name


def canvas_header(lab: str, roster: Roster | None, lms: dict[str, str]) -> tuple[str, str]:
    """(the assignment column's header ``Name (id)``, a note for the log when it had to be guessed)."""
    if lms.get("canvas_assignment"):
        header = lms["canvas_assignment"].strip()
        if not ASSIGNMENT_COLUMN.match(header):
            return header, (f"canvas_assignment {header!r} has no '(id)': Canvas will make a new assignment "
                            "column on import; write it as 'Name (id)' as in Canvas's export")
        return header, ""
    known = roster.assignments if roster is not None else {}
    fits = [f"{name} ({aid})" for aid, name in known.items() if lab in name or lab.split("_")[0] in name.split()]
    if len(fits) == 1:
        return fits[0], ""
    if len(known) == 1:
        (aid, name), = known.items()
        return f"{name} ({aid})", ""
    return lab, ("canvas.csv: no assignment 'Name (id)' known (set [lms] canvas_assignment in policy.toml, or give "
                 f"the Canvas gradebook export as the roster): its column is {lab!r}, which Canvas imports as a new "
                 "assignment")


def _write(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def _score(value: float | None) -> str:
    return "" if value is None else _points(round(value, 4))


def canvas_csv(grades: list[Grade], header: str, points_possible: float) -> str:
    """Canvas's gradebook import file."""
    rows: list[list[object]] = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", header],
                                ["    Points Possible", "", "", "", "", _points(points_possible)]]
    for grade in sorted(grades, key=lambda g: (g.student.sortable or g.student.name, g.student.key)):
        s = grade.student
        if not s.canvas_id:
            continue  # Canvas matches rows by its user id (or SIS ids): without one the row cannot import
        rows.append([s.sortable or s.name, s.canvas_id, s.sis_user_id, s.sis_login_id, s.section, _score(grade.final)])
    return _write(rows)


def moodle_csv(grades: list[Grade], max_score: float) -> str:
    """Moodle's grade import file (grading worksheet columns plus the ids the gradebook import maps)."""
    rows: list[list[object]] = [["Identifier", "Full name", "Email address", "ID number", "Grade", "Maximum Grade",
                                 "Feedback comments"]]
    for grade in sorted(grades, key=lambda g: (g.student.name, g.student.key)):
        s = grade.student
        if not (s.participant or s.email or s.id_number):
            continue
        rows.append([f"Participant {s.participant}" if s.participant else "", s.name, s.email, s.id_number,
                     _score(grade.final), _points(max_score), clean(grade.comment, 300)])
    return _write(rows)


def gradescope_results(record: dict) -> str:
    """Gradescope's results.json for one record: one test per exercise, the final score, the feedback."""
    tests = []
    for number, ex in enumerate(record.get("exercises", []), start=1):
        output = "" if ex["status"] == "passed" else clean(ex.get("detail") or ex.get("status"), 500)
        if ex.get("message") and ex["status"] != "passed":
            output += f"\nhint: {clean(ex['message'], 300)}"
        tests.append({"name": ex["function"], "number": str(number), "score": ex["points"],
                      "max_score": ex["max_points"], "status": "passed" if ex["status"] == "passed" else "failed",
                      "output": output.strip(), "visibility": "visible"})
    late = record.get("late") or {}
    lines = [f"raw score {_points(record['score'])} / {_points(record['max_score'])}"]
    if late.get("penalty"):
        lines.append(f"late penalty -{_points(late['penalty'])}: {clean(late.get('reason', ''), 300)}")
    if record.get("status") == "rejected":
        lines.append(f"not graded: {clean(record.get('reason', ''), 300)}")
    result = {"score": record.get("final", record["score"]), "output": "\n".join(lines),
              "execution_time": round(float(record.get("runtime_s", 0.0))), "visibility": "visible",
              "stdout_visibility": "hidden", "tests": tests}
    return json.dumps(result, indent=2, ensure_ascii=True) + "\n"
