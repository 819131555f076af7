"""Upload a graded batch to Canvas with ``canvasapi``: a dry-run diff first, then only what changed (grading).

``python -m labkit upload OUT --canvas-url URL --course ID --assignment ID [--token-env CANVAS_TOKEN] [--apply]``.
The token is read from the environment variable (never from the command line, never written anywhere).
Without ``--apply`` nothing is sent: the diff lists each student's current Canvas grade, the new one and
whether the comment is new. With it, only the students whose grade or comment differ are updated, so
running it twice sends nothing the second time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .outputs import Context, lms_grades, load_records
from .report import _points, clean


@dataclass(frozen=True)
class Update:
    """What one student's Canvas submission would become."""

    user_id: str
    student: str
    current: str          # Canvas's grade now ("" when none)
    new: str
    comment: str
    comment_is_new: bool

    @property
    def changes(self) -> bool:
        return self.current != self.new or self.comment_is_new


def _number(value) -> str:
    try:
        return _points(round(float(value), 4))
    except (TypeError, ValueError):
        return ""


def plan(out: Path, assignment) -> list[Update]:
    """The updates that would bring ``assignment`` (a canvasapi Assignment) in line with the batch in ``out``."""
    report = json.loads((out / "grade_report.json").read_text())
    grades = [g for g in lms_grades(load_records(out), Context.from_dict(report["context"]))
              if g.student.canvas_id and g.final is not None]
    current = {str(s.user_id): s for s in assignment.get_submissions(include=["submission_comments"])}
    updates = []
    for grade in grades:
        submission = current.get(grade.student.canvas_id)
        score = _number(getattr(submission, "score", None)) if submission is not None else ""
        comments = [c.get("comment", "") for c in getattr(submission, "submission_comments", None) or []]
        updates.append(Update(grade.student.canvas_id, grade.student.name, score, _number(grade.final),
                              grade.comment, grade.comment not in comments))
    return updates


def diff_text(updates: list[Update]) -> str:
    """The dry-run diff, one line per student (unchanged ones counted at the end)."""
    lines = [f"{'student':<30} {'canvas id':>10} {'now':>6} {'new':>6}  comment"]
    for u in updates:
        if u.changes:
            lines.append(f"{clean(u.student, 30):<30} {u.user_id:>10} {u.current or '-':>6} {u.new:>6}  "
                         f"{'new' if u.comment_is_new else 'same'}")
    lines.append(f"{sum(u.changes for u in updates)} to update, {sum(not u.changes for u in updates)} unchanged")
    return "\n".join(lines)


def upload(out: Path, url: str, course_id: int, assignment_id: int, token_env: str = "CANVAS_TOKEN",
           apply: bool = False, log=print) -> list[Update]:
    """Show the diff; with ``apply``, send the grades and comments that changed. The updates planned."""
    from canvasapi import Canvas
    token = os.environ.get(token_env, "")
    if not token:
        raise ValueError(f"upload: set the Canvas API token in the environment variable {token_env} "
                         "(Canvas: Account > Settings > New access token); it is never passed on the command line")
    if not (out / "grade_report.json").is_file():
        raise ValueError(f"upload: {out} has no grade_report.json: pass the OUT folder of a grade run")
    assignment = Canvas(url.rstrip("/"), token).get_course(course_id).get_assignment(assignment_id)
    updates = plan(out, assignment)
    log(diff_text(updates))
    if not apply:
        log("dry run: nothing was sent (add --apply to upload)")
        return updates
    submissions = {str(s.user_id): s for s in assignment.get_submissions()}
    for u in updates:
        if not u.changes or u.user_id not in submissions:
            continue
        changes = {"submission": {"posted_grade": u.new}}
        if u.comment_is_new:
            changes["comment"] = {"text_comment": u.comment}
        submissions[u.user_id].edit(**changes)
    log(f"uploaded {sum(u.changes for u in updates)} grade(s) to {assignment.name}")
    return updates
