"""Shortcut answers for lab 02: each computes a graded answer through something the student already has
(a public labhelpers helper or a library routine), reached through an alias, getattr with a built string,
importlib or sys.modules. Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py)."""
import importlib
import sys

import numpy as np

LAB = "02_week13_mnist"


def _lh():
    return importlib.import_module("labh" + "elpers")


def train_via_train_one_epoch(model, device, train_loader, optimizer, epoch, log_interval):
    return getattr(_lh(), "train_one_" + "epoch")(model, train_loader, optimizer, device)


def test_via_evaluate(model, device, test_loader):
    return sys.modules["labhelpers.train"].evaluate(model, test_loader, device)


def correct_per_class_via_confusion_matrix(output, target):
    matrix = getattr(_lh(), "confusion_" + "matrix")(target, output.argmax(dim=1), output.shape[1])
    return [int(v) for v in np.diag(matrix)]


def correct_per_class_via_sklearn(output, target):
    metrics = importlib.import_module("sklearn." + "metrics")
    matrix = metrics.confusion_matrix(target.numpy(), output.argmax(dim=1).numpy(), labels=list(range(10)))
    return [int(v) for v in np.diag(matrix)]


def predict_digit_via_predict(model, path):
    lh = sys.modules["labhelpers"]
    return int(lh.predict(model, lh.load_digit(path), "cpu")[0][0])


importlib.import_module("labhelpers.train")  # sys.modules holds it, as in a notebook that used lh.fit
SHORTCUTS = {  # exercise -> [(how, answer)]
    "train": [("lh.train_one_epoch via importlib/getattr", train_via_train_one_epoch)],
    "test": [("lh.evaluate via sys.modules", test_via_evaluate)],
    "correct_per_class": [("lh.confusion_matrix via importlib/getattr", correct_per_class_via_confusion_matrix),
                          ("sklearn's confusion_matrix via importlib", correct_per_class_via_sklearn)],
    "predict_digit": [("lh.predict via sys.modules", predict_digit_via_predict)],
}
