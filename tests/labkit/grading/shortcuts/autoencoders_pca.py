"""Shortcut answers for lab 13: each computes a graded answer through a library routine the exercise asks students to
replace (pairwise distances, PCA or an SVD, SciPy's subspace angles), reached through an alias, getattr with a built
string, importlib or sys.modules. Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py)."""
import importlib
import sys

import numpy as np
import torch

LAB = "13_autoencoders_pca"


def distance_ratio_via_cdist(X):
    D = getattr(torch, "cd" + "ist")(X, X)
    nearest = D.masked_fill(torch.eye(len(X), dtype=torch.bool), float("inf")).min(dim=1).values
    return float((nearest / D.max(dim=1).values).mean())


def distance_ratio_via_scipy(X):
    distance = importlib.import_module("scipy.spatial." + "distance")
    D = torch.from_numpy(getattr(distance, "cd" + "ist")(X.numpy(), X.numpy()))
    nearest = D.masked_fill(torch.eye(len(X), dtype=torch.bool), float("inf")).min(dim=1).values
    return float((nearest / D.max(dim=1).values).mean())


def pca_fit_via_sklearn(X, k):
    decomposition = importlib.import_module("sklearn." + "decomposition")
    pca = getattr(decomposition, "P" + "CA")(n_components=k, svd_solver="full").fit(X.numpy())
    return tuple(torch.from_numpy(a) for a in (pca.mean_, pca.components_, pca.explained_variance_))


def pca_fit_via_svd(X, k):
    linalg = sys.modules["torch"].linalg
    mean = X.mean(dim=0)
    _, S, Vh = getattr(linalg, "s" + "vd")(X - mean, full_matrices=False)
    return mean, Vh[:k], S[:k] ** 2 / (len(X) - 1)


def principal_angles_via_scipy(A, B):
    angles = getattr(importlib.import_module("scipy." + "linalg"), "subspace_" + "angles")(A.numpy(), B.numpy())
    return torch.from_numpy(np.degrees(np.sort(angles)))


SHORTCUTS = {  # exercise -> [(how, answer)]
    "distance_ratio": [("torch.cdist via getattr", distance_ratio_via_cdist),
                       ("scipy.spatial.distance.cdist via importlib", distance_ratio_via_scipy)],
    "pca_fit": [("sklearn.decomposition.PCA via importlib", pca_fit_via_sklearn),
                ("torch.linalg.svd via sys.modules", pca_fit_via_svd)],
    "principal_angles": [("scipy.linalg.subspace_angles via importlib", principal_angles_via_scipy)],
}
