"""Submissions in: recognise a Canvas, Moodle or Gradescope download (zip or folder) or a plain folder (grading).

* Canvas "Download Submissions": ``name_[LATE_]userid_submissionid_original.ipynb`` (the original name may
  carry a resubmission suffix, ``lab-1.ipynb``); the time is the zip entry's.
* Moodle "Download all submissions": a folder per student, ``Full Name_participantid_assignsubmission_file_/``;
  the time is the zip entry's (or the grading worksheet's, see :mod:`roster`).
* Gradescope "Export Submissions": ``submission_<id>/`` folders and ``submission_metadata.yml`` (submitters
  with name, sid and email; ``created_at``).
* A plain folder of ``.ipynb`` files: the file name is all there is.

Every entry says where its time came from; a file's modification time is only a fallback, and says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path, PurePosixPath

from .archive import Member, read_folder, read_zip
from .submission import file_sha256

CANVAS = re.compile(r"^(?P<name>[^_/]+)_(?P<late>late_)?(?P<uid>\d+)_(?P<sub>\d+)_(?P<orig>.+)$", re.I)
MOODLE = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$", re.I)
GRADESCOPE = re.compile(r"^submission_(?P<id>\d+)$")
FORMATS = ("auto", "canvas", "moodle", "gradescope", "plain")
MTIME = "file mtime (fallback: the LMS gave no time)"


@dataclass(frozen=True)
class Identity:
    """What a submission says about who sent it (each field as the LMS wrote it)."""

    name: str = ""
    canvas_id: str = ""
    participant: str = ""          # Moodle's participant id (from the folder name)
    sid: str = ""                  # Gradescope's student id
    email: str = ""
    late_flag: bool = False        # Canvas marked it LATE
    others: tuple[str, ...] = ()   # further members of a group submission


@dataclass
class Entry:
    """One submitted notebook, who it claims to be from and when it came."""

    rel: str                            # where it is in the download
    path: Path | None                   # a readable copy of it
    lms: str                            # canvas | moodle | gradescope | plain
    label: str                          # the stem its record's name is made from
    identity: Identity
    submitted_at: datetime | None       # aware
    time_source: str
    order: tuple = ()                   # tie-breaker between submissions of one student (later = larger)
    refused: str = ""                   # not graded, and why (unsafe or unreadable zip member)
    name: str = ""                      # the record's safe name (set by the batch)
    notes: list[str] = field(default_factory=list)


@dataclass
class Intake:
    """Everything found in one download."""

    source: Path
    kind: str                           # "zip" or "folder"
    lms: str
    entries: list[Entry]
    sha256: str = ""                    # of the zip (its bytes are hashed again at the end)


def _aware(when: datetime | None, tz: tzinfo) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


def collect(source: Path, workdir: Path, lms: str = "auto", tz: tzinfo | None = None) -> Intake:
    """The submissions in ``source`` (a folder or a zip; zips are copied into ``workdir``). ValueError when
    ``source`` is neither, with what to pass instead."""
    tz = tz or datetime.now().astimezone().tzinfo or timezone.utc
    if lms not in FORMATS:
        raise ValueError(f"--format {lms!r}: choose one of {', '.join(FORMATS)}")
    if source.is_file() and source.suffix.lower() == ".zip":
        sha = file_sha256(source)
        members, kind = read_zip(source, workdir), "zip"
    elif source.is_dir():
        sha, members, kind = "", read_folder(source), "folder"
    else:
        raise ValueError(f"{source} is neither a folder nor a .zip file: pass the folder of submitted .ipynb files "
                         "or the zip the LMS gave you (Canvas, Moodle or Gradescope)")
    found = detect(members) if lms == "auto" else lms
    parse = {"canvas": _canvas, "moodle": _moodle, "gradescope": _gradescope, "plain": _plain}[found]
    entries = [e for e in parse(members, kind, tz) if e is not None]
    return Intake(source, kind, found, sorted(entries, key=lambda e: e.rel), sha)


def detect(members: list[Member]) -> str:
    """Which LMS made this download (by its layout)."""
    names = [m.rel for m in members]
    if any(PurePosixPath(n).name.startswith("submission_metadata.y") for n in names):
        return "gradescope"
    notebooks = [n for n in names if n.lower().endswith(".ipynb")]
    firsts = [PurePosixPath(n).parts[0] for n in notebooks if len(PurePosixPath(n).parts) > 1]
    if firsts and sum(bool(MOODLE.match(f)) for f in firsts) * 2 >= len(notebooks):
        return "moodle"
    flat = [PurePosixPath(n).name for n in notebooks if len(PurePosixPath(n).parts) == 1]
    if flat and sum(bool(CANVAS.match(n)) for n in flat) * 2 >= len(notebooks):
        return "canvas"
    return "plain"


def _time(member: Member, lms: str, kind: str, tz: tzinfo) -> tuple[datetime | None, str]:
    if member.time is None:
        return None, "no time known"
    if member.from_mtime:
        return _aware(member.time, tz), MTIME
    return _aware(member.time, tz), f"{lms} export (the zip entry's time)"


def _entry(member: Member, lms: str, label: str, identity: Identity, kind: str, tz: tzinfo, order: tuple = ()) -> Entry:
    when, source = _time(member, lms, kind, tz)
    return Entry(member.rel, member.path, lms, label, identity, when, source, order, member.refused)


def _notebooks(members: list[Member]) -> list[Member]:
    return [m for m in members if m.rel.lower().endswith(".ipynb")]


def _plain(members: list[Member], kind: str, tz: tzinfo) -> list[Entry]:
    return [_entry(m, "plain", PurePosixPath(m.rel).stem, Identity(name=PurePosixPath(m.rel).stem), kind, tz)
            for m in _notebooks(members)]


def _canvas(members: list[Member], kind: str, tz: tzinfo) -> list[Entry]:
    out = []
    for member in _notebooks(members):
        base = PurePosixPath(member.rel).name
        match = CANVAS.match(base) if len(PurePosixPath(member.rel).parts) == 1 else None
        if not match:
            entry = _entry(member, "plain", PurePosixPath(member.rel).stem, Identity(), kind, tz)
            entry.notes.append("the file name is not in Canvas's form name_[LATE_]userid_submissionid_file")
            out.append(entry)
            continue
        identity = Identity(name=match["name"], canvas_id=match["uid"], late_flag=bool(match["late"]))
        out.append(_entry(member, "canvas", PurePosixPath(base).stem, identity, kind, tz, (int(match["sub"]),)))
    return out


def _moodle(members: list[Member], kind: str, tz: tzinfo) -> list[Entry]:
    out = []
    for member in _notebooks(members):
        parts = PurePosixPath(member.rel).parts
        match = MOODLE.match(parts[0]) if len(parts) > 1 else None
        if not match:
            entry = _entry(member, "plain", PurePosixPath(member.rel).stem, Identity(), kind, tz)
            entry.notes.append("not in a Moodle folder 'Full Name_participantid_assignsubmission_file_'")
            out.append(entry)
            continue
        identity = Identity(name=match["name"], participant=match["pid"])
        label = f"{match['name']}_{match['pid']}_{PurePosixPath(parts[-1]).stem}"
        out.append(_entry(member, "moodle", label, identity, kind, tz))
    return out


def _metadata(members: list[Member]) -> dict:
    """Gradescope's submission_metadata.yml, keys without their leading ':' ({} when unreadable)."""
    import yaml
    for member in members:
        if PurePosixPath(member.rel).name.startswith("submission_metadata.y") and member.path and not member.refused:
            try:
                data = yaml.safe_load(member.path.read_text(encoding="utf-8", errors="replace")[: 50 * 2**20])
            except yaml.YAMLError:
                return {}
            return _strip(data) if isinstance(data, dict) else {}
    return {}


