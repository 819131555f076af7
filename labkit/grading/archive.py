"""Read an LMS download safely: a zip or a folder becomes a list of members, nothing written outside (grading).

A zip is never extracted by its own names. Every member's name is only *read* (to recognise the LMS's
layout); the bytes of a wanted member (``.ipynb``, the Gradescope metadata) are written to
``dest/<number>/<safe file name>``, a path made here, so no name (``../x``, ``/etc/x``, ``C:\\x``, a link)
can place a file outside ``dest`` (zip-slip). Such a member is refused anyway, with the reason, and so is a
link or an encrypted member. A zip bomb is refused before anything is written: too many members, more bytes
than the limit once expanded, or a member that expands far beyond its compressed size; while copying, a
member is cut off at the size its header declares.
"""
from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .submission import MAX_BYTES


class ArchiveError(ValueError):
    """The zip (as a whole) cannot be read safely; the message says why and what to do."""


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may hold before it is refused as a zip bomb."""

    max_members: int = 20_000
    max_total_bytes: int = 4 * 2**30      # wanted members together, expanded
    max_ratio: float = 400.0              # expanded / compressed, for a member over 1 MiB
    max_member_bytes: int = MAX_BYTES     # a larger notebook is kept as a stub and rejected as too large


@dataclass
class Member:
    """One file of a submission download: its name there, where its bytes are, its time, or why it was refused."""

    rel: str                       # its path in the download ("Jane Doe_17_assignsubmission_file_/lab.ipynb")
    path: Path | None              # a readable copy (or the original file, for a folder)
    time: datetime | None = None   # the zip entry's (naive: the LMS's local time), or the file's mtime (aware)
    from_mtime: bool = False       # the time is the file's modification time (a fallback, flagged)
    refused: str = ""              # non-empty: not usable, and why
    size: int = 0


WANTED = (".ipynb", "submission_metadata.yml", "submission_metadata.yaml")


def wanted(name: str) -> bool:
    """Members worth reading: notebooks and the Gradescope metadata (everything else is ignored)."""
    return name.lower().endswith(WANTED)


def unsafe_reason(name: str) -> str:
    """Why a member's name would write outside the folder it is extracted to ('' when it would not)."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "its name is an absolute path (zip-slip)"
    if any(part == ".." for part in PurePosixPath(posix).parts):
        return "its name climbs out of the folder with '..' (zip-slip)"
    if "\x00" in name:
        return "its name holds a NUL character"
    return ""


def _safe_file_name(name: str) -> str:
    base = re.sub(r"[^\w.\- ]+", "_", PurePosixPath(name.replace("\\", "/")).name, flags=re.ASCII)
    return (base.strip(" .") or "member")[:120]


def read_zip(zip_path: Path, dest: Path, limits: ZipLimits = ZipLimits()) -> list[Member]:
    """The wanted members of ``zip_path``, copied below ``dest`` (ArchiveError for a zip that is refused whole)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ArchiveError(f"{zip_path} is not a readable zip file ({err}): download it again from the LMS, or "
                           "pass the folder of extracted submissions") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveError(f"{zip_path} holds {len(infos):,} members, more than {limits.max_members:,}: refused "
                               "as a possible zip bomb; unpack it yourself and pass the folder")
        chosen = [info for info in infos if not info.is_dir() and wanted(info.filename)]
        total = sum(min(info.file_size, limits.max_member_bytes + 1) for info in chosen)
        if total > limits.max_total_bytes:
            raise ArchiveError(f"{zip_path} would expand to {total / 2**30:.1f} GiB of notebooks, more than "
                               f"{limits.max_total_bytes / 2**30:.0f} GiB: refused as a possible zip bomb")
        members = []
        for number, info in enumerate(chosen):
            members.append(_copy(archive, info, dest / f"{number:05d}", limits))
        return members


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, limits: ZipLimits) -> Member:
    """One member copied to ``folder/<safe name>``, at most its declared size (or the reason it was refused)."""
    name = info.filename
    when = datetime(*info.date_time) if info.date_time[0] >= 1980 else None
    member = Member(name, None, when, size=info.file_size)
    mode = info.external_attr >> 16
    if unsafe_reason(name):
        member.refused = f"zip member refused: {unsafe_reason(name)}"
    elif stat.S_ISLNK(mode):
        member.refused = "zip member refused: it is a symbolic link"
    elif info.flag_bits & 0x1:
        member.refused = "zip member refused: it is encrypted"
    elif info.file_size > 2**20 and info.file_size > limits.max_ratio * max(1, info.compress_size):
        member.refused = (f"zip member refused: it expands {info.file_size / max(1, info.compress_size):,.0f} times "
                          "its compressed size (a zip bomb?)")
    if member.refused:
        return member
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / _safe_file_name(name)
    cap = min(info.file_size, limits.max_member_bytes + 1)  # a too-large notebook keeps its first bytes only
    written = 0
    try:
        with archive.open(info) as source, open(target, "xb") as sink:
            while written < cap:
                chunk = source.read(min(1 << 20, cap - written))
                if not chunk:
                    break
                sink.write(chunk)
                written += len(chunk)
            if written == info.file_size and source.read(1):
                member.refused = "zip member refused: it holds more bytes than its header says (a zip bomb?)"
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        member.refused = f"zip member could not be read ({type(err).__name__}: {str(err)[:100]})"
    if member.refused:
        target.unlink(missing_ok=True)
        return member
    if info.file_size > limits.max_member_bytes:  # pad past the cap so the reader rejects it as too large
        with open(target, "ab") as sink:
            sink.write(b"\0")
    member.path = target
    return member


def read_folder(folder: Path) -> list[Member]:
    """The wanted files below ``folder`` (links are refused, not followed); times are file mtimes (a fallback)."""
    members = []
    for base, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for filename in sorted(files):
            path = Path(base) / filename
            rel = path.relative_to(folder).as_posix()
            if not wanted(filename):
                continue
            member = Member(rel, path, from_mtime=True)
            try:
                info = path.lstat()
                member.time, member.size = datetime.fromtimestamp(info.st_mtime, tz=timezone.utc), info.st_size
            except OSError:
                pass
            members.append(member)  # a link is kept: reading it refuses it (submission.load_submission)
    return members
