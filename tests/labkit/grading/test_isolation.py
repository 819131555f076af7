"""Isolation between submissions (labkit.grading.sandbox, cgroups): no submission can hurt another, talk to one
in a later batch, or leave anything behind on the host.

A tiny lab of its own (one exercise, ``double``) keeps this fast: no torch in the sandboxes.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.grading.batch import grade_folder
from labkit.grading.sandbox import UID_BASE

ROOT = Path(__file__).resolve().parents[3]
SPEC = '''
from labkit.grading.spec import Call, Exercise
LAB = "99_isolation"
PARAMETERS = {}
LIMITS = {"cell_timeout": 60, "notebook_timeout": 120, "call_timeout": 20}
EXERCISES = [Exercise("double", 2, "return twice x", lambda rng: [Call((int(rng.integers(1, 1000)),), label="x")],
                      lambda x: 2 * x, atol=0, rtol=0)]
'''
HONEST = "def double(x):\n    return 2 * x\n"
SHM = '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY, IPC_CREAT = 0x4C41424B, 0o1000
'''
WRITER = SHM + '''
segment = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
if segment >= 0:
    ctypes.memmove(libc.shmat(segment, None, 0), b"2", 1)   # "the answer is x times 2", for the next batch
''' + HONEST
READER = SHM + '''
segment = libc.shmget(KEY, 4096, 0o666)
factor = int(ctypes.string_at(libc.shmat(segment, None, 0), 1)) if segment >= 0 else 0

def double(x):
    return factor * x        # right only with what another submission left in shared memory
'''
AFFINITY = '''
import os
before = len(os.sched_getaffinity(0))
try:
    os.sched_setaffinity(0, set(range(os.cpu_count())))   # try to widen the CPUs the grader gave
except OSError:
    pass
widened = len(os.sched_getaffinity(0)) > before

def double(x):
    return 0 if widened else 2 * x
'''
HOG = '''
import os
for _ in range(3):                      # forked children, each with its own address space
    if os.fork() == 0:
        hoard = [b"x" * 2**30 for _ in range(3)]
        os._exit(0)
try:
    with open("/tmp/filler", "wb") as fp:   # and a RAM-backed /tmp filled up
        for _ in range(2048):
            fp.write(b"x" * 2**20)
except OSError:
    pass
for _ in range(3):
    try:
        os.wait()
    except ChildProcessError:
        break
''' + HONEST


def _notebook(path: Path, *cells: str) -> None:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["labkit"] = {"generated_from": "99_isolation_student.ipynb"}
    nbformat.write(nb, path)


def _status(pid: str) -> dict[str, str]:
    try:
        return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    except OSError:
        return {}


def _ours_or_orphaned(pid: str) -> bool:
    """True when a process descends from this test process, or was left to init (ppid 1): another grader's
    sandboxes (other tests running at the same time) are neither."""
    if _status(pid).get("PPid", "0").strip() == "1":
        return True
    for _ in range(64):
        pid = _status(pid).get("PPid", "0").strip()
        if pid == str(os.getpid()):
            return True
        if pid in ("0", "1", ""):
            return False
    return False


def _host_state() -> dict:
    shm = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    keys = sorted(line.split()[0] for line in shm)
    sandbox_procs = sorted(p.name for p in Path("/proc").iterdir() if p.name.isdigit()
                           and int(_status(p.name).get("Uid", "0").split()[0]) >= UID_BASE and _ours_or_orphaned(p.name))
    cgroups = sorted(str(p) for p in Path("/sys/fs/cgroup").glob(f"**/labkit-{os.getpid()}-*"))
    return {"shm_keys": keys, "sandbox_processes": sandbox_procs, "cgroups": cgroups}


def _shmem_mb() -> float:
    match = re.search(r"^Shmem:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return int(match.group(1)) / 1024


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("isolation")
    (base / "grading").mkdir()
    (base / "grading" / "99_isolation.py").write_text(SPEC)
    return base


def _grade(lab: Path, name: str, notebooks: dict[str, tuple[str, ...]]) -> dict:
    subs = lab / f"{name}-subs"
    subs.mkdir()
    for filename, cells in notebooks.items():
        _notebook(subs / filename, *cells)
    out = lab / f"{name}-out"
    report = grade_folder(subs, "99_isolation", out, root=ROOT, jobs=2, tests_dir=lab / "grading", log=lambda *a: None)
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if p.name != "grade_report.json"}
    return {"report": report, "records": records}


def test_shared_memory_does_not_reach_a_later_batch(lab):
    before = _host_state()
    first = _grade(lab, "writer", {"writer.ipynb": (WRITER,)})
    second = _grade(lab, "reader", {"reader.ipynb": (READER,)})
    assert first["records"]["writer"]["score"] == 2
    assert second["records"]["reader"]["score"] == 0, second["records"]["reader"]["exercises"]
    iso = first["report"]["isolation"]["report"]
    if iso.get("mode") == "none":
        pytest.skip("no namespaces on this machine: SysV IPC is shared (see the grade report)")
    assert _host_state() == before  # no segment, process or cgroup left on the host


def test_a_memory_and_tmp_hog_cannot_hurt_its_neighbour(lab):
    before, shmem = _host_state(), _shmem_mb()
    batch = _grade(lab, "hog", {"hog.ipynb": (HOG,), "honest.ipynb": (HONEST,)})
    iso = batch["report"]["isolation"]["report"]
    assert batch["records"]["honest"]["score"] == 2, batch["records"]["honest"]
    if not str(iso.get("cgroup", "")).startswith("cgroup"):
        pytest.skip(f"no cgroup here ({iso.get('cgroup')}): memory is limited per process only")
    hog = batch["records"]["hog"]
    assert "out of memory" in json.dumps(hog["failures"]) or hog["score"] == 2, hog
    assert _host_state() == before
    assert _shmem_mb() - shmem < 64, "a sandbox's /tmp was left in memory"


def test_the_report_says_which_isolation_was_in_force(lab):
    batch = _grade(lab, "plain", {"honest.ipynb": (HONEST,)})
    iso = batch["report"]["isolation"]["report"]
    assert {"mode", "cgroup", "network", "limits"} <= set(iso), iso
    if iso["mode"] != "none":
        assert iso["ipc_namespace"].startswith("private")


def test_cpu_affinity_cannot_be_widened(lab):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: there is nothing to widen")
    batch = _grade(lab, "affinity", {"affinity.ipynb": (AFFINITY,), "honest.ipynb": (HONEST,)})
    if "cpuset" not in str(batch["report"]["isolation"]["report"].get("cgroup")):
        pytest.skip("no cpuset cgroup here: a process may widen its own affinity")
    assert batch["records"]["affinity"]["score"] == 2, batch["records"]["affinity"]