def _strip(value):
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _strip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _when(value, tz: tzinfo) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value, tz)
    try:
        text = re.sub(r"(\.\d{6})\d+", r"\1", str(value).strip())
        text = re.sub(r" ([+-]\d\d:?\d\d)$", r"\1", text)
        return _aware(datetime.fromisoformat(text), tz)
    except ValueError:
        return None


def _gradescope(members: list[Member], kind: str, tz: tzinfo) -> list[Entry]:
    metadata = _metadata(members)
    out = []
    for member in _notebooks(members):
        parts = PurePosixPath(member.rel).parts
        folder = next((p for p in parts[:-1] if GRADESCOPE.match(p)), None)
        meta = metadata.get(folder, {}) if folder else {}
        submitters = [s for s in meta.get("submitters", []) if isinstance(s, dict)] if isinstance(meta, dict) else []
        if not folder or not submitters:
            entry = _entry(member, "plain", PurePosixPath(member.rel).stem, Identity(), kind, tz)
            entry.notes.append("no submitter for it in submission_metadata.yml")
            out.append(entry)
            continue
        first = submitters[0]
        identity = Identity(name=str(first.get("name") or ""), sid=str(first.get("sid") or ""),
                            email=str(first.get("email") or ""),
                            others=tuple(str(s.get("name") or s.get("email") or "") for s in submitters[1:]))
        entry = _entry(member, "gradescope", folder, identity, kind, tz, (int(GRADESCOPE.match(folder)["id"]),))
        created = _when(meta.get("created_at"), tz)
        if created is not None:
            entry.submitted_at, entry.time_source = created, "gradescope metadata (created_at)"
        out.append(entry)
    by_folder: dict[str, list[Entry]] = {}
    for entry in out:
        by_folder.setdefault(entry.label, []).append(entry)
    for group in by_folder.values():  # several notebooks in one submission: each gets its own name
        if len(group) > 1:
            for entry in group:
                entry.label = f"{entry.label}-{PurePosixPath(entry.rel).stem}"
    return out
