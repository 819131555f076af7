"""Student self-check: re-run a lab notebook top to bottom in a fresh kernel, as the grader does (all labs).

The last cell of every lab calls :func:`run_all_checks`. It reads the saved notebook, reports cells
run out of order, re-runs a copy from the first cell in a new kernel (quick settings, SMOKE=True),
and lists what would fail: answers still missing (NotImplementedError), errors, failing checks.
Inside that fresh run, and inside the grader, the call does nothing (no endless recursion).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

SKIP_ENV = ("LABKIT_SELFCHECK", "LABKIT_GRADING")
SMOKE_PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}  # CI, the grader and this self-check
PARAMETERS_TAG, INJECTED_TAG = "parameters", "injected-parameters"
_VERDICT = re.compile(r"^\[(FAIL|TODO)\].*$", re.MULTILINE)
_SMOKE_LINE = re.compile(r"^SMOKE[ \t]*=", re.MULTILINE)


@contextlib.contextmanager
def local_kernel(kernel_name: str = "python3"):
    """A kernel manager for a notebook run on this machine: on Linux and macOS its channels are local sockets
    (IPC) in a private folder, so the kernel has no TCP port to warn about ("running over TCP without
    encryption"); elsewhere the default. The kernel is shut down when the block ends."""
    from jupyter_client.manager import KernelManager
    with tempfile.TemporaryDirectory(prefix="labkit-kernel-") as folder:
        if os.name == "posix":
            km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(folder, "kernel"))
        else:
            km = KernelManager(kernel_name=kernel_name)
        try:
            yield km
        finally:
            if km.has_kernel and km.is_alive():
                km.shutdown_kernel(now=False)


def smoke_parameters(results_dir: str | None = None) -> dict:
    """The quick settings every non-interactive run uses, writing into ``results_dir`` when given
    (so a test, a self-check or a recording never overwrites what a full run saved in results/)."""
    return {**SMOKE_PARAMETERS, **({"RESULTS_DIR": str(results_dir)} if results_dir else {})}


def parameters_source(params: dict, comment: str = "# Parameters") -> str:
    """The code of a cell that sets ``params`` (names must be identifiers, values Python literals)."""
    bad = [key for key in params if not str(key).isidentifier()]
    if bad:
        raise ValueError(f"parameter names {bad} are not Python identifiers; use names like SMOKE or EPOCHS")
    return "\n".join([comment] + [f"{key} = {value!r}" for key, value in params.items()])


def _tags(cell: Any) -> list:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
    return tags if isinstance(tags, list) else []


def _source(cell: Any) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source)


def parameters_position(cells: list) -> int | None:
    """Index of the cell tagged "parameters", else of the first code cell that sets SMOKE, else None."""
    tagged = [i for i, c in enumerate(cells) if PARAMETERS_TAG in _tags(c)]
    if tagged:
        return tagged[0]
    return next((i for i, c in enumerate(cells) if isinstance(c, dict) and c.get("cell_type") == "code"
                 and _SMOKE_LINE.search(_source(c))), None)


def inject_parameters(nb: Any, params: dict, comment: str = "# Parameters") -> Any:
    """A copy of ``nb`` with a code cell tagged "injected-parameters" right after its parameters cell,
    as papermill does (an earlier injected cell is replaced); ValueError when there is no such cell."""
    import copy

    import nbformat
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if INJECTED_TAG not in _tags(c)]
    position = parameters_position(nb["cells"])
    if position is None:
        raise ValueError("the notebook has no cell tagged 'parameters'; tag the cell that holds SMOKE, EPOCHS, ...")
    cell = nbformat.v4.new_code_cell(parameters_source(params, comment), metadata={"tags": [INJECTED_TAG]})
    if nb.get("nbformat_minor", 4) >= 5:
        cell["id"] = INJECTED_TAG
    else:
        cell.pop("id", None)
    nb["cells"].insert(position + 1, cell)
    return nb


def _current_notebook() -> tuple[dict, str]:
    """(notebook dict, description) of the notebook this kernel belongs to, from Colab, VS Code or Jupyter."""
    try:
        from google.colab import _message  # type: ignore[import-not-found]
        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=60)
        return reply["ipynb"], "this Colab notebook (as currently shown)"
    except ImportError:
        pass
    import __main__
    candidates = [getattr(__main__, "__vsc_ipynb_file__", None), os.environ.get("JPY_SESSION_NAME")]
    for name in filter(None, candidates):
        for path in (Path(name), Path.cwd() / name, Path.cwd() / "notebooks" / Path(name).name, Path(name).name):
            if Path(path).is_file() and str(path).endswith(".ipynb"):
                return json.loads(Path(path).read_text(encoding="utf-8")), f"{path} (as saved: save first!)"
    raise ValueError("cannot tell which notebook this is; pass its path, e.g. "
                     "run_all_checks('notebooks/01_cnn_arithmetic_student.ipynb')")


