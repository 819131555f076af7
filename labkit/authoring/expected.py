"""Record the public expected values of the self-checks by running the solution notebook (authoring).

``labhelpers/checks/expected/<lab>.json`` holds the solution's answers to the fixed public cases of
the lab's self-checks that cannot compare with a library routine (:mod:`labhelpers.checks.store`).
They are made here, from the solution notebook itself: it runs in smoke mode with recording switched
on (a cell after the parameters cell), its own check cells hand the solution's answers to the store,
and a last cell writes them. ``python -m labkit student`` re-records a lab whose code or check module changed;
``python -m labkit check`` reports a file that is missing or older than its solution or its checks.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat

from labhelpers.files import atomic_write
from labhelpers.selfcheck import inject_parameters, local_kernel, smoke_parameters

from .nbfiles import NotebookError, lab_paths, read, sha256

EXPECTED_DIR = Path("labhelpers") / "checks" / "expected"
RECORD_TAG = "record-expected"


def code_sha256(nb) -> str:
    """sha256 of the notebook's code cells (what the recorded answers depend on; prose does not count)."""
    return sha256(json.dumps([c.source for c in nb.cells if c.cell_type == "code"], ensure_ascii=False))


def check_module_sha256(root: str | Path, name: str) -> str:
    """sha256 of the lab's public check module (its cases decide what is recorded), "" if it has none."""
    lab = lab_paths(root, name)[0].name[: -len("_solution.ipynb")]
    path = Path(root) / "labhelpers" / "checks" / f"{lab.split('_', 1)[1]}.py"
    return sha256(path.read_text(encoding="utf-8")) if path.is_file() else ""


def expected_path(root: str | Path, name: str) -> Path:
    """``root/labhelpers/checks/expected/<lab>.json``."""
    return Path(root) / EXPECTED_DIR / f"{lab_paths(root, name)[0].name[: -len('_solution.ipynb')]}.json"


def expected_problem(root: str | Path, name: str) -> str | None:
    """Why the stored expected values of lab ``name`` are not current (None when they are)."""
    path = expected_path(root, name)
    if not path.is_file():
        return f"{path}: missing; run python -m labkit student {name}"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return f"{path}: not valid JSON; run python -m labkit student {name}"
    if recorded.get("code_sha256") != code_sha256(read(lab_paths(root, name)[0])):
        return f"{path}: older than the solution's code; run python -m labkit student {name}"
    if recorded.get("checks_sha256") != check_module_sha256(root, name):
        return f"{path}: older than the lab's check module; run python -m labkit student {name}"
    return None


def _recording_notebook(solution, results_dir: str, out_json: str):
    """The solution with smoke parameters, recording switched on after them, and a last cell saving it."""
    nb = inject_parameters(solution, smoke_parameters(results_dir))
    start = nbformat.v4.new_code_cell("import labhelpers.checks.store as _store\n_store.start_recording()",
                                      metadata={"tags": [RECORD_TAG]})
    save = nbformat.v4.new_code_cell(f"_store.save_recording({out_json!r})", metadata={"tags": [RECORD_TAG]})
    position = next(i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", []))
    nb.cells.insert(position + 1, start)
    nb.cells.append(save)
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = min(nb.nbformat_minor, 4)
    return nb


def record_answers(root: str | Path, name: str, timeout: int = 900) -> dict:
    """Run the solution of lab ``name`` in smoke mode with recording on; the recorded data (not written)."""
    from nbclient import NotebookClient
    root = Path(root).resolve()
    solution_path = lab_paths(root, name)[0]
    lab = solution_path.name[: -len("_solution.ipynb")]
    solution = read(solution_path)
    with tempfile.TemporaryDirectory(prefix="labkit-record-") as tmp:
        out_json = str(Path(tmp) / "recorded.json")
        nb = _recording_notebook(solution, str(Path(tmp) / "results"), out_json)
        try:
            with local_kernel() as km:
                NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=False,
                               resources={"metadata": {"path": str(root)}}).execute()
        except Exception as err:  # nbclient raises CellExecutionError and others
            raise NotebookError(f"{solution_path.name}: the solution failed while its answers were recorded: "
                                f"{str(err)[-800:]}") from None
        data = json.loads(Path(out_json).read_text(encoding="utf-8"))
    if data.get("lab") not in ("", lab):
        raise NotebookError(f"{solution_path.name}: its checks recorded answers of lab {data['lab']!r}; each lab "
                            "imports only its own check module")
    data.update(lab=lab, generated_from=solution_path.name, code_sha256=code_sha256(solution),
                checks_sha256=check_module_sha256(root, name))
    return data


def record_expected(root: str | Path, name: str, timeout: int = 900) -> Path:
    """Record lab ``name``'s public expected values and write them; the file written."""
    data = record_answers(root, name, timeout)
    path = expected_path(root, name)
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path
