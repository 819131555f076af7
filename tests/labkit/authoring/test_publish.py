"""Publishing the release to the student repository, and opening it as Colab would (labkit.authoring.publish,
labkit.authoring.colab_sim).

End to end, offline: build the release, publish it to a local bare git repository, then run every student
notebook's set-up cell in a simulated Colab (stub google.colab, /content, git's insteadOf redirecting the
student repository's URL to the bare one). Each must clone and install; the clone must hold no solution
notebook, no grading/, no instructor package, no solution line and no reference implementation.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labkit.authoring import list_labs
from labkit.authoring.colab import repository_settings
from labkit.authoring.colab_sim import make_venv, namespace_prefix, simulate
from labkit.authoring.publish import PublishError, normalise, publish
from labkit.authoring.release import verify_release

ROOT = Path(__file__).resolve().parents[3]
LABS = list_labs(ROOT)
WHEELS = ROOT / ".venv" / "wheels"  # make setup puts the setuptools wheel here (pip's build backend, offline)


def _git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The release pushed to a fresh bare repository, and a clone of what students get."""
    base = tmp_path_factory.mktemp("publish")
    bare = base / "student.git"
    _git("init", "-q", "--bare", str(bare))
    result = publish(ROOT, str(bare), push=True, work=base / "work")
    checkout = base / "checkout"
    _git("clone", "-q", "--branch", result.branch, str(bare), str(checkout))
    return bare, checkout, result


@pytest.mark.parametrize("address", ["ROOT", "configured", "https-variant"])
def test_publish_refuses_the_instructor_tree(address, tmp_path):
    configured = repository_settings(ROOT).instructor
    target = {"ROOT": str(ROOT), "configured": configured,
              "https-variant": configured.replace("https://github.com/", "git@github.com:") + ".git"}[address]
    with pytest.raises(PublishError, match="instructor tree"):
        publish(ROOT, target, work=tmp_path)


def test_normalise_treats_github_forms_alike():
    assert normalise("https://github.com/A/b.git") == normalise("git@github.com:a/b") == "github.com/a/b"


def test_published_tree_is_the_release_only(published):
    _, checkout, result = published
    assert result.commit and result.pushed
    names = {p.name for p in checkout.iterdir()} - {".git"}
    assert names == {"README.md", "requirements.txt", "pyproject.toml", ".gitignore", "labhelpers", "notebooks", "data"}
    assert sorted(p.name for p in (checkout / "notebooks").iterdir()) == sorted(f"{lab}_student.ipynb" for lab in LABS)
    assert verify_release(checkout, ROOT) == []
    assert "labkit" not in (checkout / "pyproject.toml").read_text().replace("labkit@", "")
    assert "papermill" not in (checkout / "requirements.txt").read_text()


def test_publishing_again_without_changes_commits_nothing(published, tmp_path):
    bare, _, first = published
    again = publish(ROOT, str(bare), work=first.clone.parent)
    assert again.commit is None


def test_simulated_colab_clones_and_installs_every_student_notebook(published, tmp_path):
    if namespace_prefix() is None:
        pytest.skip("no private mount namespace here (unshare missing or not permitted): cannot fake /content")
    if not list(WHEELS.glob("setuptools-*.whl")):
        pytest.skip(f"no setuptools wheel in {WHEELS} (make setup downloads it): pip could not build offline")
    bare, checkout, _ = published
    site = subprocess.run([sys.executable, "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    python = make_venv(tmp_path / "colab-venv", [site])
    notebooks = sorted((checkout / "notebooks").glob("*_student.ipynb"))
    results = simulate(notebooks, repository_settings(ROOT).student, bare, python, WHEELS, tmp_path / "sim")
    assert [r.notebook for r in results] == [p.name for p in notebooks]
    for r in results:
        assert r.ok, (r.notebook, r.errors)
        folder = "/content/" + repository_settings(ROOT).student_folder
        assert r.cwd == folder, r
        assert r.installed.startswith(str(tmp_path / "colab-venv")), r   # pip installed it from the clone
        assert r.labhelpers.startswith((folder, str(tmp_path / "colab-venv"))), r  # and that is what imports
        assert not [f for f in r.clone_files if f.endswith("_solution.ipynb") or f.split("/")[0] in
                    ("grading", "labkit", "benchmarks", "tests")], r.notebook
