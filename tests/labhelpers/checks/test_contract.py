"""The contract every public ``check_*`` keeps, for every lab (one parametrised test per behaviour).

- a missing answer (NotImplementedError) prints [TODO] and returns False, never raises;
- an answer that raises prints [FAIL] ... your code raised ..., returns False;
- an answer of the wrong kind (None) prints [FAIL] and returns False;
- while the grader runs the notebook (LABKIT_GRADING=1) it says it is skipped and calls nothing;
- no check module holds a reference implementation (``reference_*``), and each lab has its module.
"""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LABS = sorted(p.name[: -len("_solution.ipynb")] for p in (ROOT / "notebooks").glob("*_solution.ipynb"))
MODULES = {lab: "labhelpers.checks." + lab.split("_", 1)[1] for lab in LABS}


def _checks() -> list[tuple[str, str]]:
    found = []
    for lab, module_name in MODULES.items():
        module = importlib.import_module(module_name)
        found += [(module_name, name) for name in module.__all__ if name.startswith("check_")]
    return found


CHECKS = _checks()
IDS = [f"{m.rsplit('.', 1)[1]}.{n}" for m, n in CHECKS]


def _call(module_name: str, name: str, student):
    """Call the check with ``student`` in place of every argument it requires."""
    check = getattr(importlib.import_module(module_name), name)
    required = [p for p in inspect.signature(check).parameters.values()
                if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return check(*[student] * len(required))


def _todo(*args, **kwargs):
    raise NotImplementedError("not yet")


def _raises(*args, **kwargs):
    raise ValueError("a bug in the student's code")


def _none(*args, **kwargs):
    return None


def test_every_lab_has_a_check_module_named_like_it():
    for lab, module_name in MODULES.items():
        module = importlib.import_module(module_name)
        assert module.LAB == lab, module_name
        assert module.__all__ and all(name.startswith("check_") for name in module.__all__), module_name


@pytest.mark.parametrize("module_name", sorted(MODULES.values()))
def test_no_check_module_holds_a_reference(module_name):
    source = Path(importlib.import_module(module_name).__file__).read_text()
    names = [n.name for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert not [n for n in names if n.lower().startswith(("reference", "_reference"))], module_name


@pytest.mark.parametrize("module_name,name", CHECKS, ids=IDS)
def test_missing_answer_says_todo(module_name, name, capsys):
    assert _call(module_name, name, _todo) is False
    assert "[TODO]" in capsys.readouterr().out


@pytest.mark.parametrize("module_name,name", CHECKS, ids=IDS)
def test_raising_answer_is_reported(module_name, name, capsys):
    assert _call(module_name, name, _raises) is False
    out = capsys.readouterr().out
    assert "[FAIL]" in out and "ValueError" in out


@pytest.mark.parametrize("module_name,name", CHECKS, ids=IDS)
def test_answer_of_the_wrong_kind_fails_without_raising(module_name, name, capsys):
    assert _call(module_name, name, _none) is False
    assert "[FAIL]" in capsys.readouterr().out


@pytest.mark.parametrize("module_name,name", CHECKS, ids=IDS)
def test_checks_are_skipped_during_grading(module_name, name, capsys, monkeypatch):
    monkeypatch.setenv("LABKIT_GRADING", "1")
    calls = []
    assert _call(module_name, name, lambda *a, **k: calls.append(a)) is True
    assert "skipped during grading" in capsys.readouterr().out and calls == []
