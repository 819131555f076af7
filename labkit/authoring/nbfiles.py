"""Where the lab notebooks are and how they are read and written (instructor tooling, all labs)."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import nbformat

from labhelpers import files

SOLUTION_SUFFIX, STUDENT_SUFFIX = "_solution.ipynb", "_student.ipynb"


class NotebookError(ValueError):
    """A notebook cannot be processed (bad markers, invalid Python, edited student file...)."""


def list_labs(root: str | Path) -> list[str]:
    """Names ``NN_name`` of every ``notebooks/NN_name_solution.ipynb`` under the repository ``root``."""
    folder = Path(root) / "notebooks"
    return sorted(p.name[: -len(SOLUTION_SUFFIX)] for p in folder.glob("*" + SOLUTION_SUFFIX))


def lab_paths(root: str | Path, name: str) -> tuple[Path, Path]:
    """(solution path, student path) of lab ``name`` (``NN_name``, a file name or path is accepted)."""
    name = Path(name).name
    for suffix in (SOLUTION_SUFFIX, STUDENT_SUFFIX, ".ipynb"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    folder = Path(root) / "notebooks"
    return folder / (name + SOLUTION_SUFFIX), folder / (name + STUDENT_SUFFIX)


def tags(cell) -> list[str]:
    """The cell's metadata tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def dumps(nb) -> str:
    """Exactly the text ``nbformat.write`` puts in a file (deterministic: sorted keys)."""
    buffer = io.StringIO()
    nbformat.write(nb, buffer)
    return buffer.getvalue()


def sha256(text: str) -> str:
    """Hex sha256 of UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read(path: Path):
    """The notebook at ``path`` (nbformat 4)."""
    return nbformat.read(str(path), as_version=4)


def atomic_write(path: Path, text: str, *, allow_solution: bool = False) -> None:
    """Write notebook ``text`` to ``path`` atomically (never half a notebook); a solution only when asked."""
    if Path(path).name.endswith(SOLUTION_SUFFIX) and not allow_solution:
        raise NotebookError(f"{path}: refusing to write a solution notebook")
    files.atomic_write(path, text)
