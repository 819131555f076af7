"""Files a lab run writes: atomic writes and the per-lab results folders (every lab, the grader, the tools)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".pdf", ".gif")


def _default_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, data: bytes | str | Callable[[BinaryIO], None], *,
                 mode: int | None = None, fsync: bool = False) -> Path:
    """Write ``data`` (bytes, text, or a function that writes to a binary file) to ``path`` atomically.

    The content goes to a temporary file in the same folder, which is then renamed over ``path``: a
    crash, a full disk or a stopped kernel leaves either the old file or the new one, never half of
    one. The file keeps the mode of the file it replaces, else ``mode``, else the usual 0o666 - umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else _default_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fp:
            if callable(data):
                data(fp)
            else:
                fp.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                fp.flush()
                os.fsync(fp.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def figure_dir(results_dir: str | os.PathLike, lab: str) -> Path:
    """``results_dir/figures/<lab>``, emptied of the figures an earlier run left there (every lab).

    Only image files are removed, and only in this lab's own figure folder: a figure the lab no longer
    makes cannot sit beside the new ones, and nothing else is touched.
    """
    if not lab or Path(lab).name != lab:
        raise ValueError(f"lab must be a plain lab name like '02_week13_mnist', got {lab!r}")
    folder = Path(results_dir) / "figures" / lab
    if folder.is_symlink():
        raise ValueError(f"{folder} is a symbolic link; remove it (figures are written into a real folder)")
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink() and entry.suffix.lower() in FIGURE_SUFFIXES:
            entry.unlink()
        elif entry.is_dir() and not entry.is_symlink() and entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)  # e.g. .ipynb_checkpoints of a figure folder
    return folder
