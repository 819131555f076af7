"""Tests for labhelpers.checks.transfer_learning: each check passes a correct answer and fails wrong ones.

The checks compare with the solution's stored answers (labhelpers/checks/expected/10_transfer_learning.json),
so these tests also prove that the stored file is current and right. (Missing, raising and None answers,
and skipping while graded, are covered for every check by test_contract.py.)
"""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.transfer_learning import (check_capture_activation, check_finetune_epoch, check_pooled_features,
                                                 check_prepare_for_finetuning, check_to_model_input)


# ---- correct answers (what the solution notebook does) --------------------------------------

def to_model_input(X, size):
    x = X.float().div(255).unsqueeze(1)                                           # (N, 1, 28, 28)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 1, size, size)
    x = x.repeat(1, 3, 1, 1)                                                      # (N, 3, size, size)
    return (x - 0.5) / 0.5


def capture_activation(model, layer, X):
    captured = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(out=output.detach()))
    try:
        with torch.no_grad():
            model(X)
    finally:
        handle.remove()
    return captured["out"]


def pooled_features(net, X):
    net.eval()
    with torch.no_grad():
        return net.extract_features(X).mean(dim=(2, 3))


def prepare_for_finetuning(net, n_blocks, num_classes):
    model = copy.deepcopy(net)
    model._fc = nn.Linear(model._fc.in_features, num_classes)
    model.requires_grad_(False)
    for module in [*model._blocks[len(model._blocks) - n_blocks:], model._conv_head, model._bn1, model._fc]:
        module.requires_grad_(True)
    return model


# ---- check_to_model_input -------------------------------------------------------------------

def test_to_model_input_accepts_a_correct_answer(capsys):
    assert check_to_model_input(to_model_input) is True
    assert "[OK] to_model_input" in capsys.readouterr().out


def test_to_model_input_accepts_an_antialiased_torchvision_resize():
    import torchvision.transforms.v2.functional as TF

    def via_torchvision(X, size):
        x = TF.resize(X.unsqueeze(1).float() / 255, [size, size], antialias=True)
        return TF.normalize(x.expand(-1, 3, -1, -1), [0.5] * 3, [0.5] * 3)
    assert check_to_model_input(via_torchvision) is True


def test_to_model_input_accepts_a_pil_resize():
    import numpy as np
    from PIL import Image

    def via_pil(X, size):
        images = [np.asarray(Image.fromarray(x.numpy()).resize((size, size), Image.BILINEAR)) for x in X]
        x = torch.from_numpy(np.stack(images)).float().div(255).unsqueeze(1)
        return (x.repeat(1, 3, 1, 1) - 0.5) / 0.5
    assert check_to_model_input(via_pil) is True


def test_to_model_input_rejects_imagenet_statistics(capsys):
    import torchvision.transforms.v2.functional as TF

    def imagenet(X, size):
        x = F.interpolate(X.float().div(255).unsqueeze(1), size=(size, size), mode="bilinear")
        return TF.normalize(x.repeat(1, 3, 1, 1), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert check_to_model_input(imagenet) is False
    assert "ImageNet normalisation" in capsys.readouterr().out


def test_to_model_input_rejects_missing_normalisation(capsys):
    assert check_to_model_input(lambda X, size: to_model_input(X, size) * 0.5 + 0.5) is False
    assert "(x - 0.5) / 0.5" in capsys.readouterr().out


def test_to_model_input_rejects_0_255_values(capsys):
    assert check_to_model_input(lambda X, size: (to_model_input(X, size) * 0.5 + 0.5) * 255) is False
    assert "divide by 255" in capsys.readouterr().out


def test_to_model_input_rejects_one_channel(capsys):
    assert check_to_model_input(lambda X, size: to_model_input(X, size)[:, :1]) is False
    assert "RGB" in capsys.readouterr().out


def test_to_model_input_rejects_different_channels(capsys):
    def tinted(X, size):
        x = to_model_input(X, size).clone()
        x[:, 1] = x[:, 1] * 0.5
        return x
    assert check_to_model_input(tinted) is False
    assert "same grey image" in capsys.readouterr().out


def test_to_model_input_rejects_nearest_neighbour(capsys):
    def nearest(X, size):
        x = F.interpolate(X.float().div(255).unsqueeze(1), size=(size, size), mode="nearest")
        return (x.repeat(1, 3, 1, 1) - 0.5) / 0.5
    assert check_to_model_input(nearest) is False
    assert "bilinear" in capsys.readouterr().out


def test_to_model_input_rejects_an_integer_result(capsys):
    assert check_to_model_input(lambda X, size: X.unsqueeze(1).repeat(1, 3, 1, 1)) is False
    assert "float" in capsys.readouterr().out


def test_to_model_input_rejects_changing_x_in_place(capsys):
    def in_place(X, size):
        out = to_model_input(X, size)
        X.zero_()
        return out
    assert check_to_model_input(in_place) is False
    assert "modified in place" in capsys.readouterr().out


# ---- check_capture_activation ---------------------------------------------------------------

def test_capture_activation_accepts_a_correct_answer(capsys):
    assert check_capture_activation(capture_activation) is True
    assert "[OK] capture_activation" in capsys.readouterr().out


def test_capture_activation_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_capture_activation(capture_activation)
    assert torch.equal(torch.get_rng_state(), state)


def test_capture_activation_rejects_final_output(capsys):
    def final_output(model, layer, X):
        with torch.no_grad():
            return model(X)
    assert check_capture_activation(final_output) is False
    assert "final output" in capsys.readouterr().out


def test_capture_activation_rejects_hook_left_behind(capsys):
    def leaky(model, layer, X):
        captured = {}
        layer.register_forward_hook(lambda module, inputs, output: captured.update(out=output.detach()))
        with torch.no_grad():
            model(X)
        return captured["out"]
    assert check_capture_activation(leaky) is False
    assert "remove" in capsys.readouterr().out


def test_capture_activation_rejects_layer_input(capsys):
    def layer_input(model, layer, X):
        captured = {}
        handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(out=inputs[0]))
        with torch.no_grad():
            model(X)
        handle.remove()
        return captured["out"]
    assert check_capture_activation(layer_input) is False
    assert "layer's input" in capsys.readouterr().out


