"""The interface outside checks call: make grade/regrade/grade-merge expand to the labkit commands, and the
commands refuse bad input with what to do instead (labkit.__main__)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from labkit.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str) -> str:
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_make
def test_make_grade_passes_roster_policy_out_jobs_and_shard():
    text = _make("grade", "LAB=02_week13_mnist", "SUBMISSIONS=subs.zip", "ROSTER=r.csv", "POLICY=p.toml",
                 "OUT=o", "JOBS=3", "SHARD=2/4")
    line = next(l for l in text.splitlines() if "labkit grade" in l)
    for part in ('"subs.zip"', "--lab 02_week13_mnist", '--out "o"', "-j 3", '--roster "r.csv"', '--policy "p.toml"',
                 "--shard 2/4"):
        assert part in line, line


@needs_make
def test_make_regrade_and_grade_merge():
    assert 'labkit regrade "o"' in _make("regrade", "OUT=o")
    assert 'labkit merge a b --out "o"' in _make("grade-merge", "OUT=o", "PARTS=a b")


def test_bad_input_gets_a_clear_error(tmp_path, capsys):
    assert main(["--root", str(ROOT), "grade", str(tmp_path / "nothing"), "--lab", "01_cnn_arithmetic",
                 "--out", str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "subs").mkdir()
    assert main(["--root", str(ROOT), "grade", str(tmp_path / "subs"), "--lab", "01_cnn_arithmetic", "--out",
                 str(tmp_path / "out"), "--shard", "5/4"]) == 1
    assert "1 <= K <= N" in capsys.readouterr().err
    assert main(["--root", str(ROOT), "regrade", str(tmp_path / "subs")]) == 1
    assert "no readable grade_report.json" in capsys.readouterr().err
    assert main(["--root", str(ROOT), "merge", str(tmp_path / "subs"), "--out", str(tmp_path / "m")]) == 1
    assert "grade_report.json" in capsys.readouterr().err