def order_problems(nb: dict) -> list[str]:
    """Cells whose saved execution counts show they were run out of order or not at all."""
    counts = [(i, c.get("execution_count")) for i, c in enumerate(nb.get("cells", []), start=1)
              if c.get("cell_type") == "code" and "".join(c.get("source", "")).strip()]
    ran = [(i, n) for i, n in counts if n is not None]
    if not ran:
        return []
    problems = []
    for (i, n), (j, m) in zip(ran, ran[1:]):
        if m <= n:
            problems.append(f"cell {j} (In [{m}]) was run before cell {i} (In [{n}]) above it: out of order")
    skipped = [i for i, n in counts if n is None and i < ran[-1][0]]
    if skipped:
        problems.append(f"cells {', '.join(map(str, skipped[:10]))} were never run, but cells below them were")
    return problems


def _run_fresh(nb: dict, cwd: Path, timeout: int, kernel_name: str, parameters: dict | None) -> Any:
    """Execute a copy of ``nb`` in a new kernel (errors allowed), ``parameters`` set right after the
    cell tagged "parameters" (like the grader); the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    node = nbformat.reads(json.dumps(nb), as_version=4)
    if parameters:
        try:
            node = inject_parameters(node, parameters)
        except ValueError:  # the tag was removed: set the parameters first
            node.cells.insert(0, nbformat.v4.new_code_cell(parameters_source(parameters),
                                                           metadata={"tags": [INJECTED_TAG]}))
    for cell in node.cells:
        cell.pop("id", None)
    node.nbformat_minor = min(node.get("nbformat_minor", 4), 4)
    previous = os.environ.get("LABKIT_SELFCHECK")
    os.environ["LABKIT_SELFCHECK"] = "1"  # the fresh kernel inherits it: its own last cell does nothing
    try:
        with local_kernel(kernel_name) as km:
            NotebookClient(node, km=km, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                           resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        if previous is None:
            del os.environ["LABKIT_SELFCHECK"]
        else:
            os.environ["LABKIT_SELFCHECK"] = previous
    return node


def run_problems(executed: Any) -> list[str]:
    """What failed in an executed notebook: missing answers, errors, failing checks."""
    problems, number = [], 0
    for cell in executed.cells:
        if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        number += 1
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                if out.get("ename") == "NotImplementedError":
                    problems.append(f"cell {number}: answer missing (still raises NotImplementedError)")
                else:
                    problems.append(f"cell {number}: {out.get('ename')}: {str(out.get('evalue'))[:200]}")
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            problems += [f"cell {number}: {m.group(0).strip()[:200]}" for m in _VERDICT.finditer(text)]
    return problems


def run_all_checks(notebook_path: str | Path | None = None, *, smoke: bool = True, timeout: int = 600,
                   kernel_name: str = "python3") -> bool:
    """Re-run the notebook top to bottom in a fresh kernel and print what would fail; True if nothing.

    ``notebook_path``: the .ipynb to check (default: this notebook: Colab, VS Code or Jupyter).
    ``smoke``: run with the quick settings (SMOKE=True, offline data), as the grader does.
    """
    if any(os.environ.get(name) for name in SKIP_ENV):
        print("(self-check skipped: this is already a fresh run)")
        return True
    if notebook_path is not None:
        path = Path(notebook_path)
        if not path.is_file():
            raise ValueError(f"{path} does not exist; pass the path of your .ipynb (relative to {Path.cwd()})")
        nb, label = json.loads(path.read_text(encoding="utf-8")), str(path)
    else:
        nb, label = _current_notebook()
    cwd = Path.cwd() if (Path.cwd() / "labhelpers").is_dir() or (Path.cwd() / "data").is_dir() else Path.cwd().parent
    print(f"Checking {label}: re-running it top to bottom in a fresh kernel (this takes a minute) ...")
    problems = [f"order: {p}" for p in order_problems(nb)]
    with tempfile.TemporaryDirectory(prefix="labkit-selfcheck-") as results_dir:  # never your results/
        parameters = smoke_parameters(results_dir) if smoke else {"RESULTS_DIR": results_dir}
        executed = _run_fresh(nb, cwd, timeout, kernel_name, parameters)
    problems += run_problems(executed)
    if not problems:
        print("All good: the notebook runs top to bottom and every check passes.")
        return True
    print(f"{len(problems)} problem(s) the grader would also see:")
    for problem in problems:
        print("  -", problem)
    return False
