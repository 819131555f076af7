"""Solution -> student notebooks, and the drift/leak checks of the committed student notebooks (authoring)."""
from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import nbformat

from labhelpers.selfcheck import PARAMETERS_TAG

from .colab import apply_colab_header, colab_header_sources, header_current
from .leaks import HINT_MAX_RUN, hint_overlap, regions
from .prose import fill, prose_problems
from .nbfiles import (SOLUTION_SUFFIX, STUDENT_SUFFIX, NotebookError, atomic_write, dumps, lab_paths, list_labs,
                      read, sha256, tags)

MARKDOWN_ANSWER = "*Write your answer here.*"
LEAK_MIN_CHARS = 20
_CODE_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<rest>(\s.*)?)$")
_CODE_END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
_MD_BEGIN = re.compile(r"^(?P<indent>[ \t]*)<!-- BEGIN SOLUTION -->\s*$")
_MD_END = re.compile(r"^[ \t]*<!-- END SOLUTION -->\s*$")
_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async\s+)?def\s+(?P<name>\w+)")


# ----------------------------------------------------------------------------- solution regions
def strip_solution(source: str, cell_type: str, where: str, exercise: str = "exercise") -> tuple[str, list[str]]:
    """Replace the solution regions of one cell's ``source``; return (student source, removed lines).

    ``where`` (e.g. ``"01_conv_solution.ipynb, cell 5"``) names the cell in error messages.
    """
    code = cell_type == "code"
    begin, end = (_CODE_BEGIN, _CODE_END) if code else (_MD_BEGIN, _MD_END)
    out: list[str] = []
    removed: list[str] = []
    open_at: int | None = None
    for lineno, line in enumerate(source.split("\n"), start=1):
        b, e = begin.match(line), end.match(line)
        if not (b or e) and ("BEGIN SOLUTION" in line or "END SOLUTION" in line):
            wanted = "### BEGIN/END SOLUTION" if code else "<!-- BEGIN/END SOLUTION -->"
            raise NotebookError(f"{where}, line {lineno}: malformed solution marker {line.strip()!r}; "
                                f"in a {cell_type} cell write it alone on its line as {wanted}")
        if b:
            if open_at is not None:
                raise NotebookError(f"{where}, line {lineno}: nested BEGIN SOLUTION (the region opened on "
                                    f"line {open_at} is not closed); add the missing END SOLUTION")
            open_at, indent = lineno, b["indent"]
            if code:
                hint = re.sub(r"^hint:\s*", "", b["rest"].strip(), flags=re.IGNORECASE)
                message = hint or f"{exercise}: replace this line with your code"
                out += [f"{indent}# YOUR CODE HERE",
                        f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"]
            else:
                out.append(indent + MARKDOWN_ANSWER)
        elif e:
            if open_at is None:
                raise NotebookError(f"{where}, line {lineno}: END SOLUTION without a BEGIN SOLUTION; "
                                    "add the BEGIN marker or delete this line")
            open_at = None
        elif open_at is not None:
            removed.append(line)
        else:
            out.append(line)
    if open_at is not None:
        raise NotebookError(f"{where}, line {open_at}: BEGIN SOLUTION is never closed; add END SOLUTION")
    return "\n".join(out), removed


def _check_python(source: str, where: str) -> None:
    """Raise NotebookError when ``source`` (IPython ``%``/``!`` lines ignored) is not valid Python."""
    if source.lstrip().startswith("%%"):
        return  # a cell magic: the body need not be Python
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in source.split("\n")]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as err:
        raise NotebookError(f"{where}: the student version is not valid Python ({err.msg}, line {err.lineno}); "
                            "put BEGIN/END SOLUTION around whole statements, preferably inside a function body")


def _enclosing_function(source: str) -> str | None:
    """Name of the last ``def`` before the first BEGIN marker in a cell (names the exercise)."""
    name = None
    for line in source.split("\n"):
        if _CODE_BEGIN.match(line):
            return name
        m = _DEF.match(line)
        name = m["name"] if m else name
    return None


