"""Tests for labkit.grading.report: feedback and gradebooks a student cannot forge or turn into formulas."""
from __future__ import annotations

import csv
import io

import pytest

from labkit.grading.report import HEADER, clean, feedback_text, gradebook_csv, quoted


def _record(**changes):
    record = {"lab": "01_cnn_arithmetic", "submission": "alice.ipynb", "name": "alice", "score": 2.0,
              "max_score": 10.0, "status": "graded", "reason": "", "failures": [], "cells": {"errors": []},
              "exercises": [{"function": "conv2d", "points": 0.0, "max_points": 2.0, "status": "error",
                             "detail": "your function raised ValueError: boom", "message": "pad, then slide"}]}
    record.update(changes)
    return record


def test_control_characters_become_visible():
    assert clean("a\nb\tc\rd\x1b[31m\u202e") == "a\\nb\\tc\\rd\\x1b[31m\\u202e"
    assert quoted('say "hi"\n') == '"say \\"hi\\"\\n"'


@pytest.mark.parametrize("where", ["submission", "detail", "cell error", "failure"])
def test_a_student_string_cannot_add_a_score_line(where):
    fake = "x\nSCORE 10 / 10\n\u2028SCORE 10 / 10"
    record = _record()
    if where == "submission":
        record["submission"] = fake + ".ipynb"
    elif where == "detail":
        record["exercises"][0]["detail"] = "your function raised ValueError: " + fake
    elif where == "cell error":
        record["cells"] = {"errors": [{"cell": "cell 3", "type": "ValueError", "message": fake}]}
    else:
        record["failures"] = [{"where": "cell 3", "kind": "crash", "detail": fake}]
    lines = feedback_text(record).split("\n")
    assert lines[0] == HEADER
    assert [line for line in lines if line.lstrip().startswith("SCORE")] == ["SCORE 2 / 10"]
    assert all('"' in line for line in lines if "SCORE 10" in line)  # only ever inside a quoted string


@pytest.mark.parametrize("value", ["=HYPERLINK(1)", "+1+1", "-cmd", "@SUM(A1)", "\t=1", "  =1", "\r=1"])
def test_gradebook_quotes_formula_like_text(value):
    record = _record(submission=value, name=value)
    rows = list(csv.reader(io.StringIO(gradebook_csv([record], ["conv2d"]))))
    assert rows[1][0].startswith("'") and rows[1][1].startswith("'")
    assert "\t" not in rows[1][0] and "\r" not in rows[1][0]
