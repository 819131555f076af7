"""Self-checks for the lab exercises: ``check_<exercise>(...)`` prints expected versus received.

Each lab has its own module, named like the lab without its number (``labhelpers.checks.cnn_arithmetic``
for ``01_cnn_arithmetic``); notebooks import from there. A check never raises for a wrong or missing
answer: it prints what was expected and what it received, and returns True or False, so a student
notebook keeps running top to bottom.

A check never contains an implementation of the exercise it checks. It compares with a library
routine (``F.conv2d`` for a convolution written by hand), or with the solution's answers to its own
fixed cases, stored in ``labhelpers/checks/expected/<lab>.json`` (:mod:`labhelpers.checks.store`).
While a notebook is being graded the checks do nothing (:func:`skip_during_grading`).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from labhelpers.checks.store import StoreError, expected_answers
from labhelpers.values import to_numpy

GRADING_ENV = "LABKIT_GRADING"


@dataclass(frozen=True)
class Case:
    """One fixed public input of a check: ``fn(*args, **kwargs)``, named ``label`` in the messages."""

    args: tuple
    label: str = ""
    kwargs: dict = field(default_factory=dict)


def skip_during_grading(exercise: str) -> bool:
    """True (after saying so) while the grader runs the notebook: its hidden tests decide then."""
    if os.environ.get(GRADING_ENV):
        print(f"(check of {exercise} skipped during grading: the hidden tests grade it)")
        return True
    return False


def run_cases(exercise: str, fn: Callable, cases: list[Case]) -> list | None:
    """``fn`` on a copy of each case's inputs; None (the reason already printed) when a call raised."""
    answers = []
    for case in cases:
        ok, value = attempt(exercise, fn, *copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        if not ok:
            return None
        answers.append(value)
    return answers


def stored(lab: str, exercise: str, answers: list, cases: list[Case] | Any) -> list | None:
    """The solution's stored answers to ``cases`` (see :mod:`store`); None (reported) if they are unusable."""
    inputs = [(c.args, c.kwargs) for c in cases] if isinstance(cases, list) and all(
        isinstance(c, Case) for c in cases) else cases
    try:
        return expected_answers(lab, exercise, answers, inputs)
    except StoreError as err:
        print(f"[FAIL] {exercise}: this check cannot run: {err}")
        return None


def report(exercise: str, ok: bool, expected: Any = None, received: Any = None, hint: str = "") -> bool:
    """Print one verdict in the kit's format and return ``ok`` (used by every check_* function)."""
    if ok:
        print(f"[OK] {exercise}")
        return True
    print(f"[FAIL] {exercise}")
    if expected is not None or received is not None:
        print(f"  expected: {_short(expected)}\n  received: {_short(received)}")
    if hint:
        print(f"  hint: {hint}")
    return False


def attempt(exercise: str, fn: Callable, *args, **kwargs) -> tuple[bool, Any]:
    """Call the student's ``fn``; turn NotImplementedError/any exception into a printed verdict.

    Returns (True, result) when the call returned, (False, None) otherwise.
    """
    try:
        return True, fn(*args, **kwargs)
    except NotImplementedError:
        print(f"[TODO] {exercise}: not implemented yet (replace the `raise NotImplementedError` "
              "line with your code, then re-run this cell)")
    except Exception as exc:  # the student's code raised: show it, keep the notebook going
        print(f"[FAIL] {exercise}: your code raised {type(exc).__name__}: {exc}")
    return False, None


def close(received: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """True when ``received`` has ``expected``'s shape and values (plain ndarray comparison).

    The received value is converted with ``np.asarray(..., dtype=float)`` first, so an object that
    pretends to equal everything cannot pass.
    """
    try:
        r = np.asarray(to_numpy(received), dtype=float)
        e = np.asarray(to_numpy(expected), dtype=float)
    except (TypeError, ValueError):
        return False
    return r.shape == e.shape and bool(np.allclose(r, e, atol=atol, rtol=rtol))


def as_int(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer (int, NumPy int, 0-d integer tensor), else None."""
    if isinstance(value, bool):
        return None
    if hasattr(value, "is_floating_point") and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())  # an integer torch tensor
    if isinstance(value, (int, np.integer)):
        return int(value)
    return None


def report_not_int(exercise: str, received: Any, expected: int, case: str, hint: str) -> bool:
    """Report an answer that should have been an int (``expected`` for ``case``); returns False."""
    return report(exercise, False, expected=f"the int {expected} for {case}",
                  received=f"{received!r} ({type(received).__name__})", hint=hint)


def as_numpy(value: Any) -> np.ndarray | None:
    """``value`` as a float64 array (tensors are detached), or None when it is not numeric."""
    try:
        return np.asarray(to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _short(value: Any, limit: int = 300) -> str:
    text = np.array2string(value, precision=4, threshold=40) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."