# ----------------------------------------------------------------------------- student notebooks
def _solution_regions(solution, lab: str, filename: str):
    """Yield (index, cell, student source, removed lines) for every cell of a solution notebook."""
    exercise = 0
    for index, cell in enumerate(solution.cells):
        where = f"{filename}, cell {index}"
        if cell.cell_type not in ("code", "markdown"):
            yield index, cell, cell.source, []
            continue
        func = _enclosing_function(cell.source) if cell.cell_type == "code" else None
        label = f"{lab} exercise {exercise + 1}" + (f" ({func})" if func else "")
        exercise += cell.source.count("BEGIN SOLUTION")
        source, removed = strip_solution(cell.source, cell.cell_type, where, label)
        if cell.cell_type == "code" and source != cell.source:
            _check_python(source, where)
        yield index, cell, source, removed


def make_student(solution, root: str | Path, name: str):
    """Return (student notebook, removed solution lines) built from the ``solution`` notebook of ``name``."""
    sol_path, stu_path = lab_paths(root, name)
    solution = fill(solution)  # prose placeholders get the values of the solution's stored run
    student = copy.deepcopy(solution)
    student.metadata.pop("labkit", None)
    removed_all: list[str] = []
    for index, cell, source, removed in _solution_regions(solution, sol_path.stem[: -len("_solution")], sol_path.name):
        target = student.cells[index]
        target.source = source
        removed_all += removed
        if target.cell_type == "code":
            target.outputs, target.execution_count = [], None
    for cell in student.cells:
        cell.metadata.pop("execution", None)  # timestamps of the solution's last run: noise in a student copy
    student = apply_colab_header(student, *colab_header_sources(root, stu_path.name))
    solution_sha = sha256(json.dumps([[c.cell_type, c.source] for c in solution.cells], ensure_ascii=False))
    student.metadata["labkit"] = {"generated_from": sol_path.name, "solution_sha256": solution_sha,
                                  "student_sha256": _student_sha(student)}
    return student, removed_all


