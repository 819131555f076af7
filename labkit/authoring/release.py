"""Build the student release: exactly the tree of the public student repository (authoring, all labs).

``python -m labkit release OUT_DIR [--force]`` (``make release``) writes student notebooks (generated
fresh from the solutions, so they cannot drift), ``labhelpers`` with its public expected values, the small
data, and the files of a git repository of its own: a student README, a ``pyproject.toml`` and a
``requirements.txt`` for ``labhelpers`` only, a ``.gitignore``. ``python -m labkit publish`` commits it to
a clone of the student repository (:mod:`publish`). Before the command succeeds the tree is checked
(:func:`verify_release`): no solution notebook, no solution region or solution line, no hidden test, no
instructor package, benchmark or test, no ``reference_*`` function, and no run of solution code in the
package's sources.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import tomllib
from pathlib import Path

import nbformat

from .leaks import code_tokens, regions
from .nbfiles import SOLUTION_SUFFIX, NotebookError, lab_paths, list_labs, read
from .notebooks import make_student

RELEASE_ENTRIES = {"README.md", "requirements.txt", "pyproject.toml", ".gitignore", "labhelpers", "notebooks", "data"}
SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
INSTRUCTOR_ONLY = "# ---- instructor and CI only"  # requirements.txt: lines from here on stay out of a release
SOLUTION_RUN = 20  # tokens: a run this long of a solution region in the package's code is a leak (12 matched idioms)
# Reviewed overlaps (release path, "lab exercise") of 20+ tokens that are not an answer key: each names why.
KNOWN_OVERLAPS = {
    ("labhelpers/models.py", "02_week13_mnist __init__"):
        "PaddedNetCNN is a variation of the slide's NetCNN listing, which lab 02 shows above it; "
        "what is graded is the padding and the flattened size, which models.py does not contain",
    ("labhelpers/models.py", "02_week13_mnist forward"): "the same: the slide's NetCNN forward, shown in the lab",
    ("labhelpers/train.py", "10_transfer_learning finetune_epoch"):
        "the accuracy-count idiom (correct += ...argmax(dim=1) == y...; seen += len(y)); the graded part is "
        "the frozen backbone, its eval mode and the head's step, which train.py does not contain",
    ("labhelpers/train.py", "12_deck003_practicals train_epoch"): "the accuracy-count idiom only",
    ("labhelpers/train.py", "12_deck003_practicals evaluate_model"): "the accuracy-count idiom only",
    ("labhelpers/checks/perceptron_mlp_xor.py", "12_deck003_practicals dense_stack"):
        "the layer-pair idiom for n_in, n_out in zip(sizes[:-1], sizes[1:])",
    ("labhelpers/checks/training_tricks.py", "12_deck003_practicals slide_cnn"):
        "a run of layer names (ReLU, MaxPool2d(2), Flatten, Linear) common to every small CNN",
}
GITIGNORE = ".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\nresults/\ndata/MNIST/\nbuild/\n"
README = """\
# Deep-learning labs: student version

Open a lab in Google Colab with the badge at the top of each notebook in `notebooks/` (choose
*Runtime > Change runtime type > GPU* for speed; every lab also runs on a CPU). In Colab, first use
**File > Save a copy in Drive**: changes to a notebook opened from GitHub are lost when the runtime ends.

On your own computer (Python 3.10 or newer), set up once:

    python -m venv .venv && source .venv/bin/activate
    pip install -r requirements.txt && pip install -e .

Then start JupyterLab **from this folder** (`jupyter lab`) and open a notebook in `notebooks/`.

Replace every `raise NotImplementedError(...)` with your code; the check cell under each exercise tells
you whether your answer is right. Before you submit, run the notebook's last cell: it re-runs the whole
notebook top to bottom in a fresh kernel, the way the grader does, and lists what would fail (cells run
out of order, answers still missing, errors). Then submit the saved `.ipynb` file. The grade comes from
hidden tests that call your functions with new inputs, so make your functions correct in general, not
only for the checked cases.

Labs: {labs}
"""
PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "labhelpers"
version = "{version}"
description = "Helpers for the deep-learning labs (PyTorch): data, models, training, images, self-checks."
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
{dependencies}
]

[tool.setuptools.packages.find]
include = ["labhelpers*"]

[tool.setuptools.package-data]
labhelpers = ["py.typed", "checks/expected/*.json"]
"""


def _copy_package(source: Path, target: Path) -> list[Path]:
    """Copy labhelpers without caches."""
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


def student_requirements(root: Path) -> str:
    """requirements.txt without the instructor-only part (everything from the INSTRUCTOR_ONLY line on)."""
    text = (root / "requirements.txt").read_text(encoding="utf-8")
    return text.split(INSTRUCTOR_ONLY)[0].rstrip() + "\n"


