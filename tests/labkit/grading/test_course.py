"""One class, three LMS downloads (a Canvas zip, a Moodle folder, a Gradescope export), a roster and a late
policy: every student gets the expected final score, and the LMS import files say so (labkit.grading.course).

The class (tests/labkit/grading/course_class.py): correct, partial, late with an extension, late without,
a duplicate, a malicious submission, a roster student without one, and a file from nobody in the roster.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from labkit.grading.batch import grade_folder

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_class as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
KINDS = ("canvas", "moodle", "gradescope")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("course")
    tests = C.write_lab(base)
    made = {"canvas": (C.canvas_zip(base / "canvas.zip"), C.canvas_roster(base / "canvas_roster.csv")),
            "moodle": (C.moodle_folder(base / "moodle"), C.moodle_roster(base / "moodle_roster.csv")),
            "gradescope": (C.gradescope_zip(base / "gradescope.zip"), C.moodle_roster(base / "gs_roster.csv"))}
    results = {}
    for kind, (source, roster) in made.items():
        out = base / f"out-{kind}"
        report = grade_folder(source, C.LAB, out, root=ROOT, jobs=2, tests_dir=tests, roster=roster,
                              policy=base / "policy.toml", log=lambda *a: None)
        records = [json.loads(p.read_text()) for p in out.glob("*.json") if p.name != "grade_report.json"]
        results[kind] = {"report": report, "out": out, "records": records, "source": source, "roster": roster,
                         "tests": tests, "base": base}
    return results


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _finals(records: list[dict]) -> dict[str, float]:
    return {r["student"]["name"]: r["final"] for r in records
            if r.get("student") and r["status"] != "superseded" and not r["flag"].startswith("unmatched")}


@pytest.mark.parametrize("kind", KINDS)
def test_every_student_gets_the_expected_final_score(graded, kind):
    assert _finals(graded[kind]["records"]) == C.EXPECTED_FINAL


@pytest.mark.parametrize("kind", KINDS)
def test_the_gradebook_flags_the_duplicate_the_unmatched_file_and_the_missing_student(graded, kind):
    rows = _rows((graded[kind]["out"] / "gradebook.csv").read_text())
    header, body = rows[0], rows[1:]
    flag, status = header.index("flag"), header.index("status")
    assert sum(r[flag].startswith("duplicate: superseded") for r in body) == 1
    assert sum(r[flag].startswith("duplicate: latest") for r in body) == 1
    assert sum(r[flag].startswith("unmatched") for r in body) == 1
    missing = [r for r in body if r[status] == "missing"]
    assert [r[header.index("student")] for r in missing] == ["Zed Quinn"]
    assert {"raw", "penalty", "final", "penalty_reason"} <= set(header)


@pytest.mark.parametrize("kind", KINDS)
def test_late_penalty_and_extension_are_explained_in_gradebook_and_feedback(graded, kind):
    records = {r["student"]["name"]: r for r in graded[kind]["records"] if r.get("student")}
    dee, cy = records["Dee Ng"], records["Cy Young"]
    assert dee["late"]["penalty"] == pytest.approx(0.8) and "2 day(s) x 10%" in dee["late"]["reason"]
    assert cy["late"]["penalty"] == 0 and "extension +2 days" in cy["late"]["reason"]
    feedback = (graded[kind]["out"] / "feedback" / f"{dee['name']}.txt").read_text()
    assert "LATE PENALTY -0.8: FINAL 3.2 / 4" in feedback


def test_moodle_times_are_file_mtimes_and_say_so(graded):
    for record in graded["moodle"]["records"]:
        assert record["time_source"].startswith("file mtime (fallback")
    assert all("mtime" in r["late"]["reason"] for r in graded["moodle"]["records"] if r.get("late"))


def test_lms_metadata_times_are_used_when_given(graded):
    assert {r["time_source"] for r in graded["gradescope"]["records"]} == {"gradescope metadata (created_at)"}
    assert {r["time_source"] for r in graded["canvas"]["records"] if r["lms"] == "canvas"} == \
        {"canvas export (the zip entry's time)"}


def test_canvas_csv_is_canvas_import_format(graded):
    rows = _rows((graded["canvas"]["out"] / "canvas.csv").read_text())
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 98 (4242)"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == "4"
    grades = {r[1]: r[5] for r in rows[2:]}
    assert grades == {"101": "4", "102": "2", "103": "4", "104": "3.2", "105": "4", "106": "0", "107": ""}
    mal = next(r for r in rows if r[1] == "106")
    assert mal[0].startswith("'=")  # a formula in a name is quoted


@pytest.mark.parametrize("kind", ("moodle", "gradescope"))
def test_moodle_csv_has_identifiers_grades_and_comments(graded, kind):
    rows = _rows((graded[kind]["out"] / "moodle.csv").read_text())
    assert rows[0][:5] == ["Identifier", "Full name", "Email address", "ID number", "Grade"]
    grades = {r[2]: r[4] for r in rows[1:]}
    assert grades["dee@school.edu"] == "3.2" and grades["zed@school.edu"] == ""
    if kind == "moodle":
        assert next(r for r in rows if r[2] == "ada@school.edu")[0] == "Participant 201"
    assert all(not r[1].startswith("=") for r in rows)


@pytest.mark.parametrize("kind", KINDS)
def test_gradescope_results_json_per_submission(graded, kind):
    out = graded[kind]["out"]
    for record in graded[kind]["records"]:
        path = out / "gradescope" / record["name"] / "results.json"
        if record["status"] == "superseded":
            assert not path.exists()
            continue
        result = json.loads(path.read_text())
        assert result["score"] == record["final"] and len(result["tests"]) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_the_malicious_submission_earns_nothing_and_forges_nothing(graded, kind):
    out = graded[kind]["out"]
    mal = next(r for r in graded[kind]["records"] if (r.get("student") or {}).get("email") == "mal@school.edu"
               or (r.get("student") or {}).get("canvas_id") == "106")
    assert mal["score"] == 0
    lines = (out / "feedback" / f"{mal['name']}.txt").read_text().split("\n")
    assert [line for line in lines if line.startswith("SCORE")] == ["SCORE 0 / 4"]
    assert not any(line.startswith("=") for line in (out / "gradebook.csv").read_text().split("\n"))


def test_zip_slip_member_is_refused_and_written_nowhere(graded):
    base = graded["canvas"]["base"]
    refused = [r for r in graded["canvas"]["records"] if "zip-slip" in r.get("reason", "")]
    assert len(refused) == 1 and refused[0]["status"] == "rejected"
    assert not list(base.parent.glob("escaped.ipynb")) and not list(base.parent.parent.glob("escaped.ipynb"))


@pytest.mark.parametrize("kind", KINDS)
def test_originals_unchanged_and_reports_carry_provenance(graded, kind):
    report = graded[kind]["report"]
    assert report["originals_unchanged"]
    for record in graded[kind]["records"]:
        prov = record["provenance"]
        assert len(prov["hidden_tests_sha256"]) == 64 and prov["grader_version"] and prov["labhelpers_version"]
        assert record["status"] == "superseded" or isinstance(record["seed"], int)


def test_grading_again_gives_the_same_gradebook(graded, tmp_path):
    g = graded["gradescope"]
    grade_folder(g["source"], C.LAB, tmp_path / "again", root=ROOT, jobs=2, tests_dir=g["tests"], roster=g["roster"],
                 policy=g["base"] / "policy.toml", log=lambda *a: None)
    assert (tmp_path / "again" / "gradebook.csv").read_text() == (g["out"] / "gradebook.csv").read_text()
    assert (tmp_path / "again" / "moodle.csv").read_text() == (g["out"] / "moodle.csv").read_text()


def test_an_existing_out_needs_force(graded):
    g = graded["canvas"]
    with pytest.raises(ValueError, match="not empty"):
        grade_folder(g["source"], C.LAB, g["out"], root=ROOT, tests_dir=g["tests"], log=lambda *a: None)
