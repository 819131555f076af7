"""The two Colab header cells of every lab: an "Open in Colab" badge and a set-up cell (instructor tooling).

Both are generated from ``[tool.labhelpers]`` in pyproject.toml: the set-up cell clones and installs the
*student* repository (``student_repository``, what ``make publish`` writes), never this instructor tree;
a student notebook's badge opens it there, a solution's badge opens it in the instructor tree (private:
Colab asks for GitHub access). A course that forks the kit changes two lines and runs
``python -m labkit colab`` (solutions) and ``python -m labkit student``.
"""
from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .nbfiles import NotebookError, atomic_write, dumps, lab_paths, list_labs, read, tags

BADGE_TAG, SETUP_TAG = "colab-badge", "colab-setup"
# what JupyterLab writes when it opens a notebook: stored as is, opening and closing a lab changes nothing
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
SAVE_A_COPY = ("*In Colab, first choose **File > Save a copy in Drive** and work in that copy: changes to a "
               "notebook opened from GitHub are lost when the runtime ends.*")
_SETUP_TEMPLATE = '''\
# Set-up: inside Google Colab this installs labhelpers and fetches the lab's data (about 1 minute);
# elsewhere it only makes sure paths are relative to the repository root.
import os, subprocess, sys
REPO_URL = "{repo_url}"
LAB_DIR = "/content/{folder}"
if "google.colab" in sys.modules:
    if not os.path.isdir(LAB_DIR):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", REPO_URL, LAB_DIR], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", LAB_DIR], check=True)
    os.chdir(LAB_DIR)
elif not os.path.isdir("data") and os.path.isdir(os.path.join("..", "data")):
    os.chdir("..")  # opened from notebooks/: work from the repository root'''
_GITHUB = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")
_BRANCH = re.compile(r"[\w./-]+")


@dataclass(frozen=True)
class Repositories:
    """Where the course lives: the private instructor tree and the public student repository."""

    instructor: str        # https://github.com/OWNER/REPO of this tree (solutions, hidden tests)
    branch: str
    student: str           # the repository students open in Colab (what make release/publish writes)
    student_branch: str

    @property
    def student_folder(self) -> str:
        """The folder the Colab set-up cell clones the student repository into (under /content)."""
        return self.student.rsplit("/", 1)[-1]


def repository_settings(root: str | Path) -> Repositories:
    """The repositories named in ``[tool.labhelpers]`` of ``root/pyproject.toml`` (checked)."""
    path = Path(root) / "pyproject.toml"
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["labhelpers"]
        found = {key: str(settings[key]).rstrip("/").removesuffix(".git") for key in ("repository", "student_repository")}
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise NotebookError(f"{path}: cannot read [tool.labhelpers] repository and student_repository ({err}); add "
                            'repository = "https://github.com/OWNER/REPO" (this private instructor tree) and '
                            'student_repository = "https://github.com/OWNER/STUDENT-REPO" (public)') from err
    branches = {key: str(settings.get(key, "main")) for key in ("branch", "student_branch")}
    for key, url in found.items():
        if not _GITHUB.fullmatch(url):
            raise NotebookError(f"{path}: {key} = {url!r} is not https://github.com/OWNER/REPO; fix it")
    for key, branch in branches.items():
        if not _BRANCH.fullmatch(branch):
            raise NotebookError(f"{path}: {key} = {branch!r} is not a plain git branch name; fix it")
    if found["repository"] == found["student_repository"]:
        raise NotebookError(f"{path}: repository and student_repository are both {found['repository']}: students "
                            "would open the instructor tree with its solutions; give them a repository of their own")
    return Repositories(found["repository"], branches["branch"], found["student_repository"],
                        branches["student_branch"])


def colab_header_sources(root: str | Path, filename: str) -> tuple[str, str]:
    """(badge markdown, set-up code) for ``notebooks/<filename>``: a student notebook's badge opens it in the
    student repository, a solution's in the instructor tree; both set-up cells install the student repository."""
    repos = repository_settings(root)
    student = not filename.endswith("_solution.ipynb")
    repo, branch = (repos.student, repos.student_branch) if student else (repos.instructor, repos.branch)
    colab = repo.replace("https://github.com/", "https://colab.research.google.com/github/", 1)
    badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"({colab}/blob/{branch}/notebooks/{filename})\n\n{SAVE_A_COPY}")
    return badge, _SETUP_TEMPLATE.format(repo_url=repos.student, branch=repos.student_branch,
                                         folder=repos.student_folder)


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
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def header_current(nb, badge: str, setup: str) -> bool:
    """True when cells 0 and 1 are exactly this badge and set-up cell, tagged, and the kernelspec is KERNELSPEC."""
    return (len(nb.cells) >= 2 and [c.source for c in nb.cells[:2]] == [badge, setup]
            and BADGE_TAG in tags(nb.cells[0]) and SETUP_TAG in tags(nb.cells[1])
            and dict(nb.metadata.get("kernelspec", {})) == KERNELSPEC)


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
