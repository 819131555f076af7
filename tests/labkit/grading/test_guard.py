"""Tests for labkit.grading.guard: a forbidden callable is caught however the student's code reaches it."""
from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import labhelpers as lh
from labkit.grading.guard import Forbidden, Guard, install_audit_hook, package_codes

X = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32))
SOFTMAX = ["torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "numpy.add.outer"]


@pytest.fixture(scope="module")
def rules():
    install_audit_hook()
    return Forbidden(SOFTMAX + ["labhelpers.models.NetCNN"], ["labhelpers.images.load_digit"],
                     package_codes("labhelpers"))


def _watch(rules, fn):
    with Guard(rules) as guard:
        try:
            fn()
        except PermissionError:
            pass
    return guard.violations


def _copied_helper():
    """A copy of a labhelpers function made from its source (exec), as a student could make one."""
    viz = importlib.import_module("labhelpers.viz")
    namespace = {}
    exec(compile(inspect.getsource(viz.confusion_matrix), "<copy>", "exec"), dict(vars(viz)), namespace)
    return namespace["confusion_matrix"]


@pytest.mark.parametrize("how,call", [
    ("method", lambda: X.softmax(1)),
    ("function", lambda: torch.softmax(X, 1)),
    ("functional", lambda: F.softmax(X, dim=1)),
    ("getattr with a built name", lambda: getattr(torch, "soft" + "max")(X, 1)),
    ("importlib", lambda: importlib.import_module("torch.nn.functional").softmax(X, 1)),
    ("map from C", lambda: list(map(torch.softmax, [X], [1]))),
    ("functools.partial", lambda: functools.partial(torch.softmax, dim=1)(X)),
    ("ufunc method", lambda: np.add.outer([1, 2], [3])),
    ("a public helper via sys.modules",
     lambda: (importlib.import_module("labhelpers.viz"), sys.modules["labhelpers.viz"].confusion_matrix([0, 1], [0, 1], 2))),
    ("a class of labhelpers.models", lambda: lh.NetCNN()),
])
def test_forbidden_calls_are_caught(rules, how, call):
    assert _watch(rules, call), how


def test_a_copy_of_a_helper_made_with_exec_is_caught(rules):
    copy = _copied_helper()
    assert copy.__code__.co_filename == "<copy>"
    assert "labhelpers.viz.confusion_matrix" in _watch(rules, lambda: copy([0, 1], [0, 1], 2))


def test_honest_code_and_allowed_helpers_pass(rules):
    digit = Path(__file__).resolve().parents[3] / "data" / "mnist_test_images" / "test1.jpg"
    assert _watch(rules, lambda: X.exp() / X.exp().sum(dim=1, keepdim=True)) == []
    assert _watch(rules, lambda: lh.load_digit(digit)) == []                     # allowed, with all it calls
    assert _watch(rules, lambda: lh.NetFF()(torch.zeros(1, 1, 28, 28))) == []  # models given as inputs are fine


@pytest.mark.parametrize("how,call", [
    ("fork", lambda: os.fork()),
    ("switching the profile off", lambda: sys.setprofile(None)),
    ("a thread", lambda: threading.Thread(target=lambda: None).start()),
])
def test_escapes_are_refused_or_caught(rules, how, call):
    with Guard(rules) as guard:
        with pytest.raises(PermissionError) if how != "a thread" else _nothing():
            call()
    assert how != "a thread" or guard.violations


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_guard_is_off_after_the_call(rules):
    with Guard(rules):
        pass
    assert sys.getprofile() is None
    assert torch.softmax(X, 1).shape == X.shape
