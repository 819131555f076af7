"""A simulated Google Colab session, offline: run student notebooks through their real set-up cell (authoring).

What is simulated, and how:

* ``google.colab`` exists and is imported when the kernel starts (a stub package on the kernel's path);
* the working directory is ``/content``, a fresh tmpfs for every notebook, in a private mount namespace
  (``unshare --mount``; as root, or as the root of a new user namespace), so nothing is written to the host;
* the set-up cell's ``git clone https://github.com/...`` of the student repository is redirected to a
  local copy with git's ``url.<local>.insteadOf`` (environment variables, no global config touched);
* ``pip install`` runs in a virtual environment of its own whose other packages come from a given
  site-packages (the pinned one, or Colab's versions); the build backend (setuptools) comes from a local
  wheel folder, so nothing is downloaded.

``simulate(...)`` is the entry point; the part that runs inside the namespace is ``main()`` below, started
as ``unshare ... python -m labkit.authoring.colab_sim JOB.json``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path

STUB = '"""A stand-in for Colab\'s own package: the labs only test that it is imported."""\n'
PROBE = ("import json, os, sys\nimport importlib.metadata as metadata\nimport labhelpers\n"
         "print('COLAB-SIM ' + json.dumps({'cwd': os.getcwd(), 'labhelpers': labhelpers.__file__, "
         "'installed': str(metadata.distribution('labhelpers').locate_file(''))}))")


@dataclass
class SimResult:
    """What one notebook did in the simulated Colab."""

    notebook: str
    ok: bool
    cwd: str = ""
    labhelpers: str = ""                                  # where `import labhelpers` found it
    installed: str = ""                                   # where pip installed the labhelpers distribution
    errors: list[str] = field(default_factory=list)      # "cell N: Ename: message"
    clone_files: list[str] = field(default_factory=list)  # every file of /content/<clone>, relative
    seconds: float = 0.0


