"""Read one submitted notebook safely: size cap, hash, JSON/notebook checks, lab check, cells (grading).

The file is read once, as bytes, and never written; its sha256 goes into the report. The code cells
to run are every code cell in notebook order (deleting, reordering or renaming cells changes nothing
the grader relies on), with the lab's grading parameters injected after the "parameters" cell.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from labhelpers.selfcheck import parameters_position, parameters_source

from .spec import LabTests

MAX_BYTES = 20 * 2**20
MAX_CELLS = 1000          # a lab has 60-120 cells; 1,000 parse in about a second (nbformat validates each)
MAX_CELL_CHARS = 200_000  # characters of one cell's source (the longest lab cell has about 3,000)


class Rejected(Exception):
    """The submission cannot be run; the message is the reason shown to the student."""


@dataclass
class Submission:
    """A submitted file, its bytes' hash and (when it is a usable notebook) its code cells."""

    path: Path
    name: str                    # safe file stem used for the output files
    size: int = 0
    sha256: str = ""
    data: bytes = b""
    cells: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # "cell 7" (position in the notebook, from 1)


RESERVED = {"grade_report", "gradebook", "canvas", "moodle", "report", "similarity", "regrade_diff", "regrade",
            "gradescope", "feedback", "output", "records", "policy", "roster", "history", "merge_report"}  # the batch's own file names


def safe_name(path: Path, taken: set[str]) -> str:
    """A file-system- and CSV-safe stem for ``path`` that is not yet in ``taken`` (then added) and is never the
    name of one of the batch's own files (``grade_report.ipynb`` becomes ``submission-grade_report``)."""
    return safe_stem(path.stem, taken)


def safe_stem(text: str, taken: set[str]) -> str:
    """:func:`safe_name` for a stem given as text (any characters: unicode, spaces, separators, newlines)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "submission"
    if stem.lower() in RESERVED:
        stem = f"submission-{stem}"
    name, n = stem[:80], 2
    while name.lower() in taken:
        name, n = f"{stem[:80]}-{n}", n + 1
    taken.add(name.lower())
    return name


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> tuple[bytes, int, str]:
    """(content, size, sha256 of the whole file) reading at most ``max_bytes`` + 1 bytes into memory."""
    digest, kept, size = hashlib.sha256(), b"", 0
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if size <= max_bytes + 1:
                kept += chunk
    return kept[: max_bytes + 1], size, digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file (used again at the end: the originals must be unchanged)."""
    return read_bytes(path, 0)[2]


def parse_notebook(data: bytes, max_bytes: int = MAX_BYTES) -> dict:
    """The notebook as a dict (nbformat 4), or Rejected with a clear reason."""
    if not data:
        raise Rejected("the file is empty (0 bytes): submit the saved .ipynb notebook")
    if len(data) > max_bytes:
        raise Rejected(f"the file is larger than {max_bytes // 2**20} MiB: clear the outputs "
                       "(Edit > Clear all outputs), save and submit again")
    try:
        text = data.decode("utf-8")
        raw = json.loads(text)
    except UnicodeDecodeError:
        raise Rejected("the file is not text (UTF-8): it is not a Jupyter notebook") from None
    except (ValueError, RecursionError) as err:
        raise Rejected(f"the file is not valid JSON ({str(err)[:120]}): it is not a saved Jupyter notebook") from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Rejected("the file is JSON but not a Jupyter notebook (no cells)")
    cells = raw.get("cells") if isinstance(raw.get("cells"), list) else []
    if len(cells) > MAX_CELLS:
        raise Rejected(f"the notebook has {len(cells):,} cells, more than the {MAX_CELLS:,} the grader runs: delete "
                       "the empty or extra cells, save and submit again")
    longest = max((len(_source(c)) for c in cells if isinstance(c, dict)), default=0)
    if longest > MAX_CELL_CHARS:
        raise Rejected(f"one cell has {longest:,} characters, more than the {MAX_CELL_CHARS:,} the grader reads: "
                       "remove the pasted data or output from it, save and submit again")
    try:  # nbformat.reads without its schema validation: it only ever warned, and cost 0.15 s a notebook
        import nbformat
        from nbformat import reader
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.convert(reader.reads(text), 4)
    except Exception as err:  # nbformat raises many kinds of errors on malformed notebooks
        raise Rejected(f"the file is not a readable Jupyter notebook ({type(err).__name__})") from None
    if not isinstance(nb.get("cells"), list):
        raise Rejected("the notebook has no list of cells")
    return nb


def check_lab(nb: dict, tests: LabTests) -> None:
    """Rejected when the notebook says it belongs to another lab, or defines none of the exercises."""
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    labkit = metadata.get("labkit") if isinstance(metadata.get("labkit"), dict) else {}
    source = str(labkit.get("generated_from", ""))
    lab_of_file = re.sub(r"_(solution|student)\.ipynb$", "", source)
    if source and lab_of_file != tests.lab:
        raise Rejected(f"wrong lab: this notebook is {lab_of_file}, but lab {tests.lab} is being graded")
    names = [ex.function for ex in tests.exercises]
    defined = {_defined_name(line) for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"
               for line in _source(c).split("\n")}
    if not defined & set(names):
        raise Rejected(f"none of this lab's exercise functions ({', '.join(names)}) is defined: "
                       f"is this the notebook of lab {tests.lab}?")


_DEFINITION = re.compile(r"(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)")


def _defined_name(line: str) -> str | None:
    """The name a line defines (``def name`` / ``class name`` / ``async def name``), else None. One line at
    a time, a regular expression without nested repetition: linear in the notebook's size."""
    match = _DEFINITION.match(line.lstrip(" \t"))
    return match.group(1) if match else None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def code_cells(nb: dict, parameters: dict) -> tuple[list[str], list[str]]:
    """(sources, labels) of every code cell, with ``parameters`` injected after the parameters cell
    (or after the cell that sets SMOKE when the tag was removed, else first)."""
    cells, labels = [], []
    position = parameters_position([c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"])
    for number, cell in enumerate(nb["cells"], start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cells.append(_source(cell))
            labels.append(f"cell {number}")
    if parameters:
        at = -1 if position is None else position
        cells.insert(at + 1, parameters_source(parameters, "# Parameters injected by the grader"))
        labels.insert(at + 1, "grader parameters")
    return cells, labels


def load_submission(path: Path, name: str, tests: LabTests, max_bytes: int = MAX_BYTES) -> Submission:
    """Read, hash and check ``path``; the returned Submission has its cells, or Rejected is raised
    (the Submission with size and hash is attached to the exception as ``.submission``)."""
    submission = Submission(path, name)
    try:
        if path.is_symlink() or not path.is_file():
            raise Rejected("not a regular file (a link or a folder): not graded")
        submission.data, submission.size, submission.sha256 = read_bytes(path, max_bytes)
        if submission.size > max_bytes:
            raise Rejected(f"the file is larger than {max_bytes // 2**20} MiB: clear the outputs "
                           "(Edit > Clear all outputs), save and submit again")
        nb = parse_notebook(submission.data, max_bytes)
        check_lab(nb, tests)
        submission.cells, submission.labels = code_cells(nb, tests.parameters)
        submission.data = b""  # the cells are kept; the bytes are not needed any more
    except Rejected as err:
        err.submission = submission
        raise
    except OSError as err:
        rejected = Rejected(f"the file could not be read ({err.strerror})")
        rejected.submission = submission
        raise rejected from None
    return submission
