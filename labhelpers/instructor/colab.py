"""The two Colab header cells of every lab: an "Open in Colab" badge and a set-up cell (instructor tooling).

Both are generated from ``[tool.labhelpers] repository/branch`` in pyproject.toml, so a course that
forks the kit changes one line and runs ``python -m labhelpers.instructor colab``.
"""
from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import nbformat

from .nbfiles import NotebookError, atomic_write, dumps, lab_paths, list_labs, read, tags

BADGE_TAG, SETUP_TAG = "colab-badge", "colab-setup"
_SETUP_TEMPLATE = '''\
# Set-up: inside Google Colab this installs labhelpers and fetches the lab's data (about 1 minute);
# elsewhere it only makes sure paths are relative to the repository root.
import os, subprocess, sys
REPO_URL = "{repo_url}"
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/labkit"):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", REPO_URL, "/content/labkit"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "/content/labkit"], check=True)
    os.chdir("/content/labkit")
elif not os.path.isdir("data") and os.path.isdir(os.path.join("..", "data")):
    os.chdir("..")  # opened from notebooks/: work from the repository root'''


def repository_settings(root: str | Path) -> tuple[str, str]:
    """(repository URL, branch) from ``[tool.labhelpers]`` in ``root/pyproject.toml``."""
    path = Path(root) / "pyproject.toml"
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["labhelpers"]
        repo = str(settings["repository"]).rstrip("/").removesuffix(".git")
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise NotebookError(f"{path}: cannot read [tool.labhelpers] repository ({err}); add "
                            'repository = "https://github.com/OWNER/REPO" and branch = "main"') from err
    branch = str(settings.get("branch", "main"))
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo):
        raise NotebookError(f"{path}: repository = {repo!r} is not https://github.com/OWNER/REPO; fix it")
    if not re.fullmatch(r"[\w./-]+", branch):
        raise NotebookError(f"{path}: branch = {branch!r} is not a plain git branch name; fix it")
    return repo, branch


def colab_header_sources(root: str | Path, filename: str) -> tuple[str, str]:
    """(badge markdown, set-up code) for the notebook ``notebooks/<filename>``."""
    repo, branch = repository_settings(root)
    colab = repo.replace("https://github.com/", "https://colab.research.google.com/github/", 1)
    badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"({colab}/blob/{branch}/notebooks/{filename})")
    return badge, _SETUP_TEMPLATE.format(repo_url=repo, branch=branch)


def apply_colab_header(nb, badge: str, setup: str):
    """Return a copy of ``nb`` whose cells 0 and 1 are the badge and set-up cells (reused if tagged)."""
    nb = copy.deepcopy(nb)
    wanted = [(BADGE_TAG, "markdown", badge), (SETUP_TAG, "code", setup)]
    header = []
    for tag, cell_type, source in wanted:
        found = [i for i, cell in enumerate(nb.cells) if tag in tags(cell)]
        if len(found) > 1:
            raise NotebookError(f"cells {found} are all tagged {tag!r}; keep one and remove the tag from the others")
        if found and nb.cells[found[0]].cell_type == cell_type:
            cell = nb.cells.pop(found[0])
        else:
            if found:
                raise NotebookError(f"cell {found[0]} is tagged {tag!r} but is not a {cell_type} cell; fix it")
            new = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
            cell = new(source, metadata={"tags": [tag]})
            if nb.nbformat_minor >= 5:
                cell.id = tag
            else:
                cell.pop("id", None)
        if cell_type == "code" and cell.source != source:
            cell.outputs, cell.execution_count = [], None
        cell.source = source
        header.append(cell)
    nb.cells[:0] = header
    return nb


def header_current(nb, badge: str, setup: str) -> bool:
    """True when cells 0 and 1 are exactly this badge and set-up cell, tagged."""
    return (len(nb.cells) >= 2 and [c.source for c in nb.cells[:2]] == [badge, setup]
            and BADGE_TAG in tags(nb.cells[0]) and SETUP_TAG in tags(nb.cells[1]))


def update_colab_headers(root: str | Path, names: list[str] | None = None) -> list[tuple[str, Path]]:
    """Write/refresh the two Colab header cells of each solution notebook; [(status, path)]."""
    results = []
    for name in names or list_labs(root):
        path = lab_paths(root, name)[0]
        nb = read(path)
        text = dumps(apply_colab_header(nb, *colab_header_sources(root, path.name)))
        if text == path.read_text(encoding="utf-8"):
            results.append(("unchanged", path))
        else:
            atomic_write(path, text, allow_solution=True)
            results.append(("written", path))
    return results
