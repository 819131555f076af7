"""Sandboxes forked from a pre-imported template (labkit.grading.template) keep every isolation guarantee.

The same tiny lab and attacks as test_isolation.py, graded with ``template="on"``, and what is particular to
forking: no state of one submission reaches the next, no descriptor of the template (its socket) is open
in a sandbox, and each sandbox is PID 1 of its own namespace with the unprivileged uid.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from labkit.grading.batch import grade_folder
from labkit.grading.template import preload_list

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_isolation import AFFINITY, HOG, HONEST, READER, ROOT, SPEC, WRITER, _host_state, _notebook  # noqa: E402

LEAK_WRITE = '''
import json, sys
json._leaked_by_a_student = 2          # a module of the template, changed
sys.modules["leak_marker"] = json
''' + HONEST
LEAK_READ = '''
import json, sys
leaked = hasattr(json, "_leaked_by_a_student") or "leak_marker" in sys.modules

def double(x):
    return 0 if leaked else 2 * x
'''
FDS = '''
import os, stat
sockets = [fd for fd in map(int, os.listdir("/proc/self/fd"))
           if os.path.exists(f"/proc/self/fd/{fd}") and stat.S_ISSOCK(os.fstat(fd).st_mode)]
alone = os.getpid() == 1 or not os.path.exists("/proc/1/cmdline")

def double(x):
    return 0 if sockets else 2 * x
'''


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("template")
    (base / "grading").mkdir()
    (base / "grading" / "99_isolation.py").write_text(SPEC)
    return base


def _grade(lab: Path, name: str, notebooks: dict[str, tuple[str, ...]], jobs: int = 2) -> dict:
    subs = lab / f"{name}-subs"
    subs.mkdir()
    for filename, cells in notebooks.items():
        _notebook(subs / filename, *cells)
    out = lab / f"{name}-out"
    report = grade_folder(subs, "99_isolation", out, root=ROOT, jobs=jobs, tests_dir=lab / "grading",
                          template="on", log=lambda *a: None)
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if p.name != "grade_report.json"}
    return {"report": report, "records": records}


def test_sandboxes_are_forked_from_the_template_and_say_so(lab):
    batch = _grade(lab, "plain", {"honest.ipynb": (HONEST,), "fds.ipynb": (FDS,)})
    assert batch["report"]["templates"]["used"], batch["report"]["templates"]
    for record in batch["records"].values():
        assert record["score"] == 2, record
        assert record["isolation"]["process"].startswith("forked from a template")
        if record["isolation"]["mode"] != "none":
            assert record["isolation"]["pid_namespace"] is True


def test_no_state_reaches_the_next_submission_of_the_same_template(lab):
    batch = _grade(lab, "leak", {"a_writer.ipynb": (LEAK_WRITE,), "b_reader.ipynb": (LEAK_READ,)}, jobs=1)
    assert batch["records"]["a_writer"]["score"] == 2
    assert batch["records"]["b_reader"]["score"] == 2, batch["records"]["b_reader"]["exercises"]


def test_shared_memory_and_hogs_stay_contained(lab):
    before = _host_state()
    first = _grade(lab, "shm-w", {"writer.ipynb": (WRITER,), "honest.ipynb": (HONEST,)})
    second = _grade(lab, "shm-r", {"reader.ipynb": (READER,), "hog.ipynb": (HOG,), "honest.ipynb": (HONEST,)})
    if first["report"]["isolation"]["mode"] == "none":
        pytest.skip("no namespaces on this machine: SysV IPC is shared")
    assert second["records"]["reader"]["score"] == 0
    assert second["records"]["honest"]["score"] == 2
    assert _host_state() == before


def test_cpu_affinity_cannot_be_widened_from_a_fork(lab):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU")
    batch = _grade(lab, "affinity", {"affinity.ipynb": (AFFINITY,), "honest.ipynb": (HONEST,)})
    if "cpuset" not in str(batch["report"]["isolation"]["report"].get("cgroup")):
        pytest.skip("no cpuset cgroup here")
    assert batch["records"]["affinity"]["score"] == 2


def test_preload_list_takes_the_notebooks_imports_and_the_labhelpers_modules_it_uses():
    modules = preload_list(["import torch\nimport labhelpers as lh\nfrom pathlib import Path\n%matplotlib inline",
                            "model = lh.NetCNN()\nlh.fit(model)"])
    assert {"torch", "labhelpers", "pathlib", "labhelpers.models", "labhelpers.train"} <= set(modules)
    assert "labkit.grading.sandbox_runner" in modules
