"""Tests for benchmarks.recipes: the seed's and the fast recipe, train_recipe, the slide's code path."""
import dataclasses

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from labhelpers.data import TensorLoader, normalize_mnist
from labhelpers.models import NetCNN
from benchmarks.recipes import (PerImageMNIST, Recipe, fast_recipe, make_optimizer, recipe_loaders,
                                seed_loaders, seed_recipe, seed_test, seed_train, train_fast, train_recipe)


def _tiny_images(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (n, 28, 28) images whose label (0 or 1) is which half is bright: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2                                                   # (n,)
    X = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)     # (n, 28, 28)
    X[y == 0, :14] += 200
    X[y == 1, 14:] += 200
    return X, y


def _tiny_loaders(batch_size: int):
    X, y = _tiny_images()
    return (TensorLoader(normalize_mnist(X), y, batch_size, shuffle=True),
            TensorLoader(normalize_mnist(X), y, 1000))


# ---- recipes ---------------------------------------------------------------------------------

def test_seed_recipe_is_the_slide():
    r = seed_recipe("cuda")
    assert (r.batch_size, r.test_batch_size, r.num_epochs, r.optimizer, r.lr, r.momentum) == \
        (32, 1000, 2, "sgd", 0.001, 0.9)
    assert not (r.nesterov or r.one_cycle or r.channels_last or r.amp)


def test_seed_recipe_keeps_float32_math_but_uses_channels_last_on_cpu():
    r = seed_recipe("cpu")
    assert r.channels_last and not r.amp


def test_fast_recipe_settings_per_device():
    cpu, cuda = fast_recipe(60000, "cpu"), fast_recipe(60000, "cuda")
    assert (cpu.batch_size, cpu.optimizer, cpu.one_cycle, cpu.num_epochs) == (256, "adam", True, 1)
    assert cpu.channels_last and not cpu.amp
    assert cuda.amp and not cuda.channels_last


def test_fast_recipe_gives_small_sets_more_epochs():
    assert fast_recipe(4000, "cpu").num_epochs == 4      # 16 batches per epoch -> 64 steps


@pytest.mark.parametrize("bad", [0, -5, 2.5, "4000"])
def test_fast_recipe_rejects_bad_num_train(bad):
    with pytest.raises(ValueError, match="num_train"):
        fast_recipe(bad)


def test_describe_names_the_settings():
    assert seed_recipe("cuda").describe() == "batch 32, SGD lr 0.001 momentum 0.9, 2 epochs"
    assert "channels_last" in fast_recipe(60000, "cpu").describe()


def test_make_optimizer_builds_one_cycle_over_all_steps():
    optimizer, scheduler = make_optimizer(NetCNN(), fast_recipe(60000, "cpu"), steps_per_epoch=235)
    assert isinstance(optimizer, torch.optim.Adam)
    assert scheduler.total_steps == 235


def test_make_optimizer_seed_is_plain_sgd():
    optimizer, scheduler = make_optimizer(NetCNN(), seed_recipe(), steps_per_epoch=10)
    assert isinstance(optimizer, torch.optim.SGD) and scheduler is None
    assert optimizer.defaults["momentum"] == 0.9 and optimizer.defaults["lr"] == 0.001


@pytest.mark.parametrize("recipe", [seed_recipe("cpu"), fast_recipe(60000, "cpu")])
def test_make_optimizer_steps_bit_identically_to_the_plain_optimizer(recipe):
    X, y = _tiny_images(32)
    X = normalize_mnist(X)                                                    # (32, 1, 28, 28)
    models = []
    for fast in (True, False):
        torch.manual_seed(1)
        model = NetCNN()
        if fast:
            optimizer, _ = make_optimizer(model, dataclasses.replace(recipe, one_cycle=False), 10)
        else:
            optimizer = (torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9) if recipe.optimizer == "sgd"
                         else torch.optim.Adam(model.parameters(), lr=recipe.lr))
        for i in range(0, 32, 8):
            optimizer.zero_grad()
            nn.functional.nll_loss(model(X[i:i + 8]), y[i:i + 8]).backward()
            optimizer.step()
        models.append(model)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(p, q)


def test_make_optimizer_rejects_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer(NetCNN(), dataclasses.replace(seed_recipe(), optimizer="rmsprop"), 10)


def test_recipe_loaders_use_the_recipe_batch_sizes():
    train_loader, test_loader = recipe_loaders(fast_recipe(), source="offline", train_size=300,
                                               test_size=100, device="cpu", verbose=False)
    assert train_loader.batch_size == 256 and test_loader.batch_size == 1000
    assert len(train_loader.dataset) == 300


