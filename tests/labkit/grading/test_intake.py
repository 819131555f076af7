"""Submissions in (labkit.grading.archive, lms_in, roster, policy): zips read safely, LMS layouts recognised,
odd names harmless, rosters and policies read with clear errors."""
from __future__ import annotations

import csv
import io
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from labkit.grading.archive import ArchiveError, ZipLimits, read_zip
from labkit.grading.batch import grade_folder
from labkit.grading.lms_in import collect
from labkit.grading.policy import load_policy, parse_duration
from labkit.grading.roster import load_roster, match

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_class as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
BERLIN = ZoneInfo("Europe/Berlin")


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# ----------------------------------------------------------------------------- zips
@pytest.mark.parametrize("name", ["../up.ipynb", "a/../../up.ipynb", "/etc/abs.ipynb", "C:\\win.ipynb",
                                  "x\\..\\..\\back.ipynb"])
def test_zip_slip_members_are_refused_and_nothing_lands_outside(tmp_path, name):
    dest = tmp_path / "dest" / "inner"
    dest.mkdir(parents=True)
    members = read_zip(_zip(tmp_path / "s.zip", {name: b"{}", "ok.ipynb": b"{}"}), dest)
    refused = [m for m in members if m.refused]
    assert len(refused) == 1 and "zip-slip" in refused[0].refused and refused[0].path is None
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".ipynb")
    assert all(dest in p.parents for p in written) and len(written) == 1


def test_a_symlink_member_is_refused(tmp_path):
    path = tmp_path / "l.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("link.ipynb")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    (member,) = read_zip(path, tmp_path / "d")
    assert "symbolic link" in member.refused


def test_a_member_that_expands_like_a_bomb_is_refused(tmp_path):
    members = read_zip(_zip(tmp_path / "b.zip", {"bomb.ipynb": b"\0" * (40 * 2**20)}), tmp_path / "d")
    assert "expands" in members[0].refused and not list((tmp_path / "d").rglob("*.ipynb"))


def test_a_zip_expanding_past_the_limit_is_refused_whole(tmp_path):
    path = _zip(tmp_path / "big.zip", {f"n{k}.ipynb": bytes(range(256)) * 4096 for k in range(4)}, zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match="zip bomb"):
        read_zip(path, tmp_path / "d", ZipLimits(max_total_bytes=2 * 2**20))
    with pytest.raises(ArchiveError, match="members"):
        read_zip(path, tmp_path / "d2", ZipLimits(max_members=3))


def test_a_broken_zip_gets_a_clear_error(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="not a readable zip"):
        collect(tmp_path / "x.zip", tmp_path / "d")


# ----------------------------------------------------------------------------- layouts
def test_layouts_are_recognised(tmp_path):
    assert collect(C.canvas_zip(tmp_path / "c.zip"), tmp_path / "c").lms == "canvas"
    assert collect(C.moodle_folder(tmp_path / "m"), tmp_path / "m2").lms == "moodle"
    assert collect(C.gradescope_zip(tmp_path / "g.zip"), tmp_path / "g").lms == "gradescope"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "alice.ipynb").write_bytes(C.notebook_bytes(C.CORRECT))
    assert collect(tmp_path / "plain", tmp_path / "p").lms == "plain"


def test_canvas_names_give_id_late_flag_and_order(tmp_path):
    entries = collect(C.canvas_zip(tmp_path / "c.zip"), tmp_path / "c").entries
    dee = next(e for e in entries if e.identity.canvas_id == "104")
    assert dee.identity.late_flag and dee.order == (5003,) and dee.submitted_at.tzinfo is not None


def test_gradescope_metadata_gives_submitters_and_created_at(tmp_path):
    entries = collect(C.gradescope_zip(tmp_path / "g.zip"), tmp_path / "g").entries
    ada = next(e for e in entries if e.label == "submission_3000")
    assert (ada.identity.sid, ada.identity.email) == ("S1", "ada@school.edu")
    assert ada.submitted_at == datetime(2025, 3, 7, 12, 0, tzinfo=timezone(timedelta(hours=1)))


ODD = ["ünïcödé naïve.ipynb", "with space, and comma.ipynb", "line\nbreak.ipynb", "=cmd()|x.ipynb",
       "-2+3.ipynb", "tab\there.ipynb", "gradebook.ipynb", "\u202eevil.ipynb"]


def test_odd_file_names_never_break_a_batch(tmp_path):
    tests = C.write_lab(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ODD:
        (subs / name).write_bytes(C.notebook_bytes(C.CORRECT))
    report = grade_folder(subs, C.LAB, tmp_path / "out", root=ROOT, jobs=2, tests_dir=tests, log=lambda *a: None)
    assert report["submissions"] == len(ODD) and set(report["scores"].values()) == {4.0}
    rows = list(csv.reader(io.StringIO((tmp_path / "out" / "gradebook.csv").read_text())))
    assert len(rows) == len(ODD) + 1
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)
    names = [p.name for p in (tmp_path / "out" / "feedback").iterdir()]
    assert all(n.isascii() and "\n" not in n and " " not in n for n in names)
    assert "gradebook.csv" in {p.name for p in (tmp_path / "out").iterdir()}  # not replaced by a submission's files


