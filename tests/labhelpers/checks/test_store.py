"""Tests for labhelpers.checks.store: the solution's answers stored with the student material."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from labhelpers.checks import Case, stored
from labhelpers.checks import store


def _record(folder, lab, exercise, answers, inputs):
    store.start_recording()
    assert store.expected_answers(lab, exercise, answers, inputs) == answers  # recording returns them as they are
    store.save_recording(folder / f"{lab}.json")


def test_recorded_answers_come_back_decoded(tmp_path):
    folder = tmp_path
    X = torch.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
    _record(folder, "99_demo", "f", [X * 2, 7, (1.5, "a")], [X])
    got = store.expected_answers("99_demo", "f", [], [X], folder)
    assert torch.equal(got[0], X * 2) and got[1] == 7 and got[2] == (1.5, "a")
    assert not store.is_recording()


def test_other_inputs_are_refused_not_compared(tmp_path):
    _record(tmp_path, "99_demo", "f", [1], [np.array([1.0, 2.0])])
    with pytest.raises(store.StoreError, match="other inputs"):
        store.expected_answers("99_demo", "f", [1], [np.array([1.0, 2.5])], tmp_path)


def test_fingerprint_ignores_last_bit_differences():
    a = np.array([0.1 + 0.2], dtype=np.float64)
    assert store.fingerprint([a]) == store.fingerprint([np.array([0.3])])
    assert store.fingerprint([a]) != store.fingerprint([np.array([0.31])])


def test_missing_file_or_exercise_is_a_clear_failure(tmp_path, capsys):
    assert stored("99_none", "f", [1], [Case((1,))]) is None          # the package has no such lab
    assert "missing" in capsys.readouterr().out
    _record(tmp_path, "99_demo", "f", [1], [1])
    with pytest.raises(store.StoreError, match="no stored answers for g"):
        store.expected_answers("99_demo", "g", [1], [1], tmp_path)


def test_a_file_of_another_lab_is_refused(tmp_path):
    folder = tmp_path
    (folder / "99_demo.json").write_text(json.dumps({"format": store.FORMAT, "lab": "98_other", "exercises": {}}))
    with pytest.raises(store.StoreError, match="not a stored-answers file"):
        store.load_expected("99_demo", folder)


def test_saving_without_recording_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="start_recording"):
        store.save_recording(tmp_path / "x.json")
