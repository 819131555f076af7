"""Shortcut answers for lab 02: each computes a graded answer through something the student already has
(a public labhelpers helper or a library routine), reached through an alias, getattr with a built string,
importlib or sys.modules. Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py)."""
import importlib
import sys

import torch

LAB = "02_week13_mnist"


def _lh():
    return importlib.import_module("labh" + "elpers")


def count_correct_via_confusion_matrix(output, target):
    matrix = getattr(_lh(), "confusion_" + "matrix")(target, output.argmax(dim=1), 10)
    return int(torch.as_tensor(matrix).trace())


def predict_digit_via_predict(model, path):
    lh = sys.modules["labhelpers"]
    return int(lh.predict(model, lh.load_digit(path), "cpu")[0][0])


SHORTCUTS = {  # exercise -> [(how, answer)]
    "MyNetCNN": [("alias of lh.NetCNN", getattr(importlib.import_module("labhelpers.models"), "Net" + "CNN"))],
    "count_correct": [("lh.confusion_matrix via importlib/getattr", count_correct_via_confusion_matrix)],
    "predict_digit": [("lh.predict via sys.modules", predict_digit_via_predict)],
}
