"""Tests for labhelpers.checks.transfer_learning: each check passes the reference answer and fails wrong ones."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.transfer_learning import (check_capture_activation, check_pooled_features,
                                        check_prepare_for_finetuning, check_to_model_input,
                                        reference_capture_activation, reference_finetuning,
                                        reference_pooled_features)


def _todo(*args, **kwargs):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def to_model_input(X, size):
    x = X.float().div(255).unsqueeze(1)                                           # (N, 1, 28, 28)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 1, size, size)
    x = x.repeat(1, 3, 1, 1)                                                      # (N, 3, size, size)
    return (x - 0.5) / 0.5


capture_activation, pooled_features, prepare_for_finetuning = (  # the correct answers
    reference_capture_activation, reference_pooled_features, reference_finetuning)


class FakeEfficientNet(nn.Module):
    """The attribute layout of EfficientNet (_conv_stem, _bn0, _blocks, _conv_head, _bn1, _fc), tiny."""

    def __init__(self):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 4, 3)
        self._bn0 = nn.BatchNorm2d(4)
        self._blocks = nn.ModuleList([nn.Conv2d(4, 4, 1) for _ in range(6)])
        self._conv_head = nn.Conv2d(4, 8, 1)
        self._bn1 = nn.BatchNorm2d(8)
        self._fc = nn.Linear(8, 1000)


@pytest.fixture
def fake_net():
    torch.manual_seed(0)
    return FakeEfficientNet()


# ---- check_to_model_input -------------------------------------------------------------------

def test_to_model_input_accepts_reference(capsys):
    assert check_to_model_input(to_model_input) is True
    assert "[OK] to_model_input" in capsys.readouterr().out


def test_to_model_input_accepts_torchvision_resize():
    import torchvision.transforms.v2.functional as TF

    def via_torchvision(X, size):
        x = TF.resize(X.unsqueeze(1).float() / 255, [size, size], antialias=True)
        return TF.normalize(x.expand(-1, 3, -1, -1), [0.5] * 3, [0.5] * 3)
    assert check_to_model_input(via_torchvision) is True


def test_to_model_input_rejects_imagenet_statistics():
    import torchvision.transforms.v2.functional as TF

    def imagenet(X, size):
        x = F.interpolate(X.float().div(255).unsqueeze(1), size=(size, size), mode="bilinear")
        return TF.normalize(x.repeat(1, 3, 1, 1), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert check_to_model_input(imagenet) is False


def test_to_model_input_rejects_missing_normalisation(capsys):
    def unnormalised(X, size):
        return to_model_input(X, size) * 0.5 + 0.5
    assert check_to_model_input(unnormalised) is False
    assert "(x - 0.5) / 0.5" in capsys.readouterr().out


def test_to_model_input_rejects_one_channel(capsys):
    assert check_to_model_input(lambda X, size: to_model_input(X, size)[:, :1]) is False
    assert "RGB" in capsys.readouterr().out


def test_to_model_input_rejects_nearest_neighbour():
    def nearest(X, size):
        x = F.interpolate(X.float().div(255).unsqueeze(1), size=(size, size), mode="nearest")
        return (x.repeat(1, 3, 1, 1) - 0.5) / 0.5
    assert check_to_model_input(nearest) is False


def test_to_model_input_reports_not_implemented(capsys):
    assert check_to_model_input(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_capture_activation ---------------------------------------------------------------

def test_capture_activation_accepts_reference(capsys):
    assert check_capture_activation(capture_activation) is True
    assert "[OK] capture_activation" in capsys.readouterr().out


def test_capture_activation_rejects_final_output():
    def final_output(model, layer, X):
        with torch.no_grad():
            return model(X)
    assert check_capture_activation(final_output) is False


def test_capture_activation_rejects_hook_left_behind(capsys):
    def leaky(model, layer, X):
        stored = {}
        layer.register_forward_hook(lambda module, inputs, output: stored.update(out=output.detach()))
        with torch.no_grad():
            model(X)
        return stored["out"]
    assert check_capture_activation(leaky) is False
    assert "remove" in capsys.readouterr().out


def test_capture_activation_rejects_layer_input():
    def layer_input(model, layer, X):
        stored = {}
        handle = layer.register_forward_hook(lambda module, inputs, output: stored.update(out=inputs[0]))
        with torch.no_grad():
            model(X)
        handle.remove()
        return stored["out"]
    assert check_capture_activation(layer_input) is False


def test_capture_activation_reports_not_implemented(capsys):
    assert check_capture_activation(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_pooled_features ------------------------------------------------------------------

def test_pooled_features_accepts_reference(capsys):
    assert check_pooled_features(pooled_features) is True
    assert "[OK] pooled_features" in capsys.readouterr().out


def test_pooled_features_rejects_training_mode(capsys):
    def train_mode(net, X):
        with torch.no_grad():
            return net.extract_features(X).mean(dim=(2, 3))
    assert check_pooled_features(train_mode) is False
    assert "eval" in capsys.readouterr().out


def test_pooled_features_rejects_max_pooling():
    def max_pooled(net, X):
        net.eval()
        with torch.no_grad():
            return net.extract_features(X).amax(dim=(2, 3))
    assert check_pooled_features(max_pooled) is False


def test_pooled_features_rejects_unpooled_maps():
    def flat(net, X):
        net.eval()
        with torch.no_grad():
            return net.extract_features(X).flatten(1)
    assert check_pooled_features(flat) is False


def test_pooled_features_rejects_gradient_history(capsys):
    def with_grad(net, X):
        net.eval()
        return net.extract_features(X).mean(dim=(2, 3))
    assert check_pooled_features(with_grad) is False
    assert "no_grad" in capsys.readouterr().out


def test_pooled_features_reports_not_implemented(capsys):
    assert check_pooled_features(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_prepare_for_finetuning -----------------------------------------------------------

def test_prepare_for_finetuning_accepts_reference(fake_net, capsys):
    assert check_prepare_for_finetuning(prepare_for_finetuning, fake_net) is True
    assert "[OK] prepare_for_finetuning" in capsys.readouterr().out


def test_prepare_for_finetuning_accepts_reference_on_the_pretrained_model():
    assert check_prepare_for_finetuning(prepare_for_finetuning) is True


def test_prepare_for_finetuning_rejects_changing_the_original(fake_net, capsys):
    def in_place(net, n_blocks, num_classes):
        net._fc = nn.Linear(net._fc.in_features, num_classes)
        return net
    assert check_prepare_for_finetuning(in_place, fake_net) is False
    assert "deepcopy" in capsys.readouterr().out


def test_prepare_for_finetuning_rejects_negative_slice_for_zero_blocks(fake_net):
    def negative_slice(net, n_blocks, num_classes):
        model = copy.deepcopy(net)
        model._fc = nn.Linear(model._fc.in_features, num_classes)
        model.requires_grad_(False)
        for module in [*model._blocks[-n_blocks:], model._conv_head, model._bn1, model._fc]:
            module.requires_grad_(True)
        return model
    assert check_prepare_for_finetuning(negative_slice, fake_net) is False


def test_prepare_for_finetuning_rejects_nothing_frozen(fake_net):
    def all_trainable(net, n_blocks, num_classes):
        model = copy.deepcopy(net)
        model._fc = nn.Linear(model._fc.in_features, num_classes)
        return model
    assert check_prepare_for_finetuning(all_trainable, fake_net) is False


def test_prepare_for_finetuning_rejects_frozen_head_conv(fake_net):
    def head_only(net, n_blocks, num_classes):
        model = prepare_for_finetuning(net, n_blocks, num_classes)
        model._conv_head.requires_grad_(False)
        return model
    assert check_prepare_for_finetuning(head_only, fake_net) is False


def test_prepare_for_finetuning_rejects_wrong_class_count(fake_net):
    assert check_prepare_for_finetuning(lambda net, n, c: prepare_for_finetuning(net, n, 10), fake_net) is False


def test_prepare_for_finetuning_reports_not_implemented(fake_net, capsys):
    assert check_prepare_for_finetuning(_todo, fake_net) is False
    assert "not implemented yet" in capsys.readouterr().out
