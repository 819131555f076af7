"""Tests for labkit (student generation, checks, Colab header) on synthetic notebooks."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.authoring import (
    NotebookError,
    check_notebooks,
    generate_student,
    generate_students,
    inject_parameters,
    list_labs,
    update_colab_headers,
)
from labkit.__main__ import main

PYPROJECT = ('[tool.labhelpers]\nrepository = "https://github.com/someone/mylabs-instructor"\nbranch = "dev"\n'
             'student_repository = "https://github.com/someone/mylabs"\nstudent_branch = "dev"\n')
SOLUTION_CODE = """\
import numpy as np

def pad_and_flip(X, W):
    \"\"\"Exercise.\"\"\"
    ### BEGIN SOLUTION hint: pad with np.pad, then slide the flipped kernel
    padded_input_array = np.pad(X, 1)
    flipped_kernel_array = W[::-1, ::-1]
    ### END SOLUTION
    return padded_input_array, flipped_kernel_array
"""


def _solution() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Lab 01", id="title"),
        new_code_cell("SMOKE = False\nEPOCHS = 3", id="params", metadata={"tags": ["parameters"]}),
        new_code_cell(SOLUTION_CODE, id="exercise", metadata={"tags": ["keep-me"]}, execution_count=4,
                      outputs=[new_output("stream", name="stdout", text="hi\n")]),
        new_code_cell("for i in range(2):\n    ### BEGIN SOLUTION\n    total_of_all_values = i * 2\n"
                      "    ### END SOLUTION\n%time print(1)", id="loop"),
        new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause the kernel is flipped in convolution.\n"
                          "<!-- END SOLUTION -->", id="question"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tiny repository: pyproject.toml and one solution notebook 01_demo."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "notebooks").mkdir()
    nbformat.write(_solution(), tmp_path / "notebooks" / "01_demo_solution.ipynb")
    return tmp_path


def _student(repo: Path) -> nbformat.NotebookNode:
    return nbformat.read(repo / "notebooks" / "01_demo_student.ipynb", as_version=4)


def _cell(nb, cell_id: str):
    return next(c for c in nb.cells if c.id == cell_id)


def test_list_labs(repo):
    assert list_labs(repo) == ["01_demo"]


def test_region_replaced_with_hint_and_valid_python(repo):
    generate_student(repo, "01_demo")
    source = _cell(_student(repo), "exercise").source
    assert "padded_input_array = np.pad" not in source
    assert '    raise NotImplementedError("pad with np.pad, then slide the flipped kernel")' in source
    ast.parse(source)


def test_indentation_kept_and_generic_message(repo):
    generate_student(repo, "01_demo")
    lines = _cell(_student(repo), "loop").source.split("\n")
    assert lines[1:3] == ["    # YOUR CODE HERE", '    raise NotImplementedError("01_demo exercise 2: '
                          'replace this line with your code")']


def test_markdown_answer_replaced(repo):
    generate_student(repo, "01_demo")
    assert _cell(_student(repo), "question").source == "Why?\n*Write your answer here.*"


def test_outputs_cleared_ids_tags_metadata_kept(repo):
    generate_student(repo, "01_demo")
    student = _student(repo)
    cell = _cell(student, "exercise")
    assert (cell.outputs, cell.execution_count, cell.metadata.tags) == ([], None, ["keep-me"])
    assert [c.id for c in student.cells] == ["colab-badge", "colab-setup", "title", "params", "exercise",
                                             "loop", "question"]
    assert student.metadata.kernelspec.name == "python3"
    assert student.metadata.labkit["generated_from"] == "01_demo_solution.ipynb"


def test_student_gets_header_pointing_to_student_file(repo):
    generate_student(repo, "01_demo")
    badge = _student(repo).cells[0].source
    assert badge.split("\n")[0].endswith("github/someone/mylabs/blob/dev/notebooks/01_demo_student.ipynb)")
    assert "Save a copy in Drive" in badge
    setup = _student(repo).cells[1].source
    assert 'REPO_URL = "https://github.com/someone/mylabs"' in setup and "mylabs-instructor" not in setup


def test_regeneration_is_idempotent(repo):
    path = repo / "notebooks" / "01_demo_student.ipynb"
    assert generate_student(repo, "01_demo") == "written"
    before, stat = path.read_bytes(), path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    old_mtime = path.stat().st_mtime_ns
    assert generate_student(repo, "01_demo") == "unchanged"
    assert path.read_bytes() == before and path.stat().st_mtime_ns == old_mtime


def test_hand_edited_student_refused_then_forced(repo):
    path = repo / "notebooks" / "01_demo_student.ipynb"
    generate_student(repo, "01_demo")
    student = _student(repo)
    student.cells.append(new_markdown_cell("my notes", id="notes"))
    nbformat.write(student, path)
    edited = path.read_bytes()
    with pytest.raises(NotebookError, match="edited by hand.*--force"):
        generate_student(repo, "01_demo")
    assert path.read_bytes() == edited
    assert generate_student(repo, "01_demo", force=True) == "written"
    assert "notes" not in [c.id for c in _student(repo).cells]


def test_student_without_labkit_metadata_refused(repo):
    nbformat.write(new_notebook(), repo / "notebooks" / "01_demo_student.ipynb")
    assert generate_students(repo)[0][0] == "refused"


def test_solution_bytes_never_change_under_student(repo):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    before = path.read_bytes()
    generate_students(repo)
    generate_students(repo, force=True)
    assert path.read_bytes() == before


def test_check_clean_after_colab_and_student(repo):
    update_colab_headers(repo)
    generate_students(repo)
    assert check_notebooks(repo) == []


def test_check_reports_missing_student(repo):
    update_colab_headers(repo)
    assert any("missing" in p for p in check_notebooks(repo))


def test_check_detects_drift_after_solution_edit(repo):
    update_colab_headers(repo)
    generate_students(repo)
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    solution = nbformat.read(path, as_version=4)
    cell = _cell(solution, "exercise")
    cell.source = cell.source.replace("import numpy", "import math, numpy")
    nbformat.write(solution, path)
    assert any("drift" in p for p in check_notebooks(repo))


def test_check_detects_leaked_solution_line(repo):
    update_colab_headers(repo)
    generate_students(repo)
    student = _student(repo)
    student.cells[-1].source += "\n    padded_input_array = np.pad(X, 1)"
    nbformat.write(student, repo / "notebooks" / "01_demo_student.ipynb")
    assert any("leaks solution text 'padded_input_array = np.pad(X, 1)'" in p for p in check_notebooks(repo))


def test_check_detects_outputs(repo):
    update_colab_headers(repo)
    generate_students(repo)
    student = _student(repo)
    _cell(student, "params").outputs = [new_output("stream", name="stdout", text="x\n")]
    nbformat.write(student, repo / "notebooks" / "01_demo_student.ipynb")
    assert any("has outputs" in p for p in check_notebooks(repo))


@pytest.mark.parametrize("output, flagged", [
    (new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure size 4x3>"}), True),
    (new_output("execute_result", data={"text/plain": "42"}, execution_count=1), False),
    (new_output("stream", name="stdout", text="42\n"), False),
])
def test_check_flags_a_figure_in_a_checked_cell(repo, output, flagged):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    solution = nbformat.read(path, as_version=4)
    solution.cells.append(new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(42)", outputs=[output]))
    nbformat.write(solution, path)
    update_colab_headers(repo)
    generate_students(repo)
    assert any("NBVAL_CHECK_OUTPUT cell stores" in p for p in check_notebooks(repo)) == flagged


def test_check_detects_missing_parameters_cell(repo):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    solution = nbformat.read(path, as_version=4)
    solution.cells[1].metadata.tags = []
    nbformat.write(solution, path)
    update_colab_headers(repo)
    generate_students(repo)
    assert any("no cell tagged 'parameters'" in p for p in check_notebooks(repo))


def test_check_detects_outdated_colab_header(repo):
    update_colab_headers(repo)
    generate_students(repo)
    (repo / "pyproject.toml").write_text(PYPROJECT.replace("someone", "other"))
    assert any("Colab header" in p and "solution" in p for p in check_notebooks(repo))


@pytest.mark.parametrize("source, message", [
    ("x = 1\n### BEGIN SOLUTION\ny = 2\n", "never closed"),
    ("### END SOLUTION\n", "without a BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
    ("## BEGIN SOLUTION\n", "malformed"),
])
def test_unbalanced_markers_error_names_notebook_and_cell(repo, source, message):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    solution = nbformat.read(path, as_version=4)
    solution.cells.append(new_code_cell(source))
    nbformat.write(solution, path)
    with pytest.raises(NotebookError, match=f"01_demo_solution.ipynb, cell 5.*{message}"):
        generate_student(repo, "01_demo")


def test_invalid_student_python_errors(repo):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    solution = nbformat.read(path, as_version=4)
    solution.cells.append(new_code_cell("x = (1 +\n### BEGIN SOLUTION\n2)\n### END SOLUTION\n"))
    nbformat.write(solution, path)
    with pytest.raises(NotebookError, match="cell 5: the student version is not valid Python"):
        generate_student(repo, "01_demo")


def test_colab_header_inserted_once_and_idempotent(repo):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    assert update_colab_headers(repo) == [("written", path)]
    first = path.read_bytes()
    assert update_colab_headers(repo) == [("unchanged", path)]
    solution = nbformat.read(path, as_version=4)
    assert path.read_bytes() == first and len(solution.cells) == 7
    assert solution.cells[0].metadata.tags == ["colab-badge"]
    assert solution.cells[0].source.split("\n")[0].endswith(   # a solution opens from the instructor tree
        "(https://colab.research.google.com/github/someone/mylabs-instructor/blob/dev/notebooks/01_demo_solution.ipynb)")
    assert solution.cells[1].metadata.tags == ["colab-setup"]
    assert 'REPO_URL = "https://github.com/someone/mylabs"' in solution.cells[1].source  # installs the student repo
    assert '"--branch", "dev"' in solution.cells[1].source


def test_colab_header_replaced_in_place(repo):
    path = repo / "notebooks" / "01_demo_solution.ipynb"
    update_colab_headers(repo)
    (repo / "pyproject.toml").write_text(PYPROJECT.replace("someone", "other"))
    update_colab_headers(repo)
    solution = nbformat.read(path, as_version=4)
    assert len(solution.cells) == 7 and "github/other/mylabs" in solution.cells[0].source


def test_inject_parameters_after_parameters_cell():
    nb = _solution()
    injected = inject_parameters(nb, {"SMOKE": True, "DATA_SOURCE": "offline"})
    assert injected.cells[2].metadata.tags == ["injected-parameters"]
    assert injected.cells[2].source == "# Parameters\nSMOKE = True\nDATA_SOURCE = 'offline'"
    assert [c.id for c in injected.cells if c.id != "injected-parameters"] == [c.id for c in nb.cells]
    assert injected.cells[3].outputs == nb.cells[2].outputs and len(nb.cells) == 5


def test_inject_parameters_without_parameters_cell_errors():
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        inject_parameters(new_notebook(cells=[new_code_cell("x = 1")]), {"SMOKE": True})


def test_cli_student_exit_codes(repo, capsys):
    assert main(["--root", str(repo), "student"]) == 0
    assert "written" in capsys.readouterr().out
    nbformat.write(new_notebook(), repo / "notebooks" / "01_demo_student.ipynb")
    assert main(["--root", str(repo), "student", "01_demo"]) == 1
    assert "refused" in capsys.readouterr().out


def test_cli_check_exit_code(repo):
    assert main(["--root", str(repo), "colab"]) == 0
    assert main(["--root", str(repo), "check"]) == 1
    assert main(["--root", str(repo), "student"]) == 0
    assert main(["--root", str(repo), "check"]) == 0


def test_package_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import labkit, "
            "labkit.__main__")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[3], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_student_repository_must_differ_from_the_instructor_tree(repo):
    (repo / "pyproject.toml").write_text('[tool.labhelpers]\nrepository = "https://github.com/a/b"\n'
                                         'student_repository = "https://github.com/a/b.git"\n')
    with pytest.raises(NotebookError, match="would open the instructor tree"):
        generate_student(repo, "01_demo")