# ---- train_recipe ----------------------------------------------------------------------------

def test_train_recipe_reports_counts_and_learns():
    torch.manual_seed(0)
    recipe = dataclasses.replace(fast_recipe(48, "cpu"), batch_size=16, num_epochs=3)
    train_loader, test_loader = _tiny_loaders(16)
    result = train_recipe(NetCNN(), train_loader, test_loader, recipe, "cpu")
    assert result["images"] == 3 * 48 and result["steps"] == 9
    assert [e["step"] for e in result["evals"]] == [3, 6, 9]       # one evaluation per epoch
    assert result["final_accuracy"] > 90


def test_train_recipe_finds_time_to_target_and_can_stop_there():
    recipe = dataclasses.replace(seed_recipe(), batch_size=16, num_epochs=2)
    result = train_recipe(NetCNN(), *_tiny_loaders(16), recipe, "cpu", eval_every=2,
                          target_accuracy=0.0, stop_at_target=True)
    assert result["images_to_target"] == 32 and result["steps"] == 2
    assert result["seconds_to_target"] == result["evals"][0]["seconds"]


def test_train_recipe_unreached_target_is_none():
    recipe = dataclasses.replace(seed_recipe(), batch_size=16, num_epochs=1)
    result = train_recipe(NetCNN(), *_tiny_loaders(16), recipe, "cpu", target_accuracy=101.0)
    assert result["seconds_to_target"] is None and result["images_to_target"] is None


def test_train_recipe_rejects_mismatched_batch_size():
    with pytest.raises(ValueError, match="recipe_loaders"):
        train_recipe(NetCNN(), *_tiny_loaders(16), seed_recipe(), "cpu")


def test_train_recipe_puts_the_model_in_channels_last():
    model = NetCNN()
    recipe = dataclasses.replace(fast_recipe(48, "cpu"), batch_size=16, num_epochs=1)
    train_recipe(model, *_tiny_loaders(16), recipe, "cpu")
    assert model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.conv2.weight.is_contiguous()


def test_train_fast_sizes_the_recipe_to_the_data():
    train_loader, test_loader = _tiny_loaders(256)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 26 * 26, 2), nn.LogSoftmax(dim=1))
    result = train_fast(model, train_loader, test_loader, "cpu")
    assert result["recipe"]["num_epochs"] == 64 and result["images"] == 64 * 48
    assert isinstance(Recipe(**result["recipe"]), Recipe)


# ---- the slide's code path -------------------------------------------------------------------

def test_per_image_transform_matches_normalize_mnist():
    X, y = _tiny_images(8)
    train_loader, _ = seed_loaders(X, y, X, y, batch_size=8)
    dataset = train_loader.dataset
    per_image = torch.stack([dataset[i][0] for i in range(8)])    # (8, 1, 28, 28)
    torch.testing.assert_close(per_image, normalize_mnist(X), rtol=0, atol=1e-5)
    assert [dataset[i][1] for i in range(8)] == y.tolist()


def test_slide_path_and_tensor_path_train_bit_identically_in_the_same_order():
    X, y = _tiny_images(64)
    train_loader, _ = seed_loaders(X, y, X, y, batch_size=16)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    X_norm = normalize_mnist(X)                                                # (64, 1, 28, 28)
    models = []
    for batches in (DataLoader(train_loader.dataset, batch_size=16, sampler=order.tolist()),
                    [(X_norm[order[i:i + 16]], y[order[i:i + 16]]) for i in range(0, 64, 16)]):
        torch.manual_seed(1)
        model = NetCNN()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
        for X_batch, y_batch in batches:
            optimizer.zero_grad()
            nn.functional.nll_loss(model(X_batch), y_batch).backward()
            optimizer.step()
        models.append(model)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(p, q)


def test_per_image_dataset_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        PerImageMNIST(torch.zeros(4, 28, 28), torch.zeros(4))


def test_seed_train_and_test_run_and_save(tmp_path, capsys):
    X, y = _tiny_images(40)
    train_loader, test_loader = seed_loaders(X, y, X, y, batch_size=8, test_batch_size=20)
    model = NetCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    seed_train(model, torch.device("cpu"), train_loader, optimizer, 1, 2, tmp_path / "w.pth")
    accuracy = seed_test(model, torch.device("cpu"), test_loader)
    out = capsys.readouterr().out
    assert "Train Epoch: 1 [0/40 (0%)]" in out and "Test: Average loss:" in out
    assert (tmp_path / "w.pth").is_file() and 0.0 <= accuracy <= 100.0
