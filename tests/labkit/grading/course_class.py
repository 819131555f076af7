"""A small class of one tiny lab, as Canvas, Moodle and Gradescope hand it out, for the course tests.

Lab ``98_course`` has two exercises (``double``, ``square``, 2 points each; no torch). The class:
Ada correct, Ben partial, Cy late with a 2-day extension, Dee late without one (2 started days: -20% of 4),
Eve twice (an older partial, a later correct one: the later counts), Mal malicious (forged output, a
formula as a name), Zed in the roster without a submission, and one file from nobody in the roster.
"""
from __future__ import annotations

import csv
import os
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

LAB = "98_course"
SPEC = '''
from labkit.grading.spec import Call, Exercise
LAB = "98_course"
PARAMETERS = {}
LIMITS = {"cell_timeout": 60, "notebook_timeout": 120, "call_timeout": 20}
EXERCISES = [
    Exercise("double", 2, "return twice x", lambda rng: [Call((int(rng.integers(1, 1000)),), label="x")],
             lambda x: 2 * x, atol=0, rtol=0),
    Exercise("square", 2, "return x times x", lambda rng: [Call((int(rng.integers(1, 1000)),), label="x")],
             lambda x: x * x, atol=0, rtol=0),
]
'''
POLICY = '''
due = 2025-03-07T23:59:00
timezone = "Europe/Berlin"
grace = "15 minutes"
per = "day"
penalty = 10
of = "max"
cap = 50

[extensions]
"103" = "+2 days"
"cy@school.edu" = "+2 days"

[lms]
canvas_assignment = "Lab 98 (4242)"
'''
CORRECT = "def double(x):\n    return 2 * x\n\ndef square(x):\n    return x * x\n"
PARTIAL = "def double(x):\n    return 2 * x\n\ndef square(x):\n    return x + x\n"
MALICIOUS = '''
import pathlib
print("SCORE 4 / 4")
for target in ("gradebook.csv", "/tmp/gradebook.csv", "../gradebook.csv"):
    try:
        pathlib.Path(target).write_text("Mal,4\\n")
    except OSError:
        pass

def double(x):
    raise ValueError("x\\nSCORE 4 / 4\\n=HYPERLINK(\\"http://evil\\")")

def square(x):
    raise SystemExit("SCORE 4 / 4")
'''
ON_TIME, EARLIER, LATE = datetime(2025, 3, 7, 12, 0), datetime(2025, 3, 6, 10, 0), datetime(2025, 3, 9, 10, 0)
#            name (first, last), canvas id, moodle participant, sid, email, code, time
STUDENTS = [
    (("Ada", "Lovelace"), "101", "201", "S1", "ada@school.edu", CORRECT, ON_TIME),
    (("Ben", "Okafor"), "102", "202", "S2", "ben@school.edu", PARTIAL, ON_TIME),
    (("Cy", "Young"), "103", "203", "S3", "cy@school.edu", CORRECT, LATE),
    (("Dee", "Ng"), "104", "204", "S4", "dee@school.edu", CORRECT, LATE),
    (("Eve", "Moreau"), "105", "205", "S5", "eve@school.edu", PARTIAL, EARLIER),
    (("Eve", "Moreau"), "105", "205", "S5", "eve@school.edu", CORRECT, ON_TIME),
    (("Mal", '=HYPERLINK("http://evil")'), "106", "206", "S6", "mal@school.edu", MALICIOUS, ON_TIME),
]
ZED = (("Zed", "Quinn"), "107", "207", "S7", "zed@school.edu")
STRANGER = (("No", "Body"), "999", "299", "S99", "nobody@elsewhere.edu", CORRECT, ON_TIME)
EXPECTED_FINAL = {"Ada Lovelace": 4.0, "Ben Okafor": 2.0, "Cy Young": 4.0, "Dee Ng": 3.2, "Eve Moreau": 4.0,
                  'Mal =HYPERLINK("http://evil")': 0.0}


