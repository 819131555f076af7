"""What graded a submission: the hidden tests' sha256, the labhelpers and grader versions (grading, regrades).

Every record and batch report carries :func:`provenance`, so a regrade can say why a score changed
(the hidden tests changed, the grader changed, or only the probes did).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

GRADER_VERSION = "3.0"  # bump when a change to labkit.grading can change a score


@dataclass(frozen=True)
class Provenance:
    """The versions and hashes a grade depends on."""

    hidden_tests: str            # the module's path
    hidden_tests_sha256: str
    labhelpers_version: str
    labhelpers_sha256: str       # of every labhelpers/*.py (the runtime the notebook used)
    grader_version: str
    grader_sha256: str           # of every labkit/grading/*.py

    def as_dict(self) -> dict:
        return asdict(self)


def tree_sha256(folder: Path) -> str:
    """sha256 over the relative names and bytes of every .py file below ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def provenance(tests_path: Path) -> Provenance:
    """The provenance of grades made now with the hidden tests at ``tests_path``."""
    import labhelpers
    return Provenance(str(tests_path), hashlib.sha256(Path(tests_path).read_bytes()).hexdigest(),
                      str(getattr(labhelpers, "__version__", "?")), tree_sha256(Path(labhelpers.__file__).parent),
                      GRADER_VERSION, tree_sha256(Path(__file__).parent))


def changes(old: dict, new: dict) -> list[str]:
    """What differs between two provenance dicts, in words ('hidden tests changed (sha 1a2b.. -> 3c4d..)')."""
    words = {"hidden_tests_sha256": "hidden tests changed", "labhelpers_sha256": "labhelpers changed",
             "grader_sha256": "grader changed"}
    return [f"{text} ({str(old.get(key, '?'))[:8]} -> {str(new.get(key, '?'))[:8]})"
            for key, text in words.items() if old.get(key) != new.get(key)]
