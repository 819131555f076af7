"""Tests for labhelpers.imagenet: the offline EfficientNet-Lite0 on scikit-image's photos."""
from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision.models
from PIL import Image
from skimage import data as skdata

from labhelpers.imagenet import (Preprocess, Pretrained, classify, imagenet_classes, load_pretrained,
                                 preprocess_for)

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def model() -> Pretrained:
    return load_pretrained()[0]


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.fromarray(skdata.chelsea())


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return Image.fromarray(skdata.coffee())


def test_imagenet_classes_are_torchvision_names_in_order():
    names = imagenet_classes()
    assert len(names) == 1000
    assert (names[0], names[281], names[967]) == ("tench", "tabby", "espresso")


def test_load_pretrained_returns_eval_model_with_preprocess_and_name(model):
    loaded, preprocess = load_pretrained("efficientnet_lite0")
    assert loaded is model and preprocess is model.preprocess  # cached, not rebuilt
    assert model.name == "efficientnet_lite0" and not model.training


def test_model_maps_batch_to_1000_logits(model):
    with torch.inference_mode():
        logits = model(torch.zeros(2, 3, 224, 224))
    assert logits.shape == (2, 1000)


def test_cat_photo_is_a_cat(model, cat):
    (top,) = classify(cat, model=model, topk=5)
    assert top[0][0] in CATS
    assert {index for index, _, _ in top[:3]} <= CATS
    assert sum(p for index, _, p in top if index in CATS) > 0.8


def test_coffee_photo_is_espresso(model, coffee):
    (top,) = classify(coffee, model=model, topk=1)
    assert top[0][:2] == (ESPRESSO, "espresso")


def test_classify_accepts_path_pil_and_tensor_alike(model, cat, tmp_path):
    cat.save(tmp_path / "cat.png")
    tensor = torch.from_numpy(skdata.chelsea()).permute(2, 0, 1).float() / 255  # (3, H, W)
    results = classify([tmp_path / "cat.png", str(tmp_path / "cat.png"), cat, tensor], model=model, topk=3)
    assert len(results) == 4
    first = [index for index, _, _ in results[0]]
    for result in results[1:]:
        assert [index for index, _, _ in result] == first
        assert abs(result[0][2] - results[0][0][2]) < 1e-4


def test_classify_result_is_sorted_typed_and_topk_long(model, coffee):
    (top,) = classify(coffee, model=model, topk=7)
    assert len(top) == 7
    assert all(isinstance(i, int) and isinstance(n, str) and isinstance(p, float) for i, n, p in top)
    probabilities = [p for _, _, p in top]
    assert probabilities == sorted(probabilities, reverse=True) and probabilities[0] <= 1.0


def test_classify_uses_default_model_when_none(model, coffee):
    assert classify(coffee, topk=1)[0][0][0] == ESPRESSO


@pytest.mark.parametrize("topk", [0, 1001, 2.5, True, "5"])
def test_bad_topk_raises(model, coffee, topk):
    with pytest.raises(ValueError, match="topk"):
        classify(coffee, model=model, topk=topk)


@pytest.mark.parametrize("image, error", [
    (torch.rand(1, 32, 32), ValueError),             # not 3 channels
    (torch.full((3, 32, 32), -2.0), ValueError),     # already normalised
    (torch.zeros(3, 32, 32, dtype=torch.uint8), TypeError),
    (42, TypeError),
])
def test_bad_image_raises(model, image, error):
    with pytest.raises(error):
        classify(image, model=model)


def test_empty_list_raises(model):
    with pytest.raises(ValueError, match="no images"):
        classify([], model=model)


def test_model_without_preprocess_raises(coffee):
    with pytest.raises(TypeError, match="load_pretrained"):
        classify(coffee, model=torch.nn.Linear(3, 3))


def test_unknown_model_name_lists_options():
    with pytest.raises(ValueError, match="resnet18"):
        load_pretrained("resnet_does_not_exist")


def test_torchvision_model_offline_gives_clear_error(monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_network)
    with pytest.raises(RuntimeError, match="internet.*efficientnet_lite0"):
        load_pretrained("squeezenet1_1")


def test_steps_show_each_stage(cat):
    steps = Preprocess(resize=256, crop=224, mean=(0.5,) * 3, std=(0.5,) * 3).steps(cat)
    assert list(steps) == ["original", "resized", "cropped", "normalised"]
    assert steps["original"].shape == (3, 300, 451)
    assert min(steps["resized"].shape[1:]) == 256
    assert steps["cropped"].shape == (3, 224, 224)
    assert torch.allclose(steps["normalised"], (steps["cropped"] - 0.5) / 0.5)


@pytest.mark.parametrize("name", ["resnet18", "inception_v3"])
def test_torchvision_preprocess_matches_weights_transforms(name):
    weights = torchvision.models.get_model_weights(name).DEFAULT
    image = torch.rand(3, 180, 260)
    assert torch.allclose(preprocess_for(weights)(image), weights.transforms()(image), atol=1e-5)
