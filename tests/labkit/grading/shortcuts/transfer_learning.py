"""Shortcut answers for lab 10: each computes a graded answer through something the student already has
(torchvision's transforms that exercise 1 asks to replace, labhelpers' ImageNet preprocessing, torchvision's
feature extractor instead of a hook), reached through getattr with a built string, importlib or sys.modules.
Every one must score 0 on its exercise (tests/labkit/grading/test_shortcuts.py).

pooled_features and prepare_for_finetuning have no shortcut: no library or labhelpers routine computes them
(the network's own extract_features and layers are the intended tools). finetune_epoch's shortcut is labhelpers'
own epoch loop (lh.train_one_epoch) on a wrapper whose train() keeps the frozen part in evaluation mode."""
import importlib
import sys

import torch

LAB = "10_transfer_learning"


def _tv(module):
    return importlib.import_module("torchvision." + module)


def model_input_via_v2_pipeline(X, size):
    TF = _tv("transforms.v2.functional")
    x = getattr(TF, "to_" + "dtype")(X.unsqueeze(1), torch.float32, scale=True)
    x = getattr(TF, "res" + "ize")(x, [size, size], antialias=True)
    return getattr(TF, "normal" + "ize")(getattr(TF, "grayscale_to_" + "rgb")(x), [0.5] * 3, [0.5] * 3)


def model_input_via_v2_resize_only(X, size):
    x = X.float().div(255).unsqueeze(1)
    x = getattr(_tv("transforms.v2.functional"), "res" + "ize")(x, [size, size], antialias=False)
    return (x.repeat(1, 3, 1, 1) - 0.5) / 0.5


def model_input_via_v1_transforms(X, size):
    T = _tv("transforms")
    pipeline = T.Compose([T.Resize([size, size], antialias=True), T.Normalize([0.5] * 3, [0.5] * 3)])
    return pipeline(X.float().div(255).unsqueeze(1).repeat(1, 3, 1, 1))


def model_input_via_labhelpers_preprocess(X, size):
    imagenet = importlib.import_module("labhelpers.imagenet")
    preprocess = getattr(imagenet, "Pre" + "process")(resize=size, crop=size, mean=(0.5,) * 3, std=(0.5,) * 3)
    return torch.stack([preprocess(x.float().div(255).expand(3, -1, -1)) for x in X])


def capture_via_feature_extractor(model, layer, X):
    name = next(n for n, m in model.named_modules() if m is layer)
    extractor = getattr(sys.modules["torchvision.models.feature_extraction"] if "torchvision.models.feature_extraction"
                        in sys.modules else _tv("models.feature_extraction"), "create_feature_" + "extractor")
    with torch.no_grad():
        return extractor(model, return_nodes=[name])(X)[name]


class _FrozenBottom(torch.nn.Module):
    """``model`` with ``model[:n_frozen]`` frozen; its train() leaves that part in evaluation mode."""

    def __init__(self, model, n_frozen):
        super().__init__()
        self.model, self.n_frozen = model, n_frozen
        model[:n_frozen].requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        self.model[:self.n_frozen].eval()
        return self

    def forward(self, X):
        return self.model(X)


def finetune_via_train_one_epoch(model, n_frozen, train_loader, optimizer, device):
    epoch = getattr(importlib.import_module("labhelpers"), "train_one" + "_epoch")
    return epoch(_FrozenBottom(model, n_frozen), train_loader, optimizer, device,
                 loss_fn=torch.nn.functional.cross_entropy)


SHORTCUTS = {  # exercise -> [(how, answer)]
    "to_model_input": [("torchvision v2 functional pipeline via importlib/getattr", model_input_via_v2_pipeline),
                       ("only TF.resize, the rest by hand", model_input_via_v2_resize_only),
                       ("torchvision v1 Resize and Normalize transforms", model_input_via_v1_transforms),
                       ("labhelpers.imagenet.Preprocess via importlib/getattr", model_input_via_labhelpers_preprocess)],
    "capture_activation": [("torchvision create_feature_extractor via getattr", capture_via_feature_extractor)],
    "finetune_epoch": [("lh.train_one_epoch on a wrapper that keeps the frozen part in eval mode",
                        finetune_via_train_one_epoch)],
}