def test_capture_activation_rejects_gradient_history(capsys):
    def with_grad(model, layer, X):
        captured = {}
        handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(out=output))
        model(X)
        handle.remove()
        return captured["out"]
    assert check_capture_activation(with_grad) is False
    assert "no_grad" in capsys.readouterr().out


# ---- check_pooled_features ------------------------------------------------------------------

def test_pooled_features_accepts_a_correct_answer(capsys):
    assert check_pooled_features(pooled_features) is True
    assert "[OK] pooled_features" in capsys.readouterr().out


def test_pooled_features_accepts_adaptive_average_pooling():
    def adaptive(net, X):
        net.eval()
        with torch.no_grad():
            return F.adaptive_avg_pool2d(net.extract_features(X), 1).flatten(1)
    assert check_pooled_features(adaptive) is True


def test_pooled_features_rejects_training_mode(capsys):
    def train_mode(net, X):
        with torch.no_grad():
            return net.extract_features(X).mean(dim=(2, 3))
    assert check_pooled_features(train_mode) is False
    assert "net.eval()" in capsys.readouterr().out


def test_pooled_features_rejects_max_pooling(capsys):
    def max_pooled(net, X):
        net.eval()
        with torch.no_grad():
            return net.extract_features(X).amax(dim=(2, 3))
    assert check_pooled_features(max_pooled) is False
    assert "average" in capsys.readouterr().out


def test_pooled_features_rejects_unpooled_maps(capsys):
    def flat(net, X):
        net.eval()
        with torch.no_grad():
            return net.extract_features(X).flatten(1)
    assert check_pooled_features(flat) is False
    assert "shape" in capsys.readouterr().out


def test_pooled_features_rejects_the_classifier_output():
    def logits(net, X):
        net.eval()
        with torch.no_grad():
            return net(X)
    assert check_pooled_features(logits) is False


def test_pooled_features_rejects_gradient_history(capsys):
    def with_grad(net, X):
        net.eval()
        return net.extract_features(X).mean(dim=(2, 3))
    assert check_pooled_features(with_grad) is False
    assert "no_grad" in capsys.readouterr().out


# ---- check_prepare_for_finetuning -----------------------------------------------------------

def test_prepare_for_finetuning_accepts_a_correct_answer(capsys):
    assert check_prepare_for_finetuning(prepare_for_finetuning) is True
    assert "[OK] prepare_for_finetuning" in capsys.readouterr().out


def test_prepare_for_finetuning_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_prepare_for_finetuning(lambda net, n, c: copy.deepcopy(net))
    assert torch.equal(torch.get_rng_state(), state)


def test_prepare_for_finetuning_rejects_changing_the_original(capsys):
    def in_place(net, n_blocks, num_classes):
        net._fc = nn.Linear(net._fc.in_features, num_classes)
        return net
    assert check_prepare_for_finetuning(in_place) is False
    assert "deepcopy" in capsys.readouterr().out


def test_prepare_for_finetuning_rejects_freezing_the_original(capsys):
    def frozen_original(net, n_blocks, num_classes):
        net.requires_grad_(False)
        return prepare_for_finetuning(net, n_blocks, num_classes)
    assert check_prepare_for_finetuning(frozen_original) is False
    assert "left unchanged" in capsys.readouterr().out


