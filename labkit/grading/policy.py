"""The late policy of a course or a lab (``policy.toml``) and the penalty it gives one submission (grading).

::

    due = 2025-03-07T23:59:00          # a TOML date-time; without an offset it is read in `timezone`
    timezone = "Europe/Berlin"
    grace = "15 minutes"
    per = "day"                        # or "hour": each started day (hour) after the due time
    penalty = 10                       # percent per day (hour) late ...
    of = "max"                         # ... of the maximum score ("max") or of the score earned ("score")
    cap = 50                           # at most this percent in all (optional)
    zero_after = 7                     # more than 7 days (hours) late: zero (optional)

    [extensions]                       # per student: any roster id, email or login; a date or "+2 days"
    "12345" = "+2 days"
    "jane@example.edu" = 2025-03-10T12:00:00

    [labs.02_week13_mnist]             # a lab's own values override the course's
    due = 2025-03-14T23:59:00

    [lms]                              # optional: what the LMS files name the assignment
    canvas_assignment = "Lab 2: MNIST (123456)"

The penalty is always computed from the raw score and the submission time, never from an earlier
result, so grading again gives the same grades.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNITS = {"minute": 60, "min": 60, "hour": 3600, "h": 3600, "day": 86400, "d": 86400, "week": 7 * 86400}
KNOWN = {"due", "timezone", "grace", "per", "penalty", "of", "cap", "zero_after", "extensions", "labs", "lms"}


@dataclass(frozen=True)
class Late:
    """The penalty one submission gets, and the sentence that explains it."""

    penalty: float           # points taken off
    final: float
    reason: str              # "" when on time and nothing to say
    late_seconds: float = 0.0


@dataclass
class Policy:
    """A lab's late policy (all times aware)."""

    path: Path
    due: datetime | None
    tz: tzinfo
    grace: timedelta = timedelta(0)
    per: str = "day"
    penalty: float = 0.0
    of: str = "max"
    cap: float | None = None
    zero_after: float | None = None
    extensions: dict[str, datetime | timedelta] = field(default_factory=dict)
    lms: dict[str, str] = field(default_factory=dict)

    def due_for(self, keys: set[str]) -> tuple[datetime | None, str]:
        """The due time for a student known by ``keys`` (normalised ids), and the extension that set it."""
        from .roster import normal
        for who, extension in self.extensions.items():
            if normal(who) in keys and self.due is not None:
                if isinstance(extension, timedelta):
                    return self.due + extension, f"extension {_duration_text(extension)}"
                return extension, f"extension to {extension:%Y-%m-%d %H:%M %Z}"
        return self.due, ""

    def apply(self, raw: float, max_score: float, submitted: datetime | None, keys: set[str],
              time_source: str = "") -> Late:
        """The penalty for a submission of ``raw`` points made at ``submitted`` by a student known by ``keys``."""
        if self.due is None or self.penalty <= 0 and self.zero_after is None:
            return Late(0.0, raw, "")
        if submitted is None:
            return Late(0.0, raw, "no submission time known: no late penalty applied (check by hand)")
        due, extension = self.due_for(keys)
        late = (submitted - due).total_seconds()
        where = f"due {due.astimezone(self.tz):%Y-%m-%d %H:%M} {self.tz}" + (f", {extension}" if extension else "")
        fallback = " (time from the file's mtime: check it)" if time_source.startswith("file mtime") else ""
        if late <= 0:
            return Late(0.0, raw, f"on time ({where}){fallback}" if extension or fallback else "")
        if late <= self.grace.total_seconds():
            return Late(0.0, raw, f"{_late_text(late)} late, within the grace period ({where}){fallback}", late)
        unit = UNITS[self.per]
        units = math.ceil(late / unit)
        if self.zero_after is not None and late > self.zero_after * unit:
            return Late(raw, 0.0, f"{_late_text(late)} late, more than {self.zero_after:g} {self.per}(s): "
                                  f"zero ({where}){fallback}", late)
        percent = units * self.penalty
        if self.cap is not None:
            percent = min(percent, self.cap)
        base = max_score if self.of == "max" else raw
        penalty = round(min(raw, base * percent / 100.0), 6)
        return Late(penalty, round(raw - penalty, 6), f"{_late_text(late)} late: {units} {self.per}(s) x "
                                                      f"{self.penalty:g}% = -{percent:g}% of the "
                                                      f"{'maximum' if self.of == 'max' else 'score'} ({where}){fallback}",
                    late)


def _late_text(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _duration_text(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"+{seconds / 86400:g} days" if seconds % 86400 == 0 else f"+{seconds / 3600:g} hours"


def parse_duration(value: object, where: str) -> timedelta:
    """``"15 minutes"``, ``"+2 days"``, ``"1.5 h"`` or a number of minutes -> timedelta."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(minutes=float(value))
    match = re.fullmatch(r"\s*\+?\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*", str(value).lower())
    if not match or match.group(2) not in UNITS:
        raise ValueError(f"{where}: {value!r} is not a duration; write e.g. \"15 minutes\", \"+2 days\", \"3 hours\"")
    return timedelta(seconds=float(match.group(1)) * UNITS[match.group(2)])


def _moment(value: object, tz: tzinfo, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tz)
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a date-time; write e.g. 2025-03-07T23:59:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def load_policy(path: Path, lab: str) -> Policy:
    """The policy for ``lab`` from ``path``; ValueError with the line to fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"--policy {path}: cannot read it ({err.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--policy {path}: not valid TOML ({err})") from None
    merged = {k: v for k, v in data.items() if k != "labs"}
    lab_part = data.get("labs", {}).get(lab, {}) if isinstance(data.get("labs"), dict) else {}
    for key, value in lab_part.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    unknown = set(merged) - KNOWN
    if unknown:
        raise ValueError(f"--policy {path}: unknown setting(s) {sorted(unknown)}; known: {sorted(KNOWN - {'labs'})}")
    try:
        tz = ZoneInfo(str(merged.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--policy {path}: timezone {merged.get('timezone')!r} is unknown; use an IANA name such "
                         "as \"Europe/Berlin\" or \"America/New_York\"") from None
    per = str(merged.get("per", "day"))
    if per not in ("day", "hour"):
        raise ValueError(f"--policy {path}: per = {per!r}; use \"day\" or \"hour\"")
    of = str(merged.get("of", "max"))
    if of not in ("max", "score"):
        raise ValueError(f"--policy {path}: of = {of!r}; use \"max\" or \"score\"")
    due = _moment(merged["due"], tz, f"--policy {path}: due") if "due" in merged else None
    extensions: dict[str, datetime | timedelta] = {}
    for who, value in dict(merged.get("extensions", {})).items():
        where = f"--policy {path}: extension of {who!r}"
        extensions[str(who)] = (parse_duration(value, where) if isinstance(value, str) and value.strip()[:1] == "+"
                                else _moment(value, tz, where))
    numbers = {}
    for key in ("penalty", "cap", "zero_after"):
        if key in merged:
            if isinstance(merged[key], bool) or not isinstance(merged[key], (int, float)) or merged[key] < 0:
                raise ValueError(f"--policy {path}: {key} = {merged[key]!r}; write a number >= 0")
            numbers[key] = float(merged[key])
    return Policy(path, due, tz, parse_duration(merged.get("grace", 0), f"--policy {path}: grace"), per,
                  numbers.get("penalty", 0.0), of, numbers.get("cap"), numbers.get("zero_after"), extensions,
                  {str(k): str(v) for k, v in dict(merged.get("lms", {})).items()})