def namespace_prefix() -> list[str] | None:
    """The unshare command that gives a private mount namespace here, or None when none can be made."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "--mount", "--propagation", "private"],
                   ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]):
        if subprocess.run(prefix + ["true"], capture_output=True).returncode == 0:
            return prefix
    return None


def make_venv(folder: Path, site_packages: list[str]) -> Path:
    """A virtual environment whose own site-packages comes first and ``site_packages`` after it; its python."""
    venv.EnvBuilder(with_pip=True, symlinks=True).create(folder)
    python = folder / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    Path(own, "zz_colab_sim_base.pth").write_text("\n".join(site_packages) + "\n", encoding="utf-8")
    return python


def simulate(notebooks: list[Path], repo_url: str, local_repo: Path, python: Path, wheels: Path,
             work: Path, timeout: int = 600, cells: str = "setup") -> list[SimResult]:
    """Run each notebook's set-up cell (``cells="setup"``) or all of it (``"all"``) in a fresh simulated Colab."""
    prefix = namespace_prefix()
    if prefix is None:
        raise RuntimeError("no private mount namespace can be made here (unshare is missing or not permitted)")
    work.mkdir(parents=True, exist_ok=True)
    stub = work / "stub"
    (stub / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (stub / "google" / "colab" / "__init__.py").write_text(STUB, encoding="utf-8")
    job = {"notebooks": [str(Path(p).resolve()) for p in notebooks], "repo_url": repo_url,
           "local_repo": str(Path(local_repo).resolve()), "python": str(Path(python).absolute()),
           "wheels": str(Path(wheels).resolve()), "stub": str(stub.resolve()), "work": str(work.resolve()),
           "timeout": timeout, "cells": cells, "out": str(work / "results.json")}
    (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
    made = not Path("/content").exists()
    if made:
        try:
            Path("/content").mkdir()
        except OSError as err:
            raise RuntimeError(f"/content does not exist and cannot be made here ({err.strerror})") from None
    try:
        run = subprocess.run(prefix + [sys.executable, "-m", "labkit.authoring.colab_sim", str(work / "job.json")],
                             capture_output=True, text=True, timeout=timeout * (len(notebooks) + 1))
    finally:
        if made:
            Path("/content").rmdir()
    if not (work / "results.json").is_file():
        raise RuntimeError(f"the simulated Colab did not finish: {(run.stderr or run.stdout)[-2000:]}")
    return [SimResult(**r) for r in json.loads((work / "results.json").read_text(encoding="utf-8"))]


# ----------------------------------------------------------------------------- inside the namespace
def _mount_fresh_content() -> None:
    subprocess.run(["umount", "/content"], capture_output=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g,mode=755", "tmpfs", "/content"], check=True)


def _kernel_env(job: dict, home: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM", "OMP_WAIT_POLICY")}
    env.update({"HOME": home, "PYTHONPATH": job["stub"], "MPLBACKEND": "Agg", "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": job["wheels"], "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"url.{job['local_repo']}.insteadOf", "GIT_CONFIG_VALUE_0": job["repo_url"],
                "JUPYTER_PATH": str(Path(job["work"]) / "jupyter"), "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    return env


def _kernelspec(job: dict) -> str:
    folder = Path(job["work"]) / "jupyter" / "kernels" / "colab-sim"
    folder.mkdir(parents=True, exist_ok=True)
    start = "import google.colab; from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
    spec = {"argv": [job["python"], "-c", start, "-f", "{connection_file}"], "display_name": "Colab (simulated)",
            "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return "colab-sim"


def _run_one(path: Path, job: dict, kernel: str) -> SimResult:
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    started = time.monotonic()
    nb = nbformat.read(path, as_version=4)
    if job["cells"] == "setup":
        nb.cells = [c for c in nb.cells if "colab-setup" in c.metadata.get("tags", [])]
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = min(nb.nbformat_minor, 4)
    _mount_fresh_content()
    subprocess.run([job["python"], "-m", "pip", "uninstall", "-y", "-q", "labhelpers"], capture_output=True)
    home = tempfile.mkdtemp(prefix="home-", dir="/content")  # a fresh session: nothing installed, empty /content
    result = SimResult(path.name, False)
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(_kernel_env(job, home))
    try:
        NotebookClient(nb, timeout=job["timeout"], kernel_name=kernel, allow_errors=True,
                       resources={"metadata": {"path": "/content"}}).execute()
    except (CellExecutionError, RuntimeError, TimeoutError) as err:
        result.errors.append(f"the kernel failed: {str(err)[-500:]}")
    finally:
        os.environ.clear()
        os.environ.update(old)
    for number, cell in enumerate(nb.cells, start=1):
        outputs = cell.get("outputs", [])
        for out in outputs:
            if out.get("output_type") == "error":
                stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")[-1500:]
                result.errors.append(f"cell {number}: {out.get('ename')}: {str(out.get('evalue'))[:300]}"
                                     + (f" (stderr: {stderr.strip()})" if stderr.strip() else ""))
            text = out.get("text", "")
            for line in (text if isinstance(text, str) else "".join(text)).splitlines():
                if line.startswith("COLAB-SIM "):
                    probe = json.loads(line[len("COLAB-SIM "):])
                    result.cwd, result.labhelpers, result.installed = probe["cwd"], probe["labhelpers"], probe["installed"]
    clones = [p for p in Path("/content").iterdir() if (p / ".git").exists()]
    if clones:
        result.clone_files = sorted(str(f.relative_to(clones[0])) for f in clones[0].rglob("*")
                                    if f.is_file() and ".git" not in f.relative_to(clones[0]).parts)
    result.ok = bool(result.cwd) and not [e for e in result.errors if "NotImplementedError" not in e]
    result.seconds = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str]) -> int:
    """Inside the private mount namespace: run every notebook of the job; write the results as JSON."""
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    kernel = _kernelspec(job)
    results = [asdict(_run_one(Path(p), job, kernel)) for p in job["notebooks"]]
    subprocess.run(["umount", "/content"], capture_output=True)
    Path(job["out"]).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
