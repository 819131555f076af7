"""Tests for labhelpers.selfcheck: out-of-order cells, missing answers and failing checks are reported."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from labhelpers.selfcheck import order_problems, run_all_checks, run_problems


def _nb(counts: list[int | None]) -> dict:
    return {"cells": [{"cell_type": "code", "source": f"x = {i}", "execution_count": n, "outputs": [],
                       "metadata": {}} for i, n in enumerate(counts)]}


def test_cells_run_in_order_are_fine():
    assert order_problems(_nb([1, 2, 3])) == []


def test_a_cell_run_before_the_one_above_is_reported():
    assert "out of order" in order_problems(_nb([1, 5, 3]))[0]


def test_a_skipped_cell_above_run_cells_is_reported():
    assert "never run" in order_problems(_nb([1, None, 2]))[0]


def test_an_unrun_notebook_has_no_order_problem():
    assert order_problems(_nb([None, None])) == []


def test_run_problems_lists_missing_answers_errors_and_failed_checks():
    nb = new_notebook(cells=[
        new_code_cell("f()", outputs=[new_output("error", ename="NotImplementedError", evalue="", traceback=[])]),
        new_code_cell("1/0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                 traceback=[])]),
        new_code_cell("check(f)", outputs=[new_output("stream", name="stdout", text="[FAIL] conv2d\n  hint\n")]),
        new_code_cell("ok()", outputs=[new_output("stream", name="stdout", text="[OK] conv2d\n")]),
    ])
    problems = run_problems(nb)
    assert len(problems) == 3 and "answer missing" in problems[0] and "ZeroDivisionError" in problems[1]


def test_run_all_checks_does_nothing_inside_the_grader(monkeypatch):
    monkeypatch.setenv("LABKIT_GRADING", "1")
    assert run_all_checks("does-not-exist.ipynb") is True


def test_run_all_checks_needs_an_existing_notebook(monkeypatch):
    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    monkeypatch.delenv("LABKIT_SELFCHECK", raising=False)
    with pytest.raises(ValueError, match="does not exist"):
        run_all_checks("does-not-exist.ipynb")


def test_run_all_checks_runs_a_notebook_in_a_fresh_kernel(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    monkeypatch.delenv("LABKIT_SELFCHECK", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    nb = new_notebook(cells=[new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
                             new_code_cell("assert SMOKE, 'the self-check runs with SMOKE=True'"),
                             new_code_cell("def f():\n    raise NotImplementedError\nf()"),
                             new_code_cell("from labhelpers.selfcheck import run_all_checks\nrun_all_checks()")])
    nbformat.write(nb, tmp_path / "lab.ipynb")
    assert run_all_checks("lab.ipynb", timeout=120) is False
    out = capsys.readouterr().out
    assert "1 problem(s)" in out and "cell 3: answer missing" in out


def test_the_fresh_kernel_prints_no_transport_warning(tmp_path):
    """The self-check's kernel talks over local sockets: no "running over TCP without encryption" block."""
    import json
    import subprocess
    import sys
    nb = {"cells": [{"cell_type": "code", "source": "SMOKE = False", "metadata": {"tags": ["parameters"]},
                     "outputs": [], "execution_count": None},
                    {"cell_type": "code", "source": "print('[OK] demo')", "metadata": {}, "outputs": [],
                     "execution_count": None}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "demo.ipynb"
    path.write_text(json.dumps(nb))
    run = subprocess.run([sys.executable, "-c", f"import labhelpers as lh; print(lh.run_all_checks({str(path)!r}))"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "True" in run.stdout, run.stdout + run.stderr
    assert "TCP" not in run.stdout + run.stderr and "WARNING" not in run.stderr, run.stderr
