"""The batch's files, made from its records alone: gradebook, LMS imports, item analysis, similarity (grading).

:func:`finalize` is the one place these are written, after a grade, a merge of shards, or a regrade, so each
of them always describes exactly the records in the folder. What it needs besides the records (the lab's
exercises, the roster's students, the starter code) is the :class:`Context`, kept in grade_report.json.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from labhelpers.files import atomic_write

from .analysis import report_html
from .lms_out import Grade, canvas_csv, gradescope_results, moodle_csv
from .report import _points, clean, gradebook_csv, write_outputs
from .roster import Student
from .similarity import find_pairs, load_archives, similarity_html

OUTPUT_FILES = ("gradebook.csv", "canvas.csv", "moodle.csv", "report.html", "similarity.html")


@dataclass
class Context:
    """What the batch's files need besides the records."""

    lab: str
    functions: list[str]
    max_score: float
    course: bool = False                  # a roster, a policy or an LMS download: the gradebook says who and when
    canvas_header: str = ""
    students: list[dict] = field(default_factory=list)   # the roster (Student as dicts); [] without one
    missing: list[dict] = field(default_factory=list)    # roster students without a submission
    starter: dict = field(default_factory=dict)          # function -> the stub's source
    archives: list[str] = field(default_factory=list)    # earlier years, for the similarity check
    source: str = ""
    lms: str = "plain"
    shard: str = ""                                      # "K/N" for one slice of a batch

    @classmethod
    def from_dict(cls, data: dict) -> "Context":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def record_files(out: Path, record: dict) -> None:
    """``<name>.json``, ``feedback/<name>.txt`` and (when it was graded) ``gradescope/<name>/results.json``."""
    write_outputs(out, record)
    if record.get("status") != "superseded":
        atomic_write(out / "gradescope" / record["name"] / "results.json", gradescope_results(record))


def load_records(out: Path) -> list[dict]:
    """Every per-submission record in ``out`` (not the batch's own JSON files)."""
    records = []
    for path in sorted(out.glob("*.json")):
        if path.name in ("grade_report.json", "merge_report.json"):
            continue
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(data, dict) and "name" in data and "exercises" in data:
            records.append(data)
    return records


def lms_grades(records: list[dict], ctx: Context) -> list[Grade]:
    """Each student's grade: the final score of the submission that counts, or None (no submission)."""
    counted = {}
    for record in records:
        student = record.get("student")
        if student and record.get("status") != "superseded" and not record.get("flag", "").startswith("unmatched"):
            counted[student["key"]] = record
    people = [Student(**s) for s in ctx.students] if ctx.students else \
        [Student(**r["student"]) for r in counted.values()]
    grades = []
    for student in people:
        record = counted.get(student.key)
        if record is None:
            grades.append(Grade(student, None, None, 0.0, "no submission"))
            continue
        ident = record.get("identity") or {}
        student = replace(student, participant=student.participant or ident.get("participant", ""),
                          canvas_id=student.canvas_id or ident.get("canvas_id", ""))  # the download's own ids
        late = record.get("late") or {}
        comment = f"labkit: {_points(record['score'])} / {_points(record['max_score'])}"
        if late.get("penalty"):
            comment += f", late penalty -{_points(late['penalty'])} ({clean(late.get('reason', ''), 200)})"
        if record.get("status") == "rejected":
            comment += f"; not graded: {clean(record.get('reason', ''), 200)}"
        grades.append(Grade(student, record.get("final", record["score"]), record["score"], late.get("penalty", 0.0),
                            comment, record["name"]))
    return grades


def finalize(out: Path, records: list[dict], ctx: Context, log=print) -> dict:
    """Write the batch's files from ``records``; what was flagged (for the batch report)."""
    atomic_write(out / "gradebook.csv", gradebook_csv(records, ctx.functions, ctx.course, ctx.missing, ctx.max_score))
    grades = lms_grades(records, ctx)
    atomic_write(out / "canvas.csv", canvas_csv(grades, ctx.canvas_header or ctx.lab, ctx.max_score))
    atomic_write(out / "moodle.csv", moodle_csv(grades, ctx.max_score))
    atomic_write(out / "report.html", report_html(records, ctx.functions, ctx.lab, ctx.max_score))
    sources = {r["name"]: r.get("sources") or {} for r in records if r.get("status") == "graded"}
    try:
        archive = load_archives([Path(p) for p in ctx.archives], ctx.functions)
        pairs = find_pairs(sources, ctx.starter, archive)
        page = similarity_html(pairs, ctx.lab, len(sources))
    except Exception as err:  # noqa: BLE001 - the similarity check is advice: it must never cost the grades
        log(f"WARNING: the similarity check failed ({type(err).__name__}: {err}); similarity.html says so")
        pairs, page = [], f"<!doctype html><p>The similarity check failed: {clean(err)}</p>\n"
    atomic_write(out / "similarity.html", page)
    return {"similar_pairs": [[p.a, p.b, p.similarity] for p in pairs[:40]],
            "lms_rows": {"canvas": sum(1 for g in grades if g.student.canvas_id),
                         "moodle": sum(1 for g in grades if g.student.participant or g.student.email
                                       or g.student.id_number)}}


def context_dict(ctx: Context) -> dict:
    return asdict(ctx)