def student_pyproject(root: Path) -> str:
    """A pyproject.toml that installs labhelpers alone, with the instructor tree's dependency ranges."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    import labhelpers
    dependencies = "\n".join(f'    "{d}",' for d in project.get("dependencies", []))
    return PYPROJECT.format(version=labhelpers.__version__, dependencies=dependencies)


def _prepare(out: Path, root: Path, force: bool) -> None:
    """Refuse a non-empty ``out`` (unless --force on a previous release); never touch the repository."""
    out, root = out.resolve(), root.resolve()
    if out == root or out in root.parents or out == Path.home() or out == Path("/"):
        raise ValueError(f"{out} is the repository, a parent of it or your home; choose a new folder")
    if root in out.parents and out.relative_to(root).parts[0] in {"notebooks", "labhelpers", "labkit", "data",
                                                                    "grading", "tests", "benchmarks"}:
        raise ValueError(f"{out} is inside the repository's {out.relative_to(root).parts[0]}/; choose another folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ValueError(f"{out} is not empty; choose an empty folder or pass --force to replace a previous release")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RELEASE_ENTRIES | {".git"})
        if foreign:
            raise ValueError(f"{out} holds {foreign[:5]}, which a release never contains; it is not a previous "
                             "release, so it is not deleted: choose another folder")
        for entry in out.iterdir():
            if entry.name != ".git":  # a clone of the student repository keeps its history
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
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
    for filename, text in (("README.md", README.format(labs=", ".join(labs))), (".gitignore", GITIGNORE),
                           ("requirements.txt", student_requirements(root)), ("pyproject.toml", student_pyproject(root))):
        (out / filename).write_text(text, encoding="utf-8")
        written.append(out / filename)
    problems = verify_release(out, root)
    if problems:
        raise ValueError("the release would leak instructor material:\n  " + "\n  ".join(problems))
    return written


# ----------------------------------------------------------------------------- verification
def solution_regions(root: Path) -> dict[str, list[str]]:
    """``"<lab> <function>"`` -> the code tokens of each code solution region of every solution notebook."""
    found: dict[str, list[str]] = {}
    for name in list_labs(root):
        for index, cell in enumerate(read(lab_paths(root, name)[0]).cells):
            if cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source:
                for region in regions(index, cell.source):
                    found[f"{name} {region.function or f'cell {index}'}"] = code_tokens(region.solution)
    return found


def _solution_only_lines(root: Path) -> set[str]:
    """Lines (> 20 characters) inside solution regions that appear nowhere else in the solutions."""
    inside_lines, outside = set(), set()
    for name in list_labs(root):
        for cell in read(lab_paths(root, name)[0]).cells:
            region = False
            for line in cell.source.split("\n"):
                if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                    region = "BEGIN SOLUTION" in line
                    continue
                (inside_lines if region else outside).add(line.strip())
    return {line for line in inside_lines - outside if len(line) > 20}


def verify_release(out: str | Path, root: str | Path) -> list[str]:
    """Every problem found in a release folder (see the module doc); [] when it is fit to publish."""
    out, root = Path(out), Path(root)
    hidden_tests = [p.read_bytes() for p in (root / "grading").glob("*.py")] if (root / "grading").is_dir() else []
    problems = [f"unexpected top-level entry {p.name}" for p in out.iterdir() if p.name not in RELEASE_ENTRIES | {".git"}]
    secret_lines = _solution_only_lines(root)
    regions = {k: v for k, v in solution_regions(root).items() if len(v) >= SOLUTION_RUN}  # long enough to leak
    for path in sorted(p for p in out.rglob("*") if p.is_file() and ".git" not in p.relative_to(out).parts):
        rel = path.relative_to(out)
        if path.name.endswith(SOLUTION_SUFFIX) or {"labkit", "grading", "benchmarks", "tests"} & set(rel.parts):
            problems.append(f"{rel}: instructor material")
            continue
        data = path.read_bytes()
        if data in hidden_tests:
            problems.append(f"{rel}: a copy of a hidden test")
        text = data.decode("utf-8", errors="ignore")
        if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
            problems.append(f"{rel}: contains a solution marker")
        if path.suffix == ".ipynb":
            lines = {line.strip() for c in nbformat.reads(text, as_version=4).cells for line in c.source.split("\n")}
            problems += [f"{rel}: contains the solution line {line!r}" for line in sorted(secret_lines & lines)]
        if path.suffix == ".py":
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            problems += [f"{rel}: defines {node.name}, a reference implementation" for node in ast.walk(tree)
                         if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                         and node.name.lower().lstrip("_").startswith("reference")]
            tokens = code_tokens(text)
            grams = {tuple(tokens[i:i + SOLUTION_RUN]) for i in range(len(tokens) - SOLUTION_RUN + 1)}
            problems += [f"{rel}: shares {SOLUTION_RUN}+ tokens in a row with {label}"
                         for label, region in regions.items()
                         if (rel.as_posix(), label) not in KNOWN_OVERLAPS and any(tuple(region[i:i + SOLUTION_RUN]) in grams
                                for i in range(len(region) - SOLUTION_RUN + 1))]
    return problems
