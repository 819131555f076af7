"""The class list: read the LMS's own roster CSV, match every submission to exactly one student (grading).

Accepted rosters: Canvas's gradebook export (Student, ID, SIS User ID, SIS Login ID, Section, assignment
columns ``Name (id)``, a "Points Possible" row), a Moodle user or grades export (First name, Last name,
ID number, Email address, ...) or Moodle's grading worksheet (Identifier ``Participant N``, Full name, Email
address, Last modified (submission)). A submission matches a student by the strongest key it carries
(Canvas user id, Moodle participant id, Gradescope sid, email, login, then the full name); a key that fits
two students matches neither. Per student the latest submission is graded; the others are duplicates.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from .lms_in import Entry

ASSIGNMENT_COLUMN = re.compile(r"^(?P<name>.+?)\s*\((?P<id>\d+)\)$")
WORKSHEET_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p", "%Y-%m-%d %H:%M:%S",
                          "%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Student:
    """One row of the roster."""

    key: str                   # how the gradebook names the student (the LMS's own id)
    name: str                  # "First Last"
    sortable: str = ""         # "Last, First" (Canvas's Student column)
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""
    id_number: str = ""
    username: str = ""
    participant: str = ""      # Moodle worksheet: "Participant 17" -> "17"
    submitted_at: str = ""     # Moodle worksheet: "Last modified (submission)"

    def keys(self) -> set[str]:
        """Every identifier that names this student (normalised)."""
        values = {self.canvas_id, self.sis_user_id, self.sis_login_id, self.email, self.id_number, self.username}
        values |= {self.email.split("@")[0]} if "@" in self.email else set()
        return {normal(v) for v in values if v}


@dataclass
class Roster:
    """The students, and what the roster says about the LMS (its kind, its assignment columns)."""

    path: Path
    kind: str                                    # canvas | moodle-worksheet | moodle | generic
    students: list[Student]
    assignments: dict[str, str] = field(default_factory=dict)  # Canvas: id -> name


@dataclass
class Match:
    """Who each submission is from, which one counts per student, and what the gradebook must flag."""

    student: dict[str, Student | None]          # entry rel -> student
    why: dict[str, str]                         # entry rel -> how it matched, or why it did not
    latest: dict[str, str]                      # student key -> rel of the submission graded
    superseded: dict[str, str]                  # rel -> rel of the later submission that counts instead
    missing: list[Student]                      # roster students without any submission


def normal(text: str) -> str:
    """Case-, accent- and spacing-blind form of a name or id (for matching only)."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9@.]+", "", text.casefold())


def _columns(header: list[str]) -> dict[str, int]:
    return {re.sub(r"[^a-z0-9]+", "", h.casefold()): i for i, h in enumerate(header)}


def load_roster(path: Path) -> Roster:
    """Read a roster CSV; ValueError saying what is missing when it is none of the known exports."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise ValueError(f"--roster {path}: cannot read it ({err.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"--roster {path}: not UTF-8 text; export the roster again as CSV (UTF-8)") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if not rows:
        raise ValueError(f"--roster {path}: the file is empty")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    col = _columns(header)
    get = lambda row, *names: next((row[col[n]].strip() for n in names if n in col and col[n] < len(row)), "")  # noqa: E731
    students = []
    if "student" in col and "id" in col:
        kind = "canvas"
        assignments = {m["id"]: m["name"] for h in header if (m := ASSIGNMENT_COLUMN.match(h))}
        for row in body:
            sortable, canvas_id = get(row, "student"), get(row, "id")
            if "pointspossible" in normal(sortable) or not canvas_id or not canvas_id.isdigit():
                continue
            last, _, first = sortable.partition(",")
            name = f"{first.strip()} {last.strip()}".strip() if first else sortable
            students.append(Student(canvas_id, name, sortable, canvas_id, get(row, "sisuserid"),
                                    get(row, "sisloginid"), get(row, "section")))
        return Roster(path, kind, _unique(path, students), assignments)
    if "identifier" in col and ("fullname" in col or "emailaddress" in col):
        for row in body:
            participant = re.sub(r"\D", "", get(row, "identifier"))
            if participant:
                email = get(row, "emailaddress", "email")
                students.append(Student(email or f"participant {participant}", get(row, "fullname"), email=email,
                                        participant=participant, submitted_at=get(row, "lastmodifiedsubmission")))
        return Roster(path, "moodle-worksheet", _unique(path, students))
    if {"firstname", "lastname"} <= set(col) or "fullname" in col:
        for row in body:
            name = get(row, "fullname") or f"{get(row, 'firstname')} {get(row, 'lastname')}".strip()
            email, idnumber, username = get(row, "emailaddress", "email"), get(row, "idnumber"), get(row, "username")
            key = idnumber or email or username or name
            if name or key:
                students.append(Student(key, name, f"{get(row, 'lastname')}, {get(row, 'firstname')}".strip(", "),
                                        email=email, id_number=idnumber, username=username))
        return Roster(path, "moodle", _unique(path, students))
    raise ValueError(f"--roster {path}: not a roster this grader knows. Use Canvas's gradebook export (columns "
                     "Student, ID, SIS User ID, SIS Login ID, Section) or a Moodle user export (First name, Last name, "
                     f"ID number, Email address); its header is: {', '.join(header[:8])}")


def _unique(path: Path, students: list[Student]) -> list[Student]:
    seen: dict[str, Student] = {}
    for student in students:
        if student.key in seen:
            raise ValueError(f"--roster {path}: the student id {student.key!r} appears twice; fix the roster")
        seen[student.key] = student
    if not seen:
        raise ValueError(f"--roster {path}: no student rows found")
    return list(seen.values())


def worksheet_time(student: Student, tz: tzinfo) -> datetime | None:
    """Moodle's "Last modified (submission)" of a worksheet row, in ``tz`` (None when absent or unreadable)."""
    text = student.submitted_at.strip()
    for fmt in WORKSHEET_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    return None


