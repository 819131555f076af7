"""What the lab-training tests share: one exercise of a lab's hidden tests, graded on the grader's own call path
in this process, and the assertions every graded loop answers to (labs 02, 08, 10, 12, 13)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from labkit.grading.spec import LabTests, load_lab_tests
from labkit.grading.verdict import evaluate_in_process

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class LabGrader:
    """Grades answers to one exercise (``function``) of ``lab`` as ``grade`` would, without a sandbox."""

    lab: str
    function: str

    def tests(self) -> LabTests:
        """The lab's hidden tests cut to this exercise."""
        tests = load_lab_tests(ROOT / "grading", self.lab)
        tests.exercises = [ex for ex in tests.exercises if ex.function == self.function]
        return tests

    def grade(self, fn: Callable | None, seed: int = 0, **others: Callable) -> tuple[dict, dict[str, dict]]:
        """(the exercise's result, its parts by name) for the answer ``fn`` (None: the answer is missing)."""
        answers = {**others, **({self.function: fn} if fn is not None else {})}
        result, = evaluate_in_process(self.tests(), answers, np.random.default_rng(seed))
        return result, {p["name"]: p for p in result.get("parts", [])}

    def assert_nothing_for_no_work(self) -> None:
        """A constant, a missing answer and the student's stub each earn 0 points."""
        assert self.grade(lambda *args, **kwargs: 0)[0]["points"] == 0
        result, _ = self.grade(None)
        assert result["status"] == "missing" and result["points"] == 0, result

        def stub(*args, **kwargs):
            raise NotImplementedError("write it")
        result, _ = self.grade(stub)
        assert result["points"] == 0 and result["status"] == "not implemented", result

    def assert_loses_part(self, fn: Callable, part: str, words: str) -> dict:
        """``fn`` (one classic mistake) keeps a partial score, loses ``part`` and names the mistake with ``words``."""
        result, parts = self.grade(fn)
        assert 0 < result["points"] < result["max_points"] and result["status"] == "partial", result
        assert parts[part]["points"] == 0 and words in parts[part]["detail"], parts[part]
        return result
