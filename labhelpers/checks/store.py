"""The solution's answers to each lab's public check cases, stored with the student material (all labs).

A self-check whose exercise has no library routine to compare with compares the student's answers
with ``labhelpers/checks/expected/<lab>.json``: the answers the *solution notebook* gave to the same
fixed public cases, recorded when the student notebooks were generated (``python -m labkit student``).
The numbers are public; the code that made them is not, and nothing here can compute an answer for
other inputs. The file also holds a fingerprint of the cases' inputs, so a case that changed (or an
input that a library version builds differently) is reported instead of compared.

Recording is explicit: the authoring tool runs the solution notebook with ``start_recording()`` in a
cell of its own after the parameters cell and ``save_recording(path)`` in a last cell; while it is on,
:func:`expected_answers` stores the answers it is given and returns them as the expected ones.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from labhelpers.files import atomic_write
from labhelpers.values import decode, encode

EXPECTED_DIR = Path(__file__).resolve().with_name("expected")
FORMAT = 1
_recording: dict[str, dict[str, dict]] | None = None  # lab -> exercise -> {"inputs", "answers"}


class StoreError(LookupError):
    """The stored expected values of an exercise are missing or were made for other cases."""


def _rounded(data: Any) -> Any:
    """Encoded data with every float rounded to 6 significant digits (a fingerprint that survives the
    last-bit differences between library versions)."""
    if isinstance(data, float):
        return float(f"{data:.6g}") if math.isfinite(data) else str(data)
    if isinstance(data, list):
        return [_rounded(item) for item in data]
    if isinstance(data, dict):
        return {key: _rounded(value) for key, value in data.items() if key != "requires_grad"}
    return data


def fingerprint(inputs: Any) -> str:
    """sha256 of the encoded ``inputs`` (floats rounded): which cases a set of answers belongs to."""
    text = json.dumps(_rounded(encode(inputs)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def start_recording() -> None:
    """From now on :func:`expected_answers` records the answers it is given (authoring tool only)."""
    global _recording
    _recording = {}


def is_recording() -> bool:
    """True while the solution's answers are being recorded."""
    return _recording is not None


def save_recording(path: str | Path) -> dict:
    """Write what was recorded (one lab) to ``path`` as JSON, stop recording, and return it."""
    global _recording
    if _recording is None:
        raise RuntimeError("nothing is being recorded: call start_recording() first")
    if len(_recording) > 1:
        raise RuntimeError(f"one notebook recorded the checks of several labs: {sorted(_recording)}")
    lab, exercises = next(iter(_recording.items()), ("", {}))
    data = {"format": FORMAT, "lab": lab, "exercises": exercises}
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    _recording = None
    return data


def load_expected(lab: str, folder: str | Path | None = None) -> dict:
    """The stored expected values of ``lab`` (the whole file as a dict); StoreError if there are none."""
    path = Path(folder or EXPECTED_DIR) / f"{lab}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path.name} is missing from labhelpers/checks/expected (instructor: run "
                         "python -m labkit student)") from None
    if data.get("format") != FORMAT or data.get("lab") != lab:
        raise StoreError(f"{path.name} is not a stored-answers file of lab {lab} (instructor: regenerate it)")
    return data


def expected_answers(lab: str, exercise: str, answers: list, inputs: Any, folder: str | Path | None = None) -> list:
    """The solution's answers to the cases ``inputs`` of ``exercise`` (decoded), to compare with the
    student's ``answers``; from ``folder`` (default: the package's expected/). While recording,
    ``answers`` are stored and returned as they are."""
    if _recording is not None:
        _recording.setdefault(lab, {})[exercise] = {"inputs": fingerprint(inputs),
                                                    "answers": [encode(a) for a in answers]}
        return list(answers)
    entry = load_expected(lab, folder)["exercises"].get(exercise)
    if entry is None:
        raise StoreError(f"no stored answers for {exercise} in {lab}.json (instructor: run python -m labkit student)")
    if entry["inputs"] != fingerprint(inputs):
        raise StoreError(f"the stored answers of {exercise} were made for other inputs than this check's cases "
                         "(a changed case, or a library that builds them differently); instructor: run "
                         "python -m labkit student")
    return [decode(a) for a in entry["answers"]]
