"""Submission parsing (labkit.grading.submission) against floods (issue 11): a notebook of many empty cells, or one
cell of a great many newlines, once kept ``grade`` inside a backtracking regular expression for minutes to weeks
before any limit applied. Parsing is linear now and bounded (MAX_CELLS, MAX_CELL_CHARS); each flood runs in a child
process with a deadline, so a regression fails here instead of stalling the suite."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.grading.submission import MAX_CELL_CHARS, MAX_CELLS, Rejected, parse_notebook

ROOT = Path(__file__).resolve().parents[3]
PARSE = """
import sys
from pathlib import Path
from labkit.grading.spec import load_lab_tests
from labkit.grading.submission import Rejected, check_lab, parse_notebook
nb = parse_notebook(Path(sys.argv[1]).read_bytes())
try:
    check_lab(nb, load_lab_tests(Path(sys.argv[2]) / "grading", "01_cnn_arithmetic"))
    print("accepted")
except Rejected as err:
    print("rejected:", err)
"""


def _notebook(sources: list[str]) -> bytes:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
             for s in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def _parse_in_a_child(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "flood.ipynb"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", PARSE, str(path), str(ROOT)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("sources", [
    [""] * (MAX_CELLS - 1) + ["def output_size(n, k, p=0, s=1):\n    return 0\n"],   # many empty cells
    ["\n" * (MAX_CELL_CHARS - 100) + "def output_size(n, k, p=0, s=1):\n    return 0\n"],   # a newline flood
    ["\n \t" * (MAX_CELL_CHARS // 3 - 10)],                                                  # blank lines only
], ids=["empty-cells", "newlines-then-a-definition", "blank-lines-only"])
def test_floods_under_the_caps_parse_in_linear_time(tmp_path, sources):
    out = _parse_in_a_child(tmp_path, _notebook(sources))
    if any("def output_size" in s for s in sources):
        assert out.startswith("accepted"), out
    else:
        assert "none of this lab's exercise functions" in out, out


def test_too_many_cells_are_refused_with_a_reason():
    with pytest.raises(Rejected, match=f"more than the {MAX_CELLS:,}"):
        parse_notebook(_notebook([""] * (MAX_CELLS + 1)))


def test_a_cell_over_the_cap_is_refused_with_a_reason():
    with pytest.raises(Rejected, match=f"more than the {MAX_CELL_CHARS:,}"):
        parse_notebook(_notebook(["\n" * (MAX_CELL_CHARS + 1)]))
