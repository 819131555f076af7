"""Join the shards of one batch (``grade --shard K/N``) into one folder with one gradebook (grading, scale).

Each shard is a complete grading folder for every N-th submission of the same sorted list. ``merge``
checks that the parts are the shards 1..N of one download graded with the same hidden tests, copies the
per-submission files, and writes the batch's files from all records (:func:`outputs.finalize`): the result
equals a single run's.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .outputs import Context, finalize, load_records
from .report import write_record

PER_RECORD = ("{name}.json", "feedback/{name}.txt", "output/{name}.txt", "gradescope/{name}")


def _report(part: Path) -> dict:
    try:
        return json.loads((part / "grade_report.json").read_text())
    except (OSError, ValueError):
        raise ValueError(f"{part} has no readable grade_report.json: is it the --out folder of a grade --shard run?") \
            from None


def copy_record_files(src: Path, dest: Path, name: str) -> None:
    """The files of record ``name`` from grading folder ``src`` into ``dest`` (replacing what is there)."""
    for pattern in PER_RECORD:
        path = src / pattern.format(name=name)
        target = dest / pattern.format(name=name)
        if path.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(path, target)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def merge_parts(out: Path, parts: list[Path], force: bool = False, log=print) -> dict:
    """Merge the shard folders ``parts`` into ``out``; the merged batch report."""
    out, parts = out.resolve(), [p.resolve() for p in parts]
    if not parts:
        raise ValueError("merge: name the shard folders, e.g. PARTS=\"out-1 out-2\"")
    if out in parts:
        raise ValueError(f"merge: --out {out} is one of the parts; write the merged batch to a new folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} is not empty; choose another folder or pass --force (FORCE=1)")
    reports = [_report(p) for p in parts]
    first = reports[0]
    for part, report in zip(parts, reports):
        for key, what in (("lab", "lab"), ("source", "download"), ("provenance", "hidden tests and grader")):
            if report.get(key) != first.get(key):
                raise ValueError(f"merge: {part} has another {what} than {parts[0]}: merge only the shards of one "
                                 "batch, graded by the same hidden tests")
        if report["context"].get("missing") != first["context"].get("missing"):
            raise ValueError(f"merge: {part} was graded with another roster than {parts[0]}")
    shards = sorted(r["context"].get("shard", "") for r in reports)
    total = int(shards[0].split("/")[1]) if shards[0] else 0
    wanted = [f"{k}/{total}" for k in range(1, total + 1)]
    if not total or sorted(shards, key=lambda s: int(s.split("/")[0])) != wanted:
        raise ValueError(f"merge: the parts are the shards {shards}; give each of {wanted} exactly once")
    out.mkdir(parents=True, exist_ok=True)
    records, seen = [], {}
    for part in parts:
        for record in load_records(part):
            if record["name"] in seen:
                raise ValueError(f"merge: {record['name']} is in both {seen[record['name']]} and {part}")
            seen[record["name"]] = part
            copy_record_files(part, out, record["name"])
            records.append(record)
    ctx = Context.from_dict({**first["context"], "shard": ""})
    flagged = finalize(out, records, ctx, log)
    report = {**{k: v for k, v in first.items() if k not in ("unchanged", "seconds")},
              "merged_from": [str(p) for p in parts], "submissions": len(records), "context": ctx.__dict__,
              "originals_unchanged": all(r.get("originals_unchanged") for r in reports),
              "seconds": round(sum(r.get("seconds", 0.0) for r in reports), 1),
              "scores": {r["name"]: r["score"] for r in records}, "finals": {r["name"]: r.get("final") for r in records},
              "flags": {r["name"]: r["flag"] for r in records if r.get("flag")}, **flagged}
    write_record(out / "grade_report.json", report)
    log(f"merged {len(parts)} shard(s), {len(records)} submission(s): {out / 'gradebook.csv'}")
    return report
