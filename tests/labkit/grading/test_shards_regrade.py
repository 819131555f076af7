"""Shards merged equal one run (labkit.grading.merge); regrades replay the probes and say what changed
(labkit.grading.regrade). The course class of course_class.py, as a Gradescope export."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from labkit.grading.batch import grade_folder
from labkit.grading.merge import merge_parts
from labkit.grading.regrade import regrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_class as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
COMPARED = ("gradebook.csv", "canvas.csv", "moodle.csv")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("shards")
    tests = C.write_lab(base)
    source, roster = C.gradescope_zip(base / "export.zip"), C.moodle_roster(base / "roster.csv")
    options = dict(root=ROOT, jobs=2, tests_dir=tests, roster=roster, policy=base / "policy.toml", log=lambda *a: None)
    grade_folder(source, C.LAB, base / "whole", **options)
    for k in (1, 2, 3):
        grade_folder(source, C.LAB, base / f"part-{k}", shard=f"{k}/3", **options)
    return base, options, source


def test_sharded_then_merged_equals_one_run(batch):
    base, _, _ = batch
    sizes = [len(json.loads((base / f"part-{k}" / "grade_report.json").read_text())["scores"]) for k in (1, 2, 3)]
    assert sorted(sizes) == [2, 3, 3]  # 8 submissions, every third one per shard
    merge_parts(base / "merged", [base / f"part-{k}" for k in (3, 1, 2)], log=lambda *a: None)
    for name in COMPARED:
        assert (base / "merged" / name).read_text() == (base / "whole" / name).read_text(), name
    whole = sorted(p.name for p in (base / "whole" / "gradescope").iterdir())
    assert sorted(p.name for p in (base / "merged" / "gradescope").iterdir()) == whole


def test_merge_refuses_a_missing_or_repeated_shard(batch):
    base, _, _ = batch
    with pytest.raises(ValueError, match="exactly once"):
        merge_parts(base / "merged-bad", [base / "part-1", base / "part-2"], log=lambda *a: None)
    with pytest.raises(ValueError, match="exactly once"):
        merge_parts(base / "merged-bad2", [base / "part-1", base / "part-1", base / "part-3"], log=lambda *a: None)


def test_regrade_with_unchanged_tests_changes_nothing_and_keeps_the_old_reports(batch, tmp_path):
    base, options, source = batch
    out = tmp_path / "out"
    grade_folder(source, C.LAB, out, **options)
    before = {p.name: json.loads(p.read_text())["seed"] for p in out.glob("submission_*.json")}
    regrade(out, root=ROOT, jobs=2, log=lambda *a: None)
    rows = list(csv.reader(io.StringIO((out / "regrade_diff.csv").read_text())))
    assert rows == [["student", "submission", "exercise", "old", "new", "why"]]
    after = {p.name: json.loads(p.read_text())["seed"] for p in out.glob("submission_*.json")}
    assert after == before  # the same probes were replayed
    history = list((out / "history").iterdir())
    assert len(history) == 1 and (history[0] / "gradebook.csv").is_file() and (history[0] / "submission_3000.json").is_file()


def test_regrade_after_a_hidden_test_fix_lists_what_changed_and_why(batch, tmp_path):
    base, options, source = batch
    tests = tmp_path / "grading"
    tests.mkdir()
    (tests / f"{C.LAB}.py").write_text(C.SPEC)
    out = tmp_path / "out"
    grade_folder(source, C.LAB, out, **{**options, "tests_dir": tests})
    # the instructor "fixes" square: now x + x is the expected answer (Ben's partial becomes right)
    (tests / f"{C.LAB}.py").write_text(C.SPEC.replace("lambda x: x * x", "lambda x: x + x"))
    regrade(out, root=ROOT, who="Ben Okafor", jobs=1, log=lambda *a: None)
    rows = list(csv.DictReader(io.StringIO((out / "regrade_diff.csv").read_text())))
    square = next(r for r in rows if r["exercise"] == "square")
    assert square["student"] == "Ben Okafor" and (square["old"], square["new"]) == ("0", "2")
    assert "hidden tests changed" in square["why"] and "same probes" in square["why"]
    assert {r["submission"] for r in rows} == {"submission_3001"}  # only Ben was regraded
    ben = json.loads((out / "submission_3001.json").read_text())
    assert ben["final"] == 4
    gradebook = (out / "gradebook.csv").read_text()
    assert "submission_3001" in gradebook and (out / "history").is_dir()