def _student_sha(nb) -> str:
    """sha256 of the notebook text without its ``labkit`` metadata."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("labkit", None)
    return sha256(dumps(nb))


def generate_student(root: str | Path, name: str, force: bool = False) -> str:
    """Write ``NN_name_student.ipynb`` from its solution; return "written" or "unchanged".

    Raises NotebookError when the student file was edited by hand (unless ``force``).
    """
    sol_path, stu_path = lab_paths(root, name)
    if not sol_path.is_file():
        raise NotebookError(f"{sol_path}: no such solution notebook; known labs: {', '.join(list_labs(root))}")
    text = dumps(make_student(read(sol_path), root, name)[0])
    if stu_path.exists():
        if stu_path.read_text(encoding="utf-8") == text:
            return "unchanged"
        current = read(stu_path)
        recorded = current.metadata.get("labkit", {}).get("student_sha256")
        if not force and recorded is None:
            raise NotebookError(f"{stu_path}: has no labkit metadata (not generated by this tool); move any "
                                f"edits into {sol_path.name}, then re-run with --force to overwrite it")
        if not force and recorded != _student_sha(current):
            raise NotebookError(f"{stu_path}: was edited by hand since it was generated; move your edits into "
                                f"{sol_path.name}, then re-run with --force to overwrite it")
    atomic_write(stu_path, text)
    return "written"


def generate_students(root: str | Path, names: list[str] | None = None,
                      force: bool = False) -> list[tuple[str, Path, str]]:
    """Run :func:`generate_student` for ``names`` (default: all labs); [(status, path, message)]."""
    results = []
    for name in names or list_labs(root):
        path = lab_paths(root, name)[1]
        try:
            results.append((generate_student(root, name, force), path, ""))
        except NotebookError as err:
            results.append(("refused", path, str(err)))
    return results


# ----------------------------------------------------------------------------- checks
def check_notebooks(root: str | Path) -> list[str]:
    """Every problem found in ``root/notebooks`` (drift, leaks, outputs, header, parameters); [] if fine."""
    root = Path(root)
    problems: list[str] = []
    labs = list_labs(root)
    for path in sorted((root / "notebooks").glob("*" + STUDENT_SUFFIX)):
        if path.name[: -len(STUDENT_SUFFIX)] not in labs:
            problems.append(f"{path}: student notebook without a {SOLUTION_SUFFIX} source; delete it or add one")
    for name in labs:
        sol_path, stu_path = lab_paths(root, name)
        try:
            solution = read(sol_path)
            expected, removed = make_student(solution, root, name)
            if not header_current(solution, *colab_header_sources(root, sol_path.name)):
                problems.append(f"{sol_path}: Colab header cells missing or out of date; "
                                "run python -m labkit colab")
        except NotebookError as err:
            problems.append(str(err))
            continue
        if not any(PARAMETERS_TAG in tags(c) for c in solution.cells):
            problems.append(f"{sol_path}: no cell tagged 'parameters'; tag the cell holding SMOKE, EPOCHS, ...")
        problems += (hint_problems(solution, sol_path.name) + prose_problems(solution, sol_path.name)
                     + checked_output_problems(solution, sol_path.name))
        if not stu_path.is_file():
            problems.append(f"{stu_path}: missing; run python -m labkit student {name}")
            continue
        student = read(stu_path)
        problems += [f"{stu_path}: {p}" for p in _student_problems(student, expected, removed, root)]
        if (root / "labhelpers" / "checks").is_dir():  # a kit tree: its checks' stored answers must be current
            from .expected import expected_problem
            problems += [p for p in [expected_problem(root, name)] if p]
    return problems


def checked_output_problems(solution, filename: str) -> list[str]:
    """Checked cells (# NBVAL_CHECK_OUTPUT) whose stored outputs depend on the kernel's matplotlib backend."""
    return [f"{filename}, cell {index}: a # NBVAL_CHECK_OUTPUT cell stores a {out.output_type} output (a figure is "
            "shown by the inline backend but not under MPLBACKEND=Agg); move the plot into its own unchecked cell"
            for index, cell in enumerate(solution.cells)
            if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source
            for out in cell.get("outputs", [])
            if out.output_type != "stream" and set(out.get("data", {})) - {"text/plain"}]


def hint_problems(solution, filename: str) -> list[str]:
    """Exercises whose hint or stub comments repeat more than HINT_MAX_RUN tokens of the solution in a row."""
    problems = []
    for index, cell in enumerate(solution.cells):
        if cell.cell_type != "code" or "BEGIN SOLUTION" not in cell.source:
            continue
        for region in regions(index, cell.source):
            run, shared = hint_overlap(region)
            if run > HINT_MAX_RUN:
                problems.append(f"{filename}, cell {index} ({region.function}): the hint or the stub's comments repeat "
                                f"{run} tokens of the solution in a row ({' '.join(shared)!r}); a hint points to the "
                                f"concept, the shape or the slide ({HINT_MAX_RUN} tokens at most)")
    return problems


def _student_problems(student, expected, removed: list[str], root: Path) -> list[str]:
    """Problems of one committed student notebook compared with the ``expected`` one."""
    problems = []
    if dumps(student) != dumps(expected):
        problems.append("differs from what the generator produces (drift); run "
                        "python -m labkit student (add --force to discard hand edits)")
    allowed = {line.strip() for cell in expected.cells for line in cell.source.split("\n")}
    leaks = {line.strip() for line in removed if len(line.strip()) > LEAK_MIN_CHARS} - allowed
    for index, cell in enumerate(student.cells):
        if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
            problems.append(f"cell {index} contains a solution marker")
        for line in sorted(leak for leak in leaks if leak in cell.source):
            problems.append(f"cell {index} leaks solution text {line!r}")
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problems.append(f"cell {index} has outputs or an execution count; clear them")
    if not any(PARAMETERS_TAG in tags(c) for c in student.cells):
        problems.append("no cell tagged 'parameters'")
    filename = expected.metadata["labkit"]["generated_from"].replace(SOLUTION_SUFFIX, STUDENT_SUFFIX)
    if not header_current(student, *colab_header_sources(root, filename)):
        problems.append("Colab header cells missing or out of date; run python -m labkit student")
    return problems
