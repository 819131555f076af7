"""The Colab stage's pieces (labkit.authoring.colab_stage, .ci/colab_stage.sh, the simulated Colab's cells="all"),
``make lab``'s command line, and pyproject's lower bounds against the versions the stage runs.

The stage itself (a second venv of about 5 GB, every notebook in the simulation) runs in CI as
``.ci/colab_stage.sh``; here only what is quick: the freeze-to-constraints rules, the committed constraints being
current, the install list, and one student notebook run whole in the simulated Colab on the pinned packages.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from labkit.authoring import colab_stage
from labkit.authoring.colab import repository_settings
from labkit.authoring.colab_sim import SimResult, describe, make_venv, namespace_prefix, simulate
from labkit.authoring.colab_stage import (STUDENT_INSTALL_ADDS, colab_versions, constraints_from_freeze,
                                          differences, needs, normalise, render_constraints)

ROOT = Path(__file__).resolve().parents[3]
CONSTRAINTS = ROOT / ".ci" / "colab-constraints.txt"
FREEZE = ROOT.parent / "shared" / "colab" / "pip-freeze.txt"
WHEELS = ROOT / ".venv" / "wheels"
SAMPLE = """\
# a comment
numpy==2.1.3
Jinja2==3.1.6
torch @ https://wheels.example/whl/cpu/torch-2.11.0%2Bcpu-cp313-cp313-manylinux_2_28_x86_64.whl
google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz
jupyter_kernel_gateway @ git+https://code.example/googlecolab/kernel_gateway@b134e99
en_core_web_sm @ https://code.example/releases/download/en_core_web_sm-3.8.0-py3-none-any.whl#sha256=19
tifffile==2026.8.16
"""


def test_freeze_lines_become_constraints_or_are_dropped_with_a_reason():
    lines, notes = constraints_from_freeze(SAMPLE)
    assert lines == ["numpy==2.1.3", "Jinja2==3.1.6", "torch==2.11.0"]
    joined = "\n".join(notes)
    assert "torch: a direct URL to its +cpu build" in joined and "torch==2.11.0" in joined
    for name in ("google-colab", "jupyter_kernel_gateway", "en_core_web_sm", "tifffile==2026.8.16"):
        assert f"{name}: dropped; " in joined, name
    assert "Requires-Python" not in joined and "requires Python >=3.12" in joined


def test_the_committed_constraints_are_current_and_name_no_address():
    text = CONSTRAINTS.read_text(encoding="utf-8")
    assert "://" not in text, "a URL (a registry or a code host) in the constraints file"
    if not FREEZE.is_file():
        pytest.skip(f"{FREEZE} is not here (shared/colab/ beside the repository): cannot regenerate")
    assert text == render_constraints(FREEZE.read_text(encoding="utf-8")), \
        "stale: python -m labkit.authoring.colab_stage constraints"
    versions = colab_versions(FREEZE.read_text(encoding="utf-8"))
    assert versions["torch"] == "2.11.0" and versions["ipywidgets"] == "7.7.1" and versions["numpy"] == "2.1.3"


def test_the_colab_venv_installs_colabs_versions_and_the_test_tools_only():
    lines = needs(ROOT, CONSTRAINTS.read_text(encoding="utf-8"))
    names = {normalise(re.split(r"[=<>]", line)[0]) for line in lines}
    assert {"torch", "torchvision", "numpy", "ipykernel", "ipywidgets", "nbclient", "pytest", "pip"} <= names
    assert [line for line in lines if line.startswith(("torch", "numpy", "ipywidgets"))] == \
        [line for line in lines if line.startswith(("torch", "numpy", "ipywidgets")) and "==" not in line], \
        "Colab's packages come bare: the constraints give their versions"
    assert any(line.startswith("papermill==") for line in lines) and any(line.startswith("nbval==") for line in lines)
    assert not names & (STUDENT_INSTALL_ADDS | {"jupyterlab", "selenium", "labhelpers"})


def test_pyprojects_lower_bounds_are_versions_the_stage_runs():
    if not FREEZE.is_file():
        pytest.skip(f"{FREEZE} is not here")
    colab = colab_versions(FREEZE.read_text(encoding="utf-8"))
    pins = {normalise(line.split("==")[0]): line.split("==")[1]
            for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    for dependency in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, bound = re.fullmatch(r"([A-Za-z0-9._-]+)>=([0-9.]+)", dependency).groups()
        name = normalise(name)
        ran = pins[name] if name in STUDENT_INSTALL_ADDS else colab[name]
        assert bound == ran, f"{dependency}: the Colab stage runs {name} {ran}"
    assert "ipywidgets>=7.7.1" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_differences_lists_only_what_differs():
    lines = differences({"python": "3.11.7", "torch": "2.11.0+cu130", "tqdm": "4.70.1", "nbval": None},
                        {"python": "3.11.7", "torch": "2.15.0", "tqdm": "4.70.1", "nbval": "0.11.0"})
    assert len(lines) == 3 and lines[0].startswith("package")
    assert re.search(r"torch\s+2\.11\.0\+cu130\s+2\.15\.0", lines[2]) and re.search(r"nbval\s+-\s+0\.11\.0", lines[1])


def test_the_stage_script_parses_and_says_which_python():
    script = (ROOT / ".ci" / "colab_stage.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "colab_stage.sh")]).returncode == 0
    assert "Python 3.13" in script and "python3.11" in script
    assert "set -euo pipefail" in script


def test_make_lab_serves_loopback_only_with_a_token():
    run = subprocess.run(["make", "-n", "-s", "-o", ".venv/.installed", "lab"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    command = run.stdout
    assert "-m jupyterlab" in command and "--ServerApp.ip=127.0.0.1" in command and 'root_dir="notebooks"' in command
    assert "0.0.0.0" not in command and "token=" not in command.replace("?token=", "")


def test_describe_says_what_a_notebook_did():
    line = describe(SimResult("01_x_student.ipynb", True, cwd="/content/labkit", added=["labhelpers==0.1.0"],
                              error_names=["NotImplementedError"], verdicts={"TODO": 5}, cells=39, seconds=12.3))
    assert line.startswith("ok   01_x_student.ipynb") and "installed labhelpers==0.1.0" in line
    assert "TODO 5" in line and "NotImplementedError x1" in line


def test_a_student_notebook_runs_whole_in_the_simulated_colab(tmp_path):
    """cells="all" with the smoke parameters: lab 06's student notebook clones, installs, runs to the end and fails
    only at its exercises ([TODO]); the install adds labhelpers only (the pinned site-packages has the rest)."""
    if namespace_prefix() is None:
        pytest.skip("no private mount namespace here (unshare missing or not permitted): cannot fake /content")
    if not list(WHEELS.glob("setuptools-*.whl")):
        pytest.skip(f"no setuptools wheel in {WHEELS} (make setup downloads it): pip could not build offline")
    from labhelpers.selfcheck import smoke_parameters
    from labkit.authoring.publish import publish
    bare = tmp_path / "student.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    publish(ROOT, str(bare), push=True, work=tmp_path / "publish")
    site = subprocess.run([sys.executable, "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    python = make_venv(tmp_path / "venv", [site])
    notebook = ROOT / "notebooks" / "06_backprop_by_hand_student.ipynb"
    (result,) = simulate([notebook], repository_settings(ROOT).student, bare, python, WHEELS, tmp_path / "sim",
                         cells="all", parameters=smoke_parameters("/content/smoke"))
    assert result.ok, (result.errors, result.verdicts)
    assert result.cells > 10 and result.verdicts.get("TODO", 0) >= 1 and not result.verdicts.get("FAIL")
    assert set(result.error_names) <= {"NotImplementedError"}
    assert [a.split("==")[0] for a in result.added] == ["labhelpers"]
    # the pinned site-packages holds this tree's own editable labhelpers, which the student's install shadows;
    # nothing else may be replaced (the Colab stage's venv has no labhelpers, and there replaced must be empty)
    assert [r for r in result.replaced if not r.startswith("labhelpers==")] == []


def test_simulate_refuses_an_unknown_cells_value(tmp_path):
    with pytest.raises(ValueError, match="cells="):
        simulate([], "https://github.com/a/b", tmp_path, Path(sys.executable), tmp_path, tmp_path, cells="some")


def test_the_module_runs_as_a_command():
    run = subprocess.run([sys.executable, "-m", "labkit.authoring.colab_stage", "needs"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0 and "torch" in run.stdout.split()
    assert colab_stage.CONSTRAINTS == CONSTRAINTS
