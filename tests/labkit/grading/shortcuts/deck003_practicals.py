"""Shortcut answers for lab 12: each computes a graded answer through something the student already has (a
public labhelpers helper or scikit-learn), reached through importlib, getattr with a built string or sys.modules.
Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py).

dense_stack and slide_cnn have no shortcut: no library routine builds the nn.Sequential with the names the
exercises ask for (torchvision.ops.MLP names its layers otherwise, and adds a dropout layer per block)."""
import importlib
import sys

import torch.nn.functional as F

LAB = "12_deck003_practicals"


def _lh():
    return importlib.import_module("labh" + "elpers")


def train_epoch_via_train_one_epoch(model, train_loader, optimizer, device):
    metrics = getattr(_lh(), "train_one" + "_epoch")(model, train_loader, optimizer, device, loss_fn=F.cross_entropy)
    return {"loss": metrics["loss"], "accuracy": metrics["accuracy"] / 100}


def evaluate_model_via_evaluate(model, loader, device):
    metrics = sys.modules["labhelpers.train"].evaluate(model, loader, device, loss_fn=F.cross_entropy)
    return {"loss": metrics["loss"], "accuracy": metrics["accuracy"] / 100}


def standardise_via_standard_scaler(X_train, X_test):
    scaler = getattr(importlib.import_module("sklearn." + "preprocessing"), "Standard" + "Scaler")().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "train_epoch": [("lh.train_one_epoch via importlib/getattr", train_epoch_via_train_one_epoch)],
    "evaluate_model": [("lh.evaluate via sys.modules", evaluate_model_via_evaluate)],
    "standardise": [("StandardScaler via importlib/getattr", standardise_via_standard_scaler)],
}
