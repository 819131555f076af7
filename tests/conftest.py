"""Session-wide guard: the tests never touch what the main job (``make run``) wrote into results/.

At the start of the session every file under results/ (except results/smoke/, the tests' own folder)
is hashed, and a sentinel figure is planted in each lab's figure folder (where ``figure_dir`` would
delete it if a test run used the main job's folder). ``tests/notebooks/test_notebooks.py::
test_main_job_outputs_are_untouched`` compares; the sentinels are removed when the session ends.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
OWN = RESULTS / "smoke"
SENTINEL = "zz-labkit-test-sentinel.png"
STATE: dict = {}


def snapshot() -> dict[str, str]:
    """sha256 of every file under results/ that is not the tests' own (results/smoke/)."""
    if not RESULTS.is_dir():
        return {}
    return {str(p.relative_to(RESULTS)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(RESULTS.rglob("*")) if p.is_file() and OWN not in p.parents}


def pytest_sessionstart(session):
    labs = sorted(p.name[: -len("_solution.ipynb")] for p in (ROOT / "notebooks").glob("*_solution.ipynb"))
    planted = []
    for lab in labs:
        sentinel = RESULTS / "figures" / lab / SENTINEL
        if not sentinel.exists():
            sentinel.parent.mkdir(parents=True, exist_ok=True)
            sentinel.write_bytes(b"a figure of an earlier main run: tests must not delete it")
            planted.append(sentinel)
    STATE["planted"] = planted
    STATE["before"] = snapshot()


def pytest_sessionfinish(session, exitstatus):
    for sentinel in STATE.get("planted", []):
        sentinel.unlink(missing_ok=True)
        folder = sentinel.parent
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


@pytest.fixture
def main_job_outputs():
    """(the snapshot taken when the session started, the function that takes a new one)."""
    return STATE["before"], snapshot
