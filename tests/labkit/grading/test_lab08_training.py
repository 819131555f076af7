"""Tests of lab 08's graded training loop (grading/08_recurrent_networks.py, exercise fit_lstm).

The student's loop is graded by behaviour: it and the reference train the same seeded LSTM on the same windows
with the same watched optimizer. These tests run the grader's own call path in this process: the solution's
loop earns every part, a constant or a missing answer nothing, and each classic mistake loses the part that
names it while keeping a partial score.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_grader import LabGrader  # noqa: E402

LAB = "08_recurrent_networks"


GRADER = LabGrader(LAB, "fit_lstm")


def fit_lstm(lstm, X, y, optimizer, num_epochs, batch_size, max_norm, mistake=None):
    """The solution's loop, or the same loop with one classic ``mistake``."""
    if mistake != "no train()":
        lstm.train()
    history = []
    for _ in range(num_epochs):
        total, batches = 0.0, 0
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            _, (h_n, _) = lstm(X_batch.transpose(0, 1))
            loss = F.mse_loss(h_n[-1, :, 0], y_batch, reduction="sum" if mistake == "summed loss" else "mean")
            if mistake == "clip before backward":
                nn.utils.clip_grad_norm_(lstm.parameters(), max_norm)
            loss.backward()
            if mistake not in ("no clipping", "clip before backward"):
                nn.utils.clip_grad_norm_(lstm.parameters(), max_norm)
            optimizer.step()
            batches += 1
            if mistake == "loss tensor":
                total = total + loss * len(y_batch)
            elif mistake == "mean over batches":
                total += loss.item()
            else:
                total += loss.item() * len(y_batch)
        history.append(total / (batches if mistake == "mean over batches" else len(X)))
    return history


def _variant(mistake):
    return lambda *args: fit_lstm(*args, mistake=mistake)


_grade = GRADER.grade


def test_the_solution_loop_earns_every_part():
    result, parts = _grade(fit_lstm)
    assert result["points"] == 4 and result["status"] == "passed", result
    assert set(parts) == {"returns the loss history", "lstm.train()", "one step per batch, each on the reference's "
                          "gradient", "gradient clipping", "same weights", "same loss history"}


def test_the_solution_loop_passes_other_draws_of_the_probes():
    for seed in (1, 2, 3):
        result, _ = _grade(fit_lstm, seed)
        assert result["points"] == 4, result


def test_a_constant_a_missing_answer_and_the_stub_earn_nothing():
    GRADER.assert_nothing_for_no_work()


@pytest.mark.parametrize("mistake,part,words", [
    ("no zero_grad", "one step per batch, each on the reference's gradient", "zero_grad"),
    ("no train()", "lstm.train()", "model.train()"),
    ("loss tensor", "returns the loss history", "loss.item()"),
    ("summed loss", "one step per batch, each on the reference's gradient", "F.mse_loss's default reduction"),
    ("no clipping", "gradient clipping", "unclipped"),
    ("clip before backward", "gradient clipping", "after loss.backward()"),
    ("mean over batches", "same loss history", "weight every batch by its number of windows"),
])
def test_each_mistake_loses_its_part_with_a_named_message(mistake, part, words):
    result = GRADER.assert_loses_part(_variant(mistake), part, words)
    assert words in result["detail"]   # the feedback line names it too


@pytest.mark.filterwarnings("ignore:Using a target size")
def test_feeding_the_batch_first_tensor_to_a_time_first_lstm_loses_points():
    def batch_first(lstm, X, y, optimizer, num_epochs, batch_size, max_norm):
        lstm.train()
        history = []
        for _ in range(num_epochs):
            total = 0.0
            for start in range(0, len(X), batch_size):
                optimizer.zero_grad()
                _, (h_n, _) = lstm(X[start:start + batch_size])   # (B, T, 1) read as T = B sequences of B steps
                loss = F.mse_loss(h_n[-1, :, 0], y[start:start + batch_size])
                loss.backward()
                nn.utils.clip_grad_norm_(lstm.parameters(), max_norm)
                optimizer.step()
                total += loss.item() * len(y[start:start + batch_size])
            history.append(total / len(X))
        return history
    result, _ = _grade(batch_first)
    assert result["points"] < 4 and result["status"] in ("partial", "wrong", "error"), result


def test_the_same_draw_gives_the_same_grade():
    assert _grade(fit_lstm)[0] == _grade(fit_lstm)[0]
