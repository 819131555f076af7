"""Publish the release: commit it to a clone of the student repository, push when asked (authoring).

``python -m labkit publish STUDENT_REPO [--push]`` (``make publish STUDENT_REPO=url-or-path [PUSH=1]``):

1. refuses when STUDENT_REPO is this instructor tree itself, one of its git remotes, or the
   ``repository`` of ``[tool.labhelpers]`` (students would get the solutions);
2. clones STUDENT_REPO into ``build/publish/<name>`` (or updates that clone), on ``student_branch``;
3. replaces its files by the release (:func:`release.build_release`, checked before anything is
   committed) and commits "Release of <instructor commit>" when something changed;
4. pushes the branch with ``--push`` only.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .colab import repository_settings
from .release import build_release

IDENTITY = ["-c", "user.name=labkit publish", "-c", "user.email=labkit@localhost"]  # when git has none


class PublishError(ValueError):
    """The release cannot be published where it was asked to go."""


@dataclass(frozen=True)
class Published:
    """What ``publish`` did: the clone it worked in, the commit (None: nothing changed), pushed or not."""

    clone: Path
    branch: str
    commit: str | None
    pushed: bool


def _git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise PublishError(f"git {' '.join(args)} failed: {(result.stderr or result.stdout).strip()[-600:]}")
    return result


def normalise(url: str, base: Path | None = None) -> str:
    """A repository address in one comparable form: https/ssh GitHub forms alike, paths resolved."""
    url = url.strip().rstrip("/").removesuffix(".git")
    match = re.fullmatch(r"(?:git@github\.com:|ssh://git@github\.com/|https?://(?:[^@/]+@)?github\.com/)(.+)", url)
    if match:
        return "github.com/" + match.group(1).lower()
    if "://" in url or re.match(r"^[\w.-]+@[\w.-]+:", url):
        return url.lower()
    path = Path(url) if base is None or Path(url).is_absolute() else base / url
    return str(path.resolve()).removesuffix(".git")


def instructor_addresses(root: Path) -> set[str]:
    """This tree's own addresses: its folder, its git remotes, and [tool.labhelpers] repository."""
    addresses = {normalise(str(root)), normalise(repository_settings(root).instructor)}
    remotes = _git("remote", "-v", cwd=root, check=False).stdout.split("\n")
    addresses |= {normalise(line.split()[1], root) for line in remotes if len(line.split()) >= 2}
    return addresses


def _head(root: Path) -> str:
    result = _git("rev-parse", "--short", "HEAD", cwd=root, check=False)
    dirty = _git("status", "--porcelain", cwd=root, check=False).stdout.strip()
    return (result.stdout.strip() or "an uncommitted tree") + (" with uncommitted changes" if dirty else "")


def _clone(student_repo: str, clone: Path, branch: str) -> None:
    """A clone of ``student_repo`` at ``clone`` on ``branch`` (made, or updated to the remote's branch)."""
    if clone.is_dir():
        origin = _git("remote", "get-url", "origin", cwd=clone, check=False).stdout.strip()
        if normalise(origin) != normalise(student_repo):
            raise PublishError(f"{clone} is a clone of {origin or 'nothing'}, not of {student_repo}; remove it "
                               "or publish to that repository")
        _git("fetch", "origin", cwd=clone)
    else:
        clone.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", student_repo, str(clone))
    remote_branch = _git("rev-parse", "--verify", "--quiet", f"origin/{branch}", cwd=clone, check=False)
    if remote_branch.returncode == 0:
        _git("checkout", "-q", "-B", branch, f"origin/{branch}", cwd=clone)
    else:  # an empty repository, or a new branch
        _git("checkout", "-q", "--orphan", branch, cwd=clone, check=False)


def publish(root: str | Path, student_repo: str, push: bool = False, work: Path | None = None) -> Published:
    """Commit the release of ``root`` to a clone of ``student_repo``; push with ``push``."""
    root = Path(root).resolve()
    target = normalise(student_repo)
    if target in instructor_addresses(root):
        raise PublishError(f"{student_repo} is this instructor tree or one of its remotes: publishing there would "
                           "give students the solutions and hidden tests; publish to the student repository")
    settings = repository_settings(root)
    branch = settings.student_branch
    name = re.sub(r"[^\w.-]+", "_", target.rsplit("/", 1)[-1]) or "student"
    clone = (work or root / "build" / "publish") / name
    _clone(student_repo, clone, branch)
    build_release(root, clone, force=True)
    _git("add", "-A", cwd=clone)
    if not _git("status", "--porcelain", cwd=clone).stdout.strip():
        commit = None
    else:
        identity = [] if _git("config", "user.email", cwd=clone, check=False).stdout.strip() else IDENTITY
        _git(*identity, "commit", "-q", "-m", f"Release of {_head(root)}", cwd=clone)
        commit = _git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    if push:
        _git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=clone)
    return Published(clone, branch, commit, push)


def describe(result: Published, student_repo: str, configured: str) -> str:
    """The lines ``python -m labkit publish`` prints."""
    lines = [f"release {'committed as ' + result.commit[:10] if result.commit else 'unchanged (nothing to commit)'}"
             f" in {result.clone} on branch {result.branch}",
             f"pushed to {student_repo}" if result.pushed else "not pushed: run again with --push (PUSH=1) to publish"]
    if normalise(student_repo) != normalise(configured):
        lines.append(f"note: the Colab set-up cells install {configured} ([tool.labhelpers] student_repository), "
                     f"not {student_repo}")
    return "\n".join(lines)