def notebook_bytes(code: str) -> bytes:
    nb = new_notebook(cells=[new_code_cell(code)])
    nb.metadata["labkit"] = {"generated_from": f"{LAB}_student.ipynb"}
    return nbformat.writes(nb).encode()


def write_lab(folder: Path) -> Path:
    """The hidden tests folder (and policy.toml beside it)."""
    (folder / "grading").mkdir(parents=True, exist_ok=True)
    (folder / "grading" / f"{LAB}.py").write_text(SPEC)
    (folder / "policy.toml").write_text(POLICY)
    return folder / "grading"


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fp:
        csv.writer(fp).writerows(rows)
    return path


def canvas_roster(path: Path) -> Path:
    """Canvas's gradebook export: header, Points Possible, one row per student."""
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 98 (4242)", "Lab 97 (4241)"],
            ["    Points Possible", "", "", "", "", "4", "10"]]
    for (first, last), cid, _, sid, email, *_ in {s[:5]: s for s in STUDENTS + [ZED]}.values():
        rows.append([f"{last}, {first}", cid, sid, email.split("@")[0], "Section 1", "", ""])
    return _csv(path, rows)


def moodle_roster(path: Path) -> Path:
    """A Moodle user export."""
    rows = [["First name", "Last name", "ID number", "Email address"]]
    for (first, last), _, _, sid, email, *_ in {s[:5]: s for s in STUDENTS + [ZED]}.values():
        rows.append([first, last, sid, email])
    return _csv(path, rows)


def canvas_zip(path: Path) -> Path:
    """Canvas's "Download Submissions": name_[LATE_]userid_submissionid_file, times on the zip entries; plus a
    zip-slip member."""
    with zipfile.ZipFile(path, "w") as archive:
        for number, ((first, last), cid, _, _, _, code, when) in enumerate(STUDENTS + [STRANGER]):
            short = "".join(ch for ch in (last + first).lower() if ch.isalnum())
            late = "LATE_" if when > datetime(2025, 3, 8) else ""
            info = zipfile.ZipInfo(f"{short}_{late}{cid}_{5000 + number}_lab98{'-1' if number == 5 else ''}.ipynb",
                                   when.timetuple()[:6])
            archive.writestr(info, notebook_bytes(code))
        archive.writestr(zipfile.ZipInfo("../../escaped.ipynb", ON_TIME.timetuple()[:6]), notebook_bytes(CORRECT))
    return path


def moodle_folder(folder: Path) -> Path:
    """Moodle's "Download all submissions", unpacked: a folder per student; times only as file mtimes."""
    for number, ((first, last), _, pid, _, _, code, when) in enumerate(STUDENTS + [STRANGER]):
        sub = folder / f"{first} {last}_{pid}_assignsubmission_file_".replace("/", "_")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / (f"lab98_v{number}.ipynb")
        path.write_bytes(notebook_bytes(code))
        stamp = when.replace(tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
        os.utime(path, (stamp, stamp))
    return folder


def gradescope_zip(path: Path) -> Path:
    """Gradescope's "Export Submissions": submission_<id>/ folders and submission_metadata.yml."""
    meta = []
    with zipfile.ZipFile(path, "w") as archive:
        for number, ((first, last), _, _, sid, email, code, when) in enumerate(STUDENTS + [STRANGER]):
            folder = f"assignment_77_export/submission_{3000 + number}"
            archive.writestr(f"{folder}/lab98.ipynb", notebook_bytes(code))
            meta += [f"submission_{3000 + number}:", "  :submitters:", f"  - :name: '{first} {last}'",
                     f"    :sid: '{sid}'", f"    :email: {email}",
                     f"  :created_at: {when:%Y-%m-%d %H:%M:%S}.000000000 +01:00", "  :score: 0.0"]
        archive.writestr("assignment_77_export/submission_metadata.yml", "\n".join(meta) + "\n")
    return path
