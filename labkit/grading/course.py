"""Grade a course's submissions: LMS download in, roster matching, late policy, shards, every output (grading).

``python -m labkit grade SUBMISSIONS --lab NAME --out DIR [--roster CSV] [--policy TOML] [--shard K/N] -j 2``.
The download (folder or zip: :mod:`lms_in`) becomes entries; the roster (:mod:`roster`) says whose each
is and which one counts per student; those are graded (:mod:`batch`), each record gets its student, its
submission time and late penalty (:mod:`policy`) and the provenance a regrade needs, and :mod:`outputs`
writes the gradebook, the LMS files, the item analysis and the similarity report. A shard grades every
N-th entry of the same sorted list, so the shards of one download never overlap and ``merge`` can join them.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

from .batch import Job, run_jobs
from .lms_in import Entry, collect
from .outputs import Context, context_dict, finalize, record_files
from .policy import Policy, load_policy
from .provenance import provenance
from .report import write_record
from .roster import Match, Roster, Student, load_roster, match, normal, worksheet_time
from .similarity import notebook_sources
from .spec import LabTests, load_lab_tests
from .submission import MAX_BYTES, file_sha256, safe_stem


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> (2, 4); ValueError with the right form otherwise."""
    if not text:
        return None
    k, sep, n = str(text).partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise ValueError(f"--shard {text!r}: write K/N with 1 <= K <= N, e.g. --shard 1/4")
    return int(k), int(n)


def _keys(entry: Entry, student: Student | None) -> set[str]:
    """Every normalised identifier an extension in the policy may use for this submission's student."""
    ident = entry.identity
    keys = {normal(v) for v in (ident.name, ident.canvas_id, ident.participant, ident.sid, ident.email) if v}
    if student is not None:
        keys |= student.keys() | {normal(student.key), normal(student.name)}
    return keys - {""}


def _flag(entry: Entry, matched: Match, names: dict[str, str], roster: Roster | None) -> str:
    if entry.rel in matched.superseded:
        return f"duplicate: superseded by {names[matched.superseded[entry.rel]]}"
    earlier = [names[rel] for rel, later in matched.superseded.items() if later == entry.rel]
    if earlier:
        return f"duplicate: latest of {len(earlier) + 1} submissions (also {', '.join(sorted(earlier))})"
    if roster is not None and matched.student.get(entry.rel) is None:
        return matched.why.get(entry.rel, "unmatched")
    if entry.identity.others:
        return f"group submission: also {', '.join(entry.identity.others)}"
    return ""


def annotate(record: dict, entry: Entry, student: Student | None, why: str, flag: str, policy: Policy | None,
             prov: dict) -> dict:
    """The record with who sent it, when, the late penalty (from the raw score, so it is idempotent) and provenance."""
    record.update(lms=entry.lms, identity=asdict(entry.identity), student=asdict(student) if student else None,
                  match=why, flag=flag, notes=entry.notes,
                  submitted_at=(entry.submitted_at.astimezone(policy.tz) if policy else entry.submitted_at).isoformat()
                  if entry.submitted_at else None,
                  time_source=entry.time_source, provenance=prov)
    if policy is not None and record.get("status") != "superseded":
        late = policy.apply(record["score"], record["max_score"], entry.submitted_at, _keys(entry, student),
                            entry.time_source)
        if entry.lms == "canvas" and entry.identity.late_flag != (late.late_seconds > 0):
            late = replace(late, reason=(late.reason or "on time") + (" (Canvas marked it LATE)" if
                                                                      entry.identity.late_flag else
                                                                      " (Canvas did not mark it late)"))
        record["late"], record["final"] = asdict(late), late.final
    else:
        record["late"], record["final"] = None, record["score"]
    return record


def _starter(root: Path, lab: str, functions: list[str]) -> tuple[dict, list[str]]:
    """(the stub's source of each exercise, the student notebook's code cells) ({} and [] without one)."""
    path = root / "notebooks" / f"{lab}_student.ipynb"
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                 for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    except (OSError, ValueError, AttributeError, KeyError):
        return {}, []
    return notebook_sources(path, functions), cells


