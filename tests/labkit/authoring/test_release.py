"""Tests for labkit.authoring.release: the student release holds no instructor material."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labkit.authoring import list_labs
from labkit.authoring.release import RELEASE_ENTRIES, build_release

ROOT = Path(__file__).resolve().parents[3]
LABS = list_labs(ROOT)
_BEGIN, _END = re.compile(r"^\s*(###|<!--) BEGIN SOLUTION"), re.compile(r"^\s*(###|<!--) END SOLUTION")
needs_labs = pytest.mark.skipif(not LABS, reason="no solution notebooks yet")


def _solution_only_lines() -> set[str]:
    """Lines (> 20 characters) inside solution regions that appear nowhere else in the solutions."""
    inside, outside = set(), set()
    for name in LABS:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}_solution.ipynb", as_version=4)
        for cell in nb.cells:
            region = False
            for line in cell.source.split("\n"):
                if _BEGIN.match(line) or _END.match(line):
                    region = bool(_BEGIN.match(line))
                    continue
                (inside if region else outside).add(line.strip())
    return {line for line in inside - outside if len(line) > 20}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "labs"
    build_release(ROOT, out)
    return out


def _files(release: Path) -> list[Path]:
    return [p for p in release.rglob("*") if p.is_file()]


@needs_labs
def test_release_has_only_the_student_entries(release):
    assert {p.name for p in release.iterdir()} <= RELEASE_ENTRIES
    assert {"notebooks", "labhelpers", "README.md"} <= {p.name for p in release.iterdir()}


@needs_labs
def test_release_has_one_student_notebook_per_lab_and_no_solution(release):
    names = sorted(p.name for p in (release / "notebooks").iterdir())
    assert names == sorted(f"{lab}_student.ipynb" for lab in LABS)


@needs_labs
def test_release_has_no_solution_region_or_marker(release):
    for path in _files(release):
        text = path.read_bytes().decode("utf-8", errors="ignore")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path


@needs_labs
def test_release_leaks_no_solution_line(release):
    secret = _solution_only_lines()
    for path in (release / "notebooks").iterdir():
        lines = {line.strip() for c in nbformat.read(path, as_version=4).cells for line in c.source.split("\n")}
        assert not secret & lines, path.name


@needs_labs
def test_release_has_no_hidden_test_and_no_instructor_tooling(release):
    hidden = {p.read_bytes() for p in (ROOT / "grading").glob("*.py")}
    for path in _files(release):
        rel = path.relative_to(release)
        assert "instructor" not in rel.parts and "grading" not in rel.parts and "tests" not in rel.parts, rel
        assert path.read_bytes() not in hidden, rel


@needs_labs
def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        build_release(ROOT, tmp_path)


@needs_labs
def test_release_force_never_deletes_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a previous release"):
        build_release(ROOT, tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@needs_labs
def test_release_force_replaces_a_previous_release(tmp_path):
    build_release(ROOT, tmp_path / "labs")
    (tmp_path / "labs" / "README.md").write_text("old")
    build_release(ROOT, tmp_path / "labs", force=True)
    assert (tmp_path / "labs" / "README.md").read_text() != "old"


def test_release_refuses_the_repository_itself():
    with pytest.raises(ValueError, match="repository"):
        build_release(ROOT, ROOT, force=True)
