"""Tests for labkit.grading.verdict's scoring: all or nothing, per probe, and named parts (partial credit)."""
from __future__ import annotations

import numpy as np

from labkit.grading.codec import encode
from labkit.grading.report import feedback_text
from labkit.grading.spec import Call, Exercise, Part
from labkit.grading.verdict import as_array, compare, score_exercise

CALLS = [Call((1,), label="small"), Call((2,), label="large"), Call((3,), label="edge: zero")]
WANT = [encode(np.array([1.0, 2.0])), encode(np.array([3.0, 4.0])), encode(np.array([0.0, 0.0]))]


def _exercise(**kwargs) -> Exercise:
    return Exercise("f", 3, "think about the edge case", lambda rng: CALLS, lambda x: x, **kwargs)


def _answers(*values):
    return [{"value": encode(np.array(v, dtype=float))} for v in values]


def _shape(call, got, want):
    g = as_array(got)
    return None if g is not None and g.shape == as_array(want).shape else "wrong shape"


def _values(call, got, want):
    return compare(got, want)


PARTS = (Part("shape", 1, _shape), Part("values", 1, _values, cases=("small", "large")),
         Part("edge case", 1, _values, cases=("edge",)))


def test_all_or_nothing_is_the_default():
    result = score_exercise(_exercise(), CALLS, WANT, _answers([1, 2], [3, 4], [9, 9]))
    assert result["points"] == 0 and result["status"] == "wrong" and "edge" in result["detail"]


def test_split_over_probes():
    result = score_exercise(_exercise(split="probes"), CALLS, WANT, _answers([1, 2], [3, 4], [9, 9]))
    assert result["points"] == 2 and result["status"] == "partial"
    assert [p["points"] for p in result["parts"]] == [1, 1, 0]


def test_parts_earn_their_share_and_say_why():
    result = score_exercise(_exercise(parts=PARTS), CALLS, WANT, _answers([1, 2], [3, 4], [9, 9]))
    assert result["points"] == 2 and result["status"] == "partial"
    assert {p["name"]: p["points"] for p in result["parts"]} == {"shape": 1, "values": 1, "edge case": 0}
    assert "edge case" in result["detail"] and "case: edge: zero" in result["detail"]


def test_right_shape_wrong_values_gets_the_shape_part():
    result = score_exercise(_exercise(parts=PARTS), CALLS, WANT, _answers([0, 0], [0, 1], [5, 5]))
    assert result["points"] == 1 and {p["name"] for p in result["parts"] if p["points"]} == {"shape"}


def test_an_error_earns_no_part():
    responses = _answers([1, 2], [3, 4]) + [{"error": {"type": "ValueError", "message": "boom"}}]
    result = score_exercise(_exercise(parts=PARTS), CALLS, WANT, responses)
    assert result["points"] == 0 and result["status"] == "error"


def test_full_marks_through_parts_is_passed():
    result = score_exercise(_exercise(parts=PARTS), CALLS, WANT, _answers([1, 2], [3, 4], [0, 0]))
    assert result["points"] == 3 and result["status"] == "passed"


def test_feedback_shows_what_each_part_earned():
    result = score_exercise(_exercise(parts=PARTS), CALLS, WANT, _answers([1, 2], [3, 4], [9, 9]))
    record = {"lab": "99", "submission": "a.ipynb", "score": result["points"], "max_score": 3.0,
              "status": "graded", "exercises": [result]}
    text = feedback_text(record)
    assert "partly right" in text and "1 / 1    shape" in text and "0 / 1    edge case" in text