def grade_course(source: Path, lab: str, out: Path, *, root: Path = Path("."), jobs: int = 1,
                 tests_dir: Path | None = None, isolation: str = "auto", parameters: dict | None = None,
                 limits: dict | None = None, seed: int | None = None, force: bool = False,
                 max_bytes: int = MAX_BYTES, roster: Path | None = None, policy: Path | None = None,
                 lms: str = "auto", shard: str | None = None, archives: list[Path] = (), template: str = "auto",
                 only: set[str] | None = None, seeds: dict[str, int] | None = None, log=print) -> dict:
    """Grade every submission in ``source`` (folder or zip) into ``out``; return the batch report."""
    started = time.monotonic()
    source, out, root = Path(source).resolve(), Path(out).resolve(), Path(root).resolve()
    tests_dir = Path(tests_dir or root / "grading").resolve()
    if not source.exists():
        raise ValueError(f"{source} does not exist: pass the folder of submitted .ipynb files or the LMS's zip")
    if out == source or out in source.parents or (source.is_dir() and source in out.parents):
        raise ValueError(f"--out {out} must be outside the submissions {source} (and not contain them)")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} is not empty; choose another --out folder or pass --force (FORCE=1) to overwrite")
    tests = load_lab_tests(tests_dir, lab)
    if parameters is not None:
        tests.parameters = {**tests.parameters, **parameters}
    if limits:
        tests.limits = replace(tests.limits, **limits)
    rules = load_policy(Path(policy), lab) if policy else None
    people = load_roster(Path(roster)) if roster else None
    part = parse_shard(shard)
    extracted = Path(tempfile.mkdtemp(prefix="labkit-intake-"))
    try:
        intake = collect(source, extracted, lms, rules.tz if rules else None)
        intake_s = round(time.monotonic() - started, 2)
        report = _grade_intake(intake, tests, out, root, jobs, isolation, max_bytes, rules, people, part,
                               [Path(a) for a in archives], template, only, seeds, seed, tests_dir, extracted, log)
    finally:
        shutil.rmtree(extracted, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["timing"] = {"intake": intake_s, **report["timing"]}
    write_record(out / "grade_report.json", report)
    log(f"done in {report['seconds']} s; gradebook: {out / 'gradebook.csv'}; originals unchanged: "
        f"{report['originals_unchanged']}")
    return report


def _grade_intake(intake, tests: LabTests, out: Path, root: Path, jobs: int, isolation: str, max_bytes: int,
                  rules: Policy | None, people: Roster | None, part, archives: list[Path], template: str,
                  only: set[str] | None, seeds: dict[str, int] | None, seed: int | None, tests_dir: Path,
                  extracted: Path, log) -> dict:
    taken: set[str] = set()
    for entry in intake.entries:
        entry.name = safe_stem(entry.label, taken)
    names = {e.rel: e.name for e in intake.entries}
    matched = match(intake.entries, people)
    if people is not None and people.kind == "moodle-worksheet":
        for entry in intake.entries:
            student = matched.student.get(entry.rel)
            when = worksheet_time(student, rules.tz if rules else datetime.now().astimezone().tzinfo) \
                if student else None
            if when is not None:
                entry.submitted_at, entry.time_source = when, "moodle grading worksheet (Last modified (submission))"
    mine = [e for i, e in enumerate(sorted(intake.entries, key=lambda e: e.name))
            if part is None or i % part[1] == part[0] - 1]
    if only is not None:
        mine = [e for e in mine if e.name in only]
    functions = [ex.function for ex in tests.exercises]
    starter, student_cells = _starter(root, tests.lab, functions)
    prov = provenance(tests.path).as_dict()
    by_name = {e.name: e for e in mine}
    out.mkdir(parents=True, exist_ok=True)

    def finish(record: dict) -> dict:
        entry = by_name[record["name"]]
        record = annotate(record, entry, matched.student.get(entry.rel), matched.why.get(entry.rel, ""),
                          _flag(entry, matched, names, people), rules, prov)
        record_files(out, record)
        return record

    todo = [Job(e.path, e.name, e.rel, (seeds or {}).get(e.name, seed), e.refused)
            for e in mine if e.rel not in matched.superseded]
    from .template import preload_list
    graded_at = time.monotonic()
    records, found, templates = run_jobs(todo, tests, out, root=root, jobs=jobs, isolation=isolation,
                                         hide_extra=[intake.source, tests_dir, root / "notebooks", extracted],
                                         max_bytes=max_bytes, template=template,
                                         preload=preload_list(student_cells), finish=finish, log=log)
    for entry in mine:
        if entry.rel in matched.superseded:
            record = {"submission": entry.rel, "name": entry.name, "lab": tests.lab, "status": "superseded",
                      "reason": f"not graded: a later submission counts ({names[matched.superseded[entry.rel]]})",
                      "score": 0.0, "max_score": tests.max_score, "exercises": [], "seed": None}
            records.append(finish(record))
    ctx = Context(tests.lab, functions, tests.max_score, bool(people or rules or intake.lms != "plain"),
                  starter=starter, archives=[str(a) for a in archives], source=str(intake.source), lms=intake.lms,
                  shard=f"{part[0]}/{part[1]}" if part else "",
                  students=[asdict(s) for s in people.students] if people else [],
                  missing=[asdict(s) for s in matched.missing])
    from .lms_out import canvas_header
    ctx.canvas_header, note = canvas_header(tests.lab, people, rules.lms if rules else {})
    if note and ctx.course:
        log(f"note: {note}")
    outputs_at = time.monotonic()
    flagged = finalize(out, records, ctx, log) if only is None else {}
    timing = {"grading": round(outputs_at - graded_at, 2), "outputs": round(time.monotonic() - outputs_at, 2)}
    unchanged = _unchanged(intake, records)
    return {"lab": tests.lab, "submissions": len(records), "jobs": jobs, "isolation": found.as_dict(),
            "templates": templates, "limits": asdict(tests.limits), "parameters": tests.parameters,
            "hidden_tests": str(tests.path), "provenance": prov, "originals_unchanged": all(unchanged.values()),
            "unchanged": unchanged, "scores": {r["name"]: r["score"] for r in records},
            "finals": {r["name"]: r.get("final") for r in records}, "context": context_dict(ctx),
            "source": {"path": str(intake.source), "kind": intake.kind, "lms": intake.lms, "sha256": intake.sha256,
                       "entries": len(intake.entries)},
            "roster": str(people.path) if people else None, "policy": str(rules.path) if rules else None,
            "flags": {r["name"]: r["flag"] for r in records if r.get("flag")},
            "missing": [s["name"] or s["key"] for s in ctx.missing], "timing": timing, **flagged}


def _unchanged(intake, records: list[dict]) -> dict[str, bool]:
    """Were the originals left as they were? (a zip's own bytes; each file of a folder against its record)."""
    if intake.kind == "zip":
        return {intake.source.name: file_sha256(intake.source) == intake.sha256}
    return {r["submission"]: file_sha256(intake.source / r["submission"]) == r.get("sha256")
            for r in records if r.get("sha256") and (intake.source / r["submission"]).is_file()}
