"""Shortcut answers for lab 03: each computes a graded answer through something the student already has
(a public labhelpers helper: imagenet_classes, classify, predict, Preprocess; or torchvision's own ImageNet
preprocessing), reached through an alias, getattr with a built string, importlib or sys.modules. Every one
must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py).

read_class_names has no shortcut: the hidden tests read CSV files of random names that no helper knows
(the exercise asks for Python's csv module, which any answer may use).
"""
import importlib
import sys

import torch
import torch.nn as nn

LAB = "03_week13_imagenet"


def _lh():
    return importlib.import_module("labh" + "elpers")


def is_cat_via_class_names(index):
    names = getattr(_lh(), "imagenet_" + "classes")()
    return names.index("tabby") <= index <= names.index("Egyptian cat")


class _Passthrough(nn.Module):
    """A "model" whose output is its input: lh.classify and lh.predict then softmax the logits given."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))         # classify asks the model for its device
        self.preprocess = lambda x: x

    def forward(self, X):
        return X


def top5_via_classify(logits):
    classify = getattr(importlib.import_module("labhelpers.imagenet"), "class" + "ify")
    return [(i, p) for i, _, p in classify(logits, _Passthrough(), topk=5)[0]]


def top5_via_predict(logits):
    _, probs = sys.modules["labhelpers"].predict(_Passthrough(), logits[None], "cpu")   # (1, 1000)
    values, indices = probs[0].topk(5)
    return [(int(i), float(p)) for i, p in zip(indices, values)]


def preprocess_image_via_preprocess(image, mean, std):
    Preprocess = getattr(importlib.import_module("labhelpers.imagenet"), "Pre" + "process")
    return Preprocess(256, 224, mean, std)(image)


def preprocess_image_via_weights_transforms(image, mean, std):
    weights = importlib.import_module("torchvision.models").ResNet18_Weights.IMAGENET1K_V1
    return weights.transforms(resize_size=256, mean=tuple(mean), std=tuple(std))(image)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "is_cat": [("lh.imagenet_classes via getattr", is_cat_via_class_names)],
    "top5": [("lh.classify with a pass-through model", top5_via_classify),
             ("lh.predict via sys.modules", top5_via_predict)],
    "preprocess_image": [("lh.imagenet.Preprocess via importlib", preprocess_image_via_preprocess),
                         ("torchvision weights.transforms() (ImageClassification)", preprocess_image_via_weights_transforms)],
}