def test_prepare_for_finetuning_rejects_negative_slice_for_zero_blocks(capsys):
    def negative_slice(net, n_blocks, num_classes):
        model = copy.deepcopy(net)
        model._fc = nn.Linear(model._fc.in_features, num_classes)
        model.requires_grad_(False)
        for module in [*model._blocks[-n_blocks:], model._conv_head, model._bn1, model._fc]:
            module.requires_grad_(True)
        return model
    assert check_prepare_for_finetuning(negative_slice) is False
    out = capsys.readouterr().out
    assert "n_blocks=0" in out and "[-0:]" in out


def test_prepare_for_finetuning_rejects_nothing_frozen(capsys):
    def all_trainable(net, n_blocks, num_classes):
        model = copy.deepcopy(net)
        model._fc = nn.Linear(model._fc.in_features, num_classes)
        return model
    assert check_prepare_for_finetuning(all_trainable) is False
    assert "should be frozen" in capsys.readouterr().out


def test_prepare_for_finetuning_rejects_frozen_head_conv(capsys):
    def head_only(net, n_blocks, num_classes):
        model = prepare_for_finetuning(net, n_blocks, num_classes)
        model._conv_head.requires_grad_(False)
        return model
    assert check_prepare_for_finetuning(head_only) is False
    assert "should train: ['_conv_head.weight']" in capsys.readouterr().out


def test_prepare_for_finetuning_rejects_wrong_class_count(capsys):
    assert check_prepare_for_finetuning(lambda net, n, c: prepare_for_finetuning(net, n, 10)) is False
    assert "Linear(1280, 5)" in capsys.readouterr().out


def test_prepare_for_finetuning_rejects_changed_weights(capsys):
    def reinitialised(net, n_blocks, num_classes):
        model = prepare_for_finetuning(net, n_blocks, num_classes)
        with torch.no_grad():
            model._conv_head.weight.zero_()
        return model
    assert check_prepare_for_finetuning(reinitialised) is False
    assert "pretrained weights kept" in capsys.readouterr().out



# ---- check_finetune_epoch -----------------------------------------------------------------------

def finetune_epoch(model, n_frozen, train_loader, optimizer, device, mistake=None):
    """The solution's epoch, or the same epoch with one classic ``mistake``."""
    frozen = model[:n_frozen]
    if mistake != "no train()":
        model.train()
    if mistake != "not frozen":
        frozen.requires_grad_(False)
    if mistake != "frozen part left training":
        frozen.eval()
    total, correct, seen = 0.0, 0, 0
    for X, y in train_loader:
        X, y = X.to(device), y.to(device)
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        y_hat = model(X)
        loss = F.cross_entropy(y_hat, y, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        if mistake == "loss tensor":
            total = total + loss * len(y)
        else:
            total += loss.item() * (1 if mistake == "mean over batches" else len(y))
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
    batches = -(-seen // train_loader.batch_size)
    return {"loss": total / (batches if mistake == "mean over batches" else seen), "accuracy": 100.0 * correct / seen}


def test_finetune_epoch_accepts_a_correct_answer(capsys):
    assert check_finetune_epoch(finetune_epoch) is True
    assert "[OK] finetune_epoch" in capsys.readouterr().out


def test_finetune_epoch_accepts_the_frozen_part_run_without_autograd():
    def no_grad_features(model, n_frozen, train_loader, optimizer, device):
        model.train()
        model[:n_frozen].eval()
        total, correct, seen = 0.0, 0, 0
        for X, y in train_loader:
            optimizer.zero_grad()
            with torch.no_grad():
                features = model[:n_frozen](X)
            y_hat = model[n_frozen:](features)
            loss = F.cross_entropy(y_hat, y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            correct += int((y_hat.argmax(dim=1) == y).sum())
            seen += len(y)
        return {"loss": total / seen, "accuracy": 100.0 * correct / seen}
    assert check_finetune_epoch(no_grad_features) is True


@pytest.mark.parametrize("mistake,words", [
    ("not frozen", "freeze the pretrained part"),
    ("frozen part left training", "the frozen part ran in training mode"),
    ("no train()", "call model.train()"),
    ("no zero_grad", "pile up"),
    ("summed loss", "not its sum"),
    ("loss tensor", "loss.item()"),
    ("mean over batches", "weight each batch's loss by its size"),
])
def test_finetune_epoch_names_each_classic_mistake(mistake, words, capsys):
    assert check_finetune_epoch(lambda *args: finetune_epoch(*args, mistake=mistake)) is False
    assert words in capsys.readouterr().out


def test_finetune_epoch_rejects_a_hard_coded_result(capsys):
    assert check_finetune_epoch(lambda *args: {"loss": 1.4, "accuracy": 25.0}) is False
    assert "optimizer steps" in capsys.readouterr().out


def test_finetune_epoch_leaves_global_random_state_alone():
    torch.manual_seed(0)
    check_finetune_epoch(finetune_epoch)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
