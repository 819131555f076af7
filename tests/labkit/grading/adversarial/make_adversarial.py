"""Build the adversarial submissions and the sample class used by tests/test_grade.py (lab 01).

The notebooks are made from the current lab 01 solution (and its generated student version), so they
follow the lab as it changes. Most are a *skeleton* (Colab set-up, parameters, imports, exercise and
check cells) to keep the tests fast; "correct" and "untouched" are the full notebooks.

    python tests/adversarial/make_adversarial.py FOLDER [--attack-out DIR] [--attack-submissions DIR] [--port N]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from labkit.authoring import lab_paths, make_student  # noqa: E402

LAB = "01_cnn_arithmetic"
EXERCISES = ["output_size", "conv2d", "max_pool2d", "conv_params", "lenet_shapes"]
HERE = Path(__file__).resolve().parent
ATTACKS = HERE / "attacks"  # one .py file per malicious cell (templates: {OUT}, {SUBS}, {PORT})


def _notebooks(root: Path = ROOT) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    solution_path, _ = lab_paths(root, LAB)
    solution = nbformat.read(solution_path, as_version=4)
    student, _ = make_student(solution, root, LAB)
    return solution, student


def _defines(cell, name: str) -> bool:
    return cell.cell_type == "code" and f"def {name}(" in cell.source


def skeleton(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Set-up, parameters, the first code cell after them (imports), exercise and check cells."""
    nb = copy.deepcopy(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    keep_ids = {id(c) for c in (code[: tagged[0] + 2] if tagged else code[:2])}
    nb.cells = [c for c in nb.cells if id(c) in keep_ids or any(_defines(c, n) for n in EXERCISES)
                or (c.cell_type == "code" and "check_" in c.source and "passed = " in c.source)]
    return nb


def insert_after(nb, function: str, source: str):
    """A copy of ``nb`` with a new code cell right after the cell defining ``function``."""
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if _defines(c, function))
    nb.cells.insert(index + 1, new_code_cell(source))
    return nb


def append(nb, source: str):
    nb = copy.deepcopy(nb)
    nb.cells.append(new_code_cell(source))
    return nb


def attack(name: str, **values) -> str:
    text = (ATTACKS / f"{name}.py").read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", repr(str(value)) if key != "PORT" else str(value))
    return text


def _write(folder: Path, name: str, nb_or_bytes) -> None:
    path = folder / f"{name}.ipynb"
    if isinstance(nb_or_bytes, bytes):
        path.write_bytes(nb_or_bytes)
    else:
        nbformat.write(nb_or_bytes, path)


def build_adversarial(folder: Path, *, attack_out: Path, attack_submissions: Path, port: int,
                      huge_bytes: int = 4 * 2**20, root: Path = ROOT) -> list[str]:
    """Write every adversarial submission into ``folder``; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    solution, student = _notebooks(root)
    sol, stu = skeleton(solution), skeleton(student)
    values = {"OUT": attack_out, "SUBS": attack_submissions, "PORT": port}
    cases = {
        "correct": solution, "untouched": student,
        "redefine_checks": append(stu, attack("redefine_checks")),
        "monkeypatch": append(stu, attack("monkeypatch")),
        "eq_always_true": append(stu, attack("eq_always_true")),
        "suppress_tracebacks": append(stu, attack("suppress_tracebacks")),
        "patch_runner": append(stu, attack("patch_runner")),
        "forge_protocol": append(stu, attack("forge_protocol")),
        "fake_results": append(stu, attack("fake_results", **values)),
        "disk_search": append(stu, attack("disk_search")),
        "network": append(stu, attack("network", **values)),
        "sys_exit": insert_after(sol, "conv2d", "import sys\nsys.exit(0)"),
        "os_exit": insert_after(sol, "conv2d", "import os\nos._exit(0)"),
        "segfault": insert_after(sol, "conv2d", "import ctypes\nctypes.string_at(0)  # kills the process"),
        "infinite_loop": insert_after(sol, "conv2d", "while True:\n    pass"),
        "memory_bomb": insert_after(sol, "conv2d", "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))"),
        "print_gigabyte": insert_after(sol, "conv2d", attack("print_gigabyte")),
        "deleted_cells": _deleted_cells(sol),
        "deleted_exercise_cells": _without(sol, ["conv2d", "max_pool2d"]),
        "renamed_function": _renamed(sol, "conv2d", "conv2d_v2"),
        "wrong_lab": _other_lab(root),
    }
    for name, nb in cases.items():
        _write(folder, name, nb)
    huge = copy.deepcopy(solution)
    huge.cells.append(new_markdown_cell("x" * huge_bytes))
    _write(folder, "huge", huge)
    _write(folder, "zero_bytes", b"")
    _write(folder, "invalid_json", b'{"cells": [ this is not json')
    _write(folder, "not_a_notebook", b'{"hello": "world"}')
    _write(folder, "binary", os.urandom(2048))
    return sorted(p.stem for p in folder.glob("*.ipynb"))


def _deleted_cells(nb):
    """Only the code cells, with ids and tags renamed and the check cells deleted."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and "passed = check_" not in c.source]
    for number, cell in enumerate(nb.cells):
        cell.id = f"renamed-{number}"
        cell.metadata = {"tags": ["something-else"]} if number else {}
    return nb


def _without(nb, functions: list[str]):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not any(_defines(c, f) for f in functions)]
    return nb


def _renamed(nb, old: str, new: str):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if _defines(cell, old):
            cell.source = cell.source.replace(f"def {old}(", f"def {new}(")
    return nb


def _other_lab(root: Path):
    solution_path, _ = lab_paths(root, "00_colab_gpu_setup")
    return make_student(nbformat.read(solution_path, as_version=4), root, "00_colab_gpu_setup")[0]


def _stub(nb, functions: list[str], student):
    """``nb`` with the cells defining ``functions`` taken from ``student`` (not implemented)."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        for f in functions:
            if _defines(cell, f):
                nb.cells[i] = copy.deepcopy(next(c for c in student.cells if _defines(c, f)))
    return nb


def build_sample_class(folder: Path, root: Path = ROOT) -> list[str]:
    """correct (10), partial (8: conv2d not done), broken (6: a wrong answer, a syntax error), malicious (0)."""
    folder.mkdir(parents=True, exist_ok=True)
    solution, student = _notebooks(root)
    sol, stu = skeleton(solution), skeleton(student)
    broken = copy.deepcopy(sol)
    for cell in broken.cells:
        if _defines(cell, "output_size"):
            cell.source = "def output_size(n, k, p=0, s=1):\n    return (n - k) // s  # forgot padding and + 1\n"
        if _defines(cell, "conv2d"):
            cell.source = cell.source.replace("def conv2d(", "def conv2d(:", 1)  # a syntax error
    cases = {"correct": sol, "partial": _stub(sol, ["conv2d"], stu), "broken": broken,
             "malicious": append(append(stu, attack("redefine_checks")), attack("eq_always_true"))}
    for name, nb in cases.items():
        _write(folder, name, nb)
    return sorted(cases)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--attack-out", type=Path, default=Path("/tmp/grades"))
    parser.add_argument("--attack-submissions", type=Path, default=Path("/tmp/submissions"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--sample-class", action="store_true", help="build the sample class instead")
    args = parser.parse_args()
    if args.sample_class:
        print(json.dumps(build_sample_class(args.folder)))
    else:
        print(json.dumps(build_adversarial(args.folder, attack_out=args.attack_out,
                                           attack_submissions=args.attack_submissions, port=args.port)))