def from_identity(entry: Entry) -> Student | None:
    """A student made from what an LMS download says (no roster), or None for a plain file."""
    ident = entry.identity
    key = ident.canvas_id or ident.participant or ident.sid or ident.email
    if entry.lms == "plain" or not key:
        return None
    return Student(f"{entry.lms}:{key}", ident.name, ident.name, canvas_id=ident.canvas_id,
                   sis_user_id=ident.sid, email=ident.email, participant=ident.participant)


def _candidates(entry: Entry, roster: Roster) -> tuple[list[Student], str]:
    """The students an entry's strongest identifier names, and which identifier that was."""
    ident = entry.identity
    tries = [("Canvas user id", ident.canvas_id, lambda s: s.canvas_id),
             ("Moodle participant id", ident.participant, lambda s: s.participant),
             ("student id", ident.sid, lambda s: s.sis_user_id or s.id_number),
             ("email", ident.email, lambda s: s.email)]
    for what, value, field_of in tries:
        if value:
            found = [s for s in roster.students if field_of(s) and normal(field_of(s)) == normal(value)]
            if found:
                return found, what
    names = [ident.name] if ident.name else []
    if entry.lms == "plain":  # only a file name: it may be an id, a login, an email or a name
        stem = normal(entry.label)
        found = [s for s in roster.students if stem in s.keys()]
        if found:
            return found, "file name = an id of the roster"
        names.append(entry.label)
    for name in names:
        found = [s for s in roster.students if normal(name) in {normal(s.name), normal(s.sortable),
                                                              normal(s.sortable.replace(",", ""))}]
        if found:
            return found, "full name"
    return [], ""


def match(entries: list[Entry], roster: Roster | None) -> Match:
    """Match every entry to at most one student, and pick the latest submission of each student."""
    result = Match({}, {}, {}, {}, [])
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.refused:
            result.student[entry.rel], result.why[entry.rel] = None, entry.refused
            continue
        if roster is None:  # the LMS's own ids stand for the student
            student = from_identity(entry)
            result.student[entry.rel] = student
            result.why[entry.rel] = "no roster: the LMS's id" if student else "no roster"
            if student is not None:
                groups.setdefault(student.key, []).append(entry)
            continue
        found, what = _candidates(entry, roster)
        if len(found) == 1:
            result.student[entry.rel], result.why[entry.rel] = found[0], f"matched by {what}"
            groups.setdefault(found[0].key, []).append(entry)
        else:
            result.student[entry.rel] = None
            result.why[entry.rel] = (f"unmatched: its {what} fits {len(found)} students of the roster" if found
                                     else "unmatched: nobody in the roster has its id, email or name")
    for key, group in groups.items():
        ordered = sorted(group, key=lambda e: (e.submitted_at.timestamp() if e.submitted_at else float("-inf"),
                                               e.order, e.rel))
        latest = ordered[-1]
        result.latest[key] = latest.rel
        for older in ordered[:-1]:
            result.superseded[older.rel] = latest.rel
    if roster is not None:
        result.missing = [s for s in roster.students if s.key not in result.latest]
    return result
