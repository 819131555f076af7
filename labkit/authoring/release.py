"""Build the student release: student notebooks, labhelpers (no instructor tools), data, README (all labs).

``python -m labkit release OUT_DIR [--force]``. Student notebooks are generated fresh
from the solutions (so they cannot drift); the result is checked before the command succeeds: no
solution notebook, no solution region or solution line, no hidden test, no instructor tooling.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat

from .nbfiles import SOLUTION_SUFFIX, NotebookError, lab_paths, list_labs
from .notebooks import make_student

RELEASE_ENTRIES = {"README.md", "requirements.txt", "pyproject.toml", "labhelpers", "notebooks", "data"}
SKIP_NAMES = {"instructor", "__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
README = """\
# Deep-learning labs: student version

Set up once (Python 3.10+):

    python -m venv .venv && source .venv/bin/activate
    pip install -r requirements.txt && pip install -e .

Then start Jupyter **from this folder** (`jupyter lab`) and open a notebook in `notebooks/`. Each lab
also opens in Google Colab through the badge in its first cell. Replace every
`raise NotImplementedError(...)` with your code; the check cell under each exercise tells you whether
your answer is right.

Before you submit, run the notebook's last cell: it re-runs the whole notebook top to bottom in a fresh
kernel, the way the grader does, and lists what would fail (cells run out of order, answers still
missing, errors). Then submit the saved `.ipynb` file. The grade comes from hidden tests that call your
functions with new inputs, so make your functions correct in general, not only for the checked cases.

Labs: {labs}
"""


def _copy_package(source: Path, target: Path) -> list[Path]:
    """Copy labhelpers without the instructor tools and caches."""
    shutil.copytree(source, target, ignore=lambda folder, names: [
        n for n in names if n in SKIP_NAMES or n.endswith((".pyc", ".pyo"))])
    return [p for p in target.rglob("*") if p.is_file()]


def _data_files(root: Path) -> list[Path]:
    """The small data tracked by git (downloads such as data/MNIST/ are left out), else every file."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "data"], cwd=root, capture_output=True, check=True)
        files = [root / name for name in listed.stdout.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in (root / "data").rglob("*") if p.is_file()]
    return [f for f in files if f.is_file()]


def _prepare(out: Path, root: Path, force: bool) -> None:
    """Refuse a non-empty ``out`` (unless --force on a previous release); never touch the repository."""
    out, root = out.resolve(), root.resolve()
    if out == root or out in root.parents or out == Path.home() or out == Path("/"):
        raise ValueError(f"{out} is the repository, a parent of it or your home; choose a new folder")
    if root in out.parents and out.relative_to(root).parts[0] in {"notebooks", "labhelpers", "data", "grading"}:
        raise ValueError(f"{out} is inside the repository's {out.relative_to(root).parts[0]}/; choose another folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ValueError(f"{out} is not empty; choose an empty folder or pass --force to replace a previous release")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RELEASE_ENTRIES)
        if foreign:
            raise ValueError(f"{out} holds {foreign[:5]}, which a release never contains; it is not a previous "
                             "release, so it is not deleted: choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def build_release(root: str | Path, out: str | Path, force: bool = False) -> list[Path]:
    """Write the release of every lab into ``out``; return the files written (checked by verify_release)."""
    root, out = Path(root).resolve(), Path(out).resolve()
    labs = list_labs(root)
    if not labs:
        raise ValueError(f"no *{SOLUTION_SUFFIX} notebooks in {root / 'notebooks'}: nothing to release")
    _prepare(out, root, force)
    written: list[Path] = []
    (out / "notebooks").mkdir()
    for name in labs:
        solution_path, student_path = lab_paths(root, name)
        try:
            student, _ = make_student(nbformat.read(solution_path, as_version=4), root, name)
        except NotebookError as err:
            raise ValueError(f"cannot make the student notebook of {name}: {err}") from err
        target = out / "notebooks" / student_path.name
        nbformat.write(student, target)
        written.append(target)
    written += _copy_package(root / "labhelpers", out / "labhelpers")
    for source in _data_files(root):
        target = out / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        written.append(target)
    for extra in ("requirements.txt", "pyproject.toml"):
        if (root / extra).is_file():
            shutil.copy2(root / extra, out / extra)
            written.append(out / extra)
    (out / "README.md").write_text(README.format(labs=", ".join(labs)), encoding="utf-8")
    written.append(out / "README.md")
    problems = verify_release(out, root)
    if problems:
        raise ValueError("the release would leak instructor material:\n  " + "\n  ".join(problems))
    return written


def verify_release(out: str | Path, root: str | Path) -> list[str]:
    """Every problem found in a release folder: solution notebooks or markers, hidden tests, tools."""
    out, root = Path(out), Path(root)
    hidden_tests = [p.read_bytes() for p in (root / "grading").glob("*.py")] if (root / "grading").is_dir() else []
    problems = [f"unexpected top-level entry {p.name}" for p in out.iterdir() if p.name not in RELEASE_ENTRIES]
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out)
        if path.name.endswith(SOLUTION_SUFFIX) or "instructor" in rel.parts or "grading" in rel.parts:
            problems.append(f"{rel}: instructor material")
            continue
        data = path.read_bytes()
        if data in hidden_tests:
            problems.append(f"{rel}: a copy of a hidden test")
        text = data.decode("utf-8", errors="ignore")
        if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
            problems.append(f"{rel}: contains a solution marker")
    return problems
