"""Execute lab notebooks: every solution at full or smoke settings, students with errors allowed.

Used by ``make run`` (``python -m labkit run``), ``make outputs`` (``--inplace``)
and the notebook tests. Notebooks run with the repository root as working directory, so their
paths (``data/...``, ``RESULTS_DIR``) are the same here, in CI and in Colab. Smoke runs (tests, CI)
write into ``results/smoke/`` (their ``RESULTS_DIR``), never into what ``make run`` made.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat

from .nbfiles import atomic_write, dumps, lab_paths, list_labs
from .prose import fill
from labhelpers.selfcheck import inject_parameters, local_kernel, smoke_parameters

SMOKE_RESULTS = "results/smoke"  # where smoke runs (tests, CI) write: never make run's results/
CELL_TIMEOUT = 900  # seconds per cell


def run_cells(nb, root: Path, allow_errors: bool, timeout: int) -> None:
    """Execute ``nb`` in place in a local kernel (IPC channels), working in ``root``."""
    from nbclient import NotebookClient
    with local_kernel() as km:
        NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                       resources={"metadata": {"path": str(root)}}).execute()


def execute_solution(root: Path, name: str, out_path: Path | None, parameters: dict | None = None,
                     timeout: int = CELL_TIMEOUT) -> float:
    """Run a solution notebook with papermill (parameters injected); return the seconds it took."""
    import papermill
    solution, _ = lab_paths(root, name)
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with local_kernel() as km:
        papermill.execute_notebook(str(solution), str(out_path) if out_path else None,
                                   parameters=parameters or {}, cwd=str(root), kernel_name="python3",
                                   progress_bar=False, execution_timeout=timeout, km=km)
    seconds = time.perf_counter() - start
    if out_path is not None:  # the executed copy's prose says what this run printed
        atomic_write(Path(out_path), dumps(fill(nbformat.read(out_path, as_version=4))))
    return seconds


def execute_inplace(root: Path, name: str, timeout: int = CELL_TIMEOUT) -> float:
    """Re-run a solution notebook at its own settings and store the fresh outputs in it."""
    solution, _ = lab_paths(root, name)
    nb = nbformat.read(solution, as_version=4)
    start = time.perf_counter()
    run_cells(nb, root, allow_errors=False, timeout=timeout)
    atomic_write(solution, dumps(nb), allow_solution=True)
    return time.perf_counter() - start


def execute_student(root: Path, name: str, parameters: dict | None = None,
                    timeout: int = CELL_TIMEOUT) -> tuple[nbformat.NotebookNode, float]:
    """Run a student notebook top to bottom, errors allowed; return the executed notebook and seconds."""
    _, student = lab_paths(root, name)
    nb = nbformat.read(student, as_version=4)
    if parameters:
        nb = inject_parameters(nb, parameters)
    start = time.perf_counter()
    run_cells(nb, root, allow_errors=True, timeout=timeout)
    return nb, time.perf_counter() - start


def cell_errors(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """(cell index, exception name, message) for every error output in an executed notebook."""
    return [(i, out.get("ename", ""), out.get("evalue", ""))
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def record_timings(path: Path, timings: dict[str, float]) -> None:
    """Merge {lab: seconds} into a JSON file (results/timings-full.json; smoke runs: results/smoke/)."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.update({k: round(v, 1) for k, v in timings.items()})
    atomic_write(path, json.dumps(dict(sorted(data.items())), indent=2) + "\n")


def run_all(root: Path, out_dir: Path | None, smoke: bool = False, inplace: bool = False,
            names: list[str] | None = None) -> dict[str, float]:
    """Execute every (or the named) solution notebook; print and record each lab's time."""
    timings = {}
    for name in names or list_labs(root):
        if inplace:
            seconds = execute_inplace(root, name)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            seconds = execute_solution(root, name, out_dir / f"{name}.ipynb",
                                       smoke_parameters(SMOKE_RESULTS) if smoke else None)
        timings[name] = seconds
        print(f"{name:<32} {seconds:7.1f} s", flush=True)
    record_timings(root / (SMOKE_RESULTS + "/timings.json" if smoke else "results/timings-full.json"), timings)
    return timings
