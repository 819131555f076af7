"""Integration: every lab runs in smoke mode, its checked outputs still match (nbval), and its
student version runs top to bottom failing only with NotImplementedError in the exercises."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labhelpers.selfcheck import smoke_parameters
from labkit.authoring import check_notebooks, inject_parameters, list_labs
from labkit.authoring.execute import SMOKE_RESULTS, cell_errors, execute_solution, execute_student, record_timings

ROOT = Path(__file__).resolve().parents[2]
LABS = list_labs(ROOT)
SMOKE_DIR = ROOT / SMOKE_RESULTS                 # the tests' own folder: executed copies, figures, models
SMOKE_PARAMETERS = smoke_parameters(SMOKE_RESULTS)
BUILD = ROOT / "build"  # nbval copies live here: their kernel starts in build/ and moves to the root


def test_there_are_labs():
    assert len(LABS) >= 4, LABS


@pytest.mark.parametrize("name", LABS)
def test_solution_runs_in_smoke_mode(name):
    seconds = execute_solution(ROOT, name, SMOKE_DIR / "executed" / f"{name}.ipynb", SMOKE_PARAMETERS)
    record_timings(SMOKE_DIR / "timings.json", {name: seconds})


@pytest.mark.parametrize("name", LABS)
def test_student_notebook_fails_only_with_not_implemented(name):
    nb, seconds = execute_student(ROOT, name, SMOKE_PARAMETERS)
    record_timings(SMOKE_DIR / "timings-student.json", {name: seconds})
    errors = cell_errors(nb)
    assert all(ename == "NotImplementedError" for _, ename, _ in errors), errors
    stubs = sum("raise NotImplementedError" in c.source for c in nb.cells if c.cell_type == "code")
    assert stubs >= 1, "a lab without exercises"


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-cell-timeout=900", str(path)], cwd=ROOT, capture_output=True,
                          text=True)


def _smoke_copy(name: str, suffix: str = "") -> tuple[Path, nbformat.NotebookNode]:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}_solution.ipynb", as_version=4)
    nb = inject_parameters(nb, SMOKE_PARAMETERS)
    BUILD.mkdir(exist_ok=True)
    return BUILD / f"nbval_{name}{suffix}.ipynb", nb


@pytest.mark.parametrize("name", LABS)
def test_checked_outputs_are_unchanged(name):
    path, nb = _smoke_copy(name)
    checked = [c for c in nb.cells if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source]
    assert checked, f"{name}: no cell is marked # NBVAL_CHECK_OUTPUT"
    assert all(c.outputs for c in checked), f"{name}: a checked cell has no stored output (make outputs)"
    nbformat.write(nb, path)
    result = _nbval(path)
    assert result.returncode == 0, result.stdout[-4000:]


def test_nbval_catches_a_deliberately_changed_number():
    name = "01_cnn_arithmetic" if "01_cnn_arithmetic" in LABS else LABS[0]
    path, nb = _smoke_copy(name, "_mutated")
    for cell in nb.cells:
        if cell.cell_type != "code" or "NBVAL_CHECK_OUTPUT" not in cell.source:
            continue
        for out in cell.outputs:
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            if re.search(r"\d", text):
                changed = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), text, count=1)
                if "text" in out:
                    out["text"] = changed
                else:
                    out["data"]["text/plain"] = changed
                break
        else:
            continue
        break
    else:
        pytest.fail(f"{name}: no checked output with a number to change")
    nbformat.write(nb, path)
    result = _nbval(path)
    assert result.returncode != 0, "nbval passed although a checked number was changed"


def test_student_notebooks_are_current_and_leak_nothing():
    assert check_notebooks(ROOT) == []


def test_smoke_timings_are_recorded():
    path = SMOKE_DIR / "timings.json"
    if not path.is_file():
        pytest.skip("smoke runs did not run in this session")
    assert set(LABS) <= set(json.loads(path.read_text()))


def test_main_job_outputs_are_untouched(main_job_outputs):
    """Everything the tests ran so far (this file runs last) left make run's results/ byte-identical."""
    before, now = main_job_outputs
    assert now() == before