# ----------------------------------------------------------------------------- rosters
def test_a_name_shared_by_two_roster_students_matches_neither(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("First name,Last name,ID number,Email address\nSam,Lee,1,a@x\nSam,Lee,2,b@x\nAda,Byron,3,c@x\n")
    subs = tmp_path / "subs"
    for name in ("Sam Lee_11_assignsubmission_file_", "Ada Byron_12_assignsubmission_file_"):
        (subs / name).mkdir(parents=True)
        (subs / name / "lab.ipynb").write_bytes(b"{}")
    result = match(collect(subs, tmp_path / "d").entries, load_roster(roster))
    why = sorted(result.why.values())
    assert why[0] == "matched by full name" and "fits 2 students" in why[1]


@pytest.mark.parametrize("text,words", [("", "empty"), ("a,b\n1,2\n", "not a roster"),
                                        ("Student,ID,SIS User ID\n\"A, B\",5,x\n\"C, D\",5,y\n", "twice")])
def test_bad_rosters_say_what_is_wrong(tmp_path, text, words):
    (tmp_path / "r.csv").write_text(text)
    with pytest.raises(ValueError, match=words):
        load_roster(tmp_path / "r.csv")


def test_moodle_worksheet_roster_reads_participants_and_times(tmp_path):
    (tmp_path / "w.csv").write_text("Identifier,Full name,Email address,Status,Grade,Last modified (submission)\n"
                                    "Participant 201,Ada Lovelace,ada@school.edu,Submitted,,"
                                    "\"Friday, 7 March 2025, 11:30 PM\"\n")
    roster = load_roster(tmp_path / "w.csv")
    assert roster.kind == "moodle-worksheet" and roster.students[0].participant == "201"


# ----------------------------------------------------------------------------- policies
def _policy(tmp_path: Path, text: str):
    (tmp_path / "p.toml").write_text(text)
    return load_policy(tmp_path / "p.toml", "02_week13_mnist")


def test_policy_per_hour_with_cap_and_zero_after(tmp_path):
    policy = _policy(tmp_path, 'due = 2025-03-07T23:59:00\ntimezone = "Europe/Berlin"\nper = "hour"\npenalty = 5\n'
                               "cap = 30\nzero_after = 48\n")
    due = datetime(2025, 3, 7, 23, 59, tzinfo=BERLIN)
    assert policy.apply(10, 10, due + timedelta(minutes=30), set()).penalty == 0.5       # 1 started hour
    assert policy.apply(10, 10, due + timedelta(hours=20), set()).penalty == 3.0         # capped at 30%
    assert policy.apply(10, 10, due + timedelta(hours=49), set()).final == 0.0            # zero after 48 h
    assert policy.apply(6, 10, due + timedelta(hours=1), set()).final == 5.5              # of the maximum


def test_policy_lab_section_overrides_and_extension_to_a_date(tmp_path):
    policy = _policy(tmp_path, 'due = 2025-03-01T23:59:00\ntimezone = "UTC"\npenalty = 10\n'
                               '[labs.02_week13_mnist]\ndue = 2025-03-14T23:59:00\n'
                               '[extensions]\n"jane@x.edu" = 2025-03-20T12:00:00\n')
    assert policy.due == datetime(2025, 3, 14, 23, 59, tzinfo=ZoneInfo("UTC"))
    late = datetime(2025, 3, 18, tzinfo=ZoneInfo("UTC"))
    assert policy.apply(4, 4, late, {"janex.edu", "jane@x.edu"}).penalty == 0
    assert policy.apply(4, 4, late, {"someone"}).penalty == pytest.approx(1.6)


def test_policy_applied_twice_gives_the_same_grade(tmp_path):
    policy = _policy(tmp_path, 'due = 2025-03-07T23:59:00\npenalty = 10\n')
    when = datetime(2025, 3, 9, tzinfo=ZoneInfo("UTC"))
    assert policy.apply(8, 10, when, set()) == policy.apply(8, 10, when, set())


@pytest.mark.parametrize("text,words", [("due = 2025-03-07T23:59:00\ntimezone = \"Mars/Base\"\n", "unknown"),
                                        ("penalty = -3\n", ">= 0"), ("per = \"week\"\n", "day"),
                                        ("grace = \"soon\"\n", "not a duration"), ("due = [", "not valid TOML"),
                                        ("deadline = 1\n", "unknown setting")])
def test_bad_policies_say_what_to_fix(tmp_path, text, words):
    with pytest.raises(ValueError, match=words):
        _policy(tmp_path, text)


def test_durations():
    assert parse_duration("+2 days", "x") == timedelta(days=2)
    assert parse_duration("15 minutes", "x") == timedelta(minutes=15) == parse_duration(15, "x")
    assert parse_duration("1.5 h", "x") == timedelta(minutes=90)


def test_moodle_worksheet_times_replace_file_mtimes(tmp_path):
    tests = C.write_lab(tmp_path)
    sheet = tmp_path / "worksheet.csv"
    rows = [["Identifier", "Full name", "Email address", "Status", "Grade", "Last modified (submission)"]]
    for (first, last), _, pid, _, email, _, when in C.STUDENTS[:4]:
        rows.append([f"Participant {pid}", f"{first} {last}", email, "Submitted", "", f"{when:%A, %d %B %Y, %I:%M %p}"])
    with open(sheet, "w", newline="") as fp:
        csv.writer(fp).writerows(rows)
    folder = C.moodle_folder(tmp_path / "moodle")
    report = grade_folder(folder, C.LAB, tmp_path / "out", root=ROOT, jobs=2, tests_dir=tests, roster=sheet,
                          policy=tmp_path / "policy.toml", log=lambda *a: None)
    records = [r for p in (tmp_path / "out").glob("*.json") if p.name != "grade_report.json"
               for r in [__import__("json").loads(p.read_text())]]
    dee = next(r for r in records if (r.get("student") or {}).get("participant") == "204")
    assert dee["time_source"].startswith("moodle grading worksheet") and dee["final"] == pytest.approx(3.2)
    assert report["missing"] == []
