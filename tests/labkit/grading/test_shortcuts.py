"""No points without the work: an answer that reaches a public helper or a library routine that computes the
exercise (through an alias, getattr with a built string, importlib or sys.modules) scores 0 on it.

Each lab lists its shortcuts in ``shortcuts/<lab module>.py`` (``SHORTCUTS = {exercise: [(how, answer)]}``);
the answers run in this process through the grader's own call path. Without the run-time guard each one
must earn the points (so it is a real shortcut, not just a wrong answer); with the guard, none."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from labkit.grading.spec import load_lab_tests
from labkit.grading.verdict import evaluate_in_process

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent / "shortcuts"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"shortcuts_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [(module.LAB, exercise, how, answer)
         for module in (_load(p) for p in sorted(HERE.glob("[!_]*.py")))
         for exercise, shortcuts in module.SHORTCUTS.items() for how, answer in shortcuts]


@pytest.mark.parametrize("lab,exercise,how,answer", CASES, ids=[f"{c[0][:2]}-{c[1]}-{c[2]}" for c in CASES])
def test_shortcut_scores_zero(lab, exercise, how, answer):
    tests = load_lab_tests(ROOT / "grading", lab)
    tests.exercises = [ex for ex in tests.exercises if ex.function == exercise]
    assert tests.exercises, f"{lab} has no exercise {exercise}"
    namespace = dict(tests.model_answers) | {exercise: answer}
    unguarded, = evaluate_in_process(tests, namespace, np.random.default_rng(3), guarded=False)
    assert unguarded["status"] == "passed", f"not a working shortcut: {unguarded}"
    result, = evaluate_in_process(tests, namespace, np.random.default_rng(3))
    assert result["points"] == 0, result
    assert result["status"] == "forbidden", result
