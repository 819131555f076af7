"""The sandbox's environment (labkit.grading.sandbox.child_env): built whole, nothing inherited from the grader."""
from __future__ import annotations

import sys
from pathlib import Path

from labkit.grading.sandbox import child_env

ROOT = Path(__file__).resolve().parents[3]


def test_the_environment_inherits_nothing_and_names_no_host_path(monkeypatch):
    monkeypatch.setenv("CANVAS_TOKEN", "secret")
    env = child_env("/tmp/work", "/tmp", 1)
    assert "CANVAS_TOKEN" not in env and "VIRTUAL_ENV" not in env and "PYTHONPATH" not in env
    assert not [v for v in env.values() if str(ROOT) in v or sys.prefix in v or str(Path.home()) in v]
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin" and env["HOME"] == "/tmp/work"
    assert env["LABKIT_GRADING"] == "1"   # kept on purpose: it tells the public self-checks to stand aside
