"""Tests for labhelpers.checks.week13_mnist: each check passes a correct answer and fails wrong ones.

The checks compare with the solution's stored answers (labhelpers/checks/expected/02_week13_mnist.json),
so these tests also prove that the stored file is current and right.
"""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.week13_mnist import (check_correct_per_class, check_flat_size, check_padded_net_cnn,
                                            check_predict_digit, check_test, check_train)
from labhelpers.images import load_digit

DIGITS = Path(__file__).resolve().parents[3] / "data" / "mnist_test_images"


def _todo(*args, **kwargs):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def flat_size(image_size):
    side = ((image_size - 4) // 2 - 4) // 2
    return 50 * side * side


class PaddedNetCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1, padding=2)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(5 * 5 * 50, 500)
        self.fc2 = nn.Linear(500, 10)

    def body(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = x.view(-1, 5 * 5 * 50)
        return self.fc2(F.relu(self.fc1(x)))

    def forward(self, x):
        return F.log_softmax(self.body(x), dim=1)


def train(model, device, train_loader, optimizer, epoch, log_interval, mistake=None):
    """The slide's train() returning its metrics; ``mistake`` makes one of the classic ones."""
    if mistake != "no train()":
        model.train()
    total, correct, seen, batches = 0.0, 0, 0, 0
    for batch_idx, (data, target) in enumerate(train_loader):
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        output = model(data.to(device))
        loss = F.nll_loss(output, target, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        if mistake == "loss tensor":
            total = total + loss * len(target)
        else:
            total += loss.item() * (1 if mistake == "mean over batches" else len(target))
        correct += (output.argmax(dim=1) == target).sum().item()
        seen, batches = seen + len(target), batches + 1
        if batch_idx % log_interval == 0:
            print("Train Epoch:", epoch, loss.item())
    accuracy = correct / seen if mistake == "fraction" else 100.0 * correct / seen
    return {"loss": total / (batches if mistake == "mean over batches" else seen), "accuracy": accuracy}


def evaluate_loop(model, device, test_loader, mistake=None):
    """The slide's test() returning its metrics; ``mistake`` makes one of the classic ones."""
    if mistake != "no eval()":
        model.eval()
    total, correct = 0.0, 0
    with torch.enable_grad() if mistake == "under autograd" else torch.no_grad():
        for data, target in test_loader:
            output = model(data.to(device))
            loss = F.nll_loss(output, target, reduction="mean" if mistake in ("mean reduction", "mean over batches")
                              else "sum")
            total = total + (loss if mistake == "loss tensor" else loss.item())
            correct += (output.argmax(dim=1) == target).sum().item()
    n = len(test_loader.dataset)
    accuracy = correct / n if mistake == "fraction" else 100.0 * correct / n
    return {"loss": total / (len(test_loader) if mistake == "mean over batches" else n), "accuracy": accuracy}


def correct_per_class(output, target):
    right = target[output.argmax(dim=1) == target]
    return torch.bincount(right, minlength=10).tolist()


def predict_digit(model, path):
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return int(model(load_digit(path).to(device)).argmax(dim=1).item())


# ---- not implemented yet: every check says so and returns False ------------------------------

@pytest.mark.parametrize("check", [check_flat_size, check_correct_per_class, check_train, check_test])
def test_checks_report_not_implemented(check, capsys):
    assert check(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_padded_net_cnn_reports_not_implemented(capsys):
    class Todo(nn.Module):
        def __init__(self):
            super().__init__()
            raise NotImplementedError
    assert check_padded_net_cnn(Todo) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_predict_digit_reports_not_implemented(capsys):
    assert check_predict_digit(_todo, DIGITS) is False
    assert "not implemented yet" in capsys.readouterr().out


# ---- check_flat_size ------------------------------------------------------------------------

def test_flat_size_accepts_reference(capsys):
    assert check_flat_size(flat_size) is True
    assert "[OK] flat_size" in capsys.readouterr().out


def test_flat_size_rejects_missing_channels(capsys):
    assert check_flat_size(lambda n: flat_size(n) // 50) is False
    assert "50 channels" in capsys.readouterr().out


def test_flat_size_rejects_float_result(capsys):
    assert check_flat_size(lambda n: 50 * (((n - 4) / 2 - 4) / 2) ** 2) is False
    assert "return an int" in capsys.readouterr().out


def test_flat_size_rejects_hard_coded_800():
    assert check_flat_size(lambda n: 800) is False


# ---- check_padded_net_cnn -------------------------------------------------------------------

def test_padded_net_cnn_accepts_reference(capsys):
    assert check_padded_net_cnn(PaddedNetCNN) is True
    assert "[OK] PaddedNetCNN" in capsys.readouterr().out


def test_padded_net_cnn_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_padded_net_cnn(PaddedNetCNN)
    assert torch.equal(torch.get_rng_state(), state)


def test_padded_net_cnn_accepts_layers_defined_in_another_order(capsys):
    class Reordered(PaddedNetCNN):
        def __init__(self):
            nn.Module.__init__(self)
            self.fc2 = nn.Linear(500, 10)
            self.fc1 = nn.Linear(1250, 500)
            self.conv2 = nn.Conv2d(20, 50, 5, 1)
            self.conv1 = nn.Conv2d(1, 20, 5, 1, padding=2)
    assert check_padded_net_cnn(Reordered) is True


def test_padded_net_cnn_rejects_netcnn_s_fc1(capsys):
    class Unchanged(PaddedNetCNN):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(800, 500)
    assert check_padded_net_cnn(Unchanged) is False
    assert "800 inputs" in capsys.readouterr().out


def test_padded_net_cnn_rejects_padding_in_the_wrong_layer(capsys):
    class Conv2Padded(PaddedNetCNN):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 5, 1)
            self.conv2 = nn.Conv2d(20, 50, 5, 1, padding=2)
    assert check_padded_net_cnn(Conv2Padded) is False
    assert "padding (2, 2)" in capsys.readouterr().out


def test_padded_net_cnn_rejects_raw_scores(capsys):
    class Raw(PaddedNetCNN):
        def forward(self, x):
            return self.body(x)
    assert check_padded_net_cnn(Raw) is False
    assert "log-probabilities" in capsys.readouterr().out


def test_padded_net_cnn_rejects_missing_relu(capsys):
    class NoRelu(PaddedNetCNN):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
            return F.log_softmax(self.fc2(self.fc1(x.view(-1, 1250))), dim=1)
    assert check_padded_net_cnn(NoRelu) is False
    assert "NetCNN's order" in capsys.readouterr().out


def test_padded_net_cnn_rejects_a_flatten_that_mixes_images(capsys):
    class BadView(PaddedNetCNN):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
            x = x.reshape(-1, 250)[:, :1250 // 5]  # wrong rows: fc1 then fails
            return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)
    assert check_padded_net_cnn(BadView) is False
    assert "your code raised" in capsys.readouterr().out


# ---- check_train ----------------------------------------------------------------------------

def _with(fn, mistake):
    return lambda *args: fn(*args, mistake=mistake)


def test_train_accepts_reference(capsys):
    assert check_train(train) is True
    out = capsys.readouterr().out
    assert "[OK] train" in out and "Train Epoch" not in out      # the loop's log lines stay out of the check


def test_train_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_train(train)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("mistake,words", [
    ("no zero_grad", "optimizer.zero_grad()"),
    ("no train()", "model.train()"),
    ("loss tensor", "loss.item()"),
    ("summed loss", "mean over the batch"),
    ("mean over batches", "divide by the images seen"),
    ("fraction", "in percent"),
])
def test_train_names_the_mistake(mistake, words, capsys):
    assert check_train(_with(train, mistake)) is False
    assert words in capsys.readouterr().out


def test_train_rejects_a_tuple(capsys):
    assert check_train(lambda *args: tuple(train(*args).values())) is False
    assert "a dict with the keys" in capsys.readouterr().out


def test_train_reports_an_error_raised_inside_the_loop(capsys):
    def broken(model, device, train_loader, optimizer, epoch, log_interval):
        print("Train Epoch: 1 [0/70]")
        raise ValueError("a bug in the loop")
    assert check_train(broken) is False
    out = capsys.readouterr().out
    assert "your code raised ValueError: a bug in the loop" in out and "Train Epoch" not in out


# ---- check_test -----------------------------------------------------------------------------

def test_test_accepts_reference(capsys):
    assert check_test(evaluate_loop) is True
    assert "[OK] test" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [
    ("no eval()", "model.eval()"),
    ("under autograd", "torch.no_grad()"),
    ("loss tensor", "loss.item()"),
    ("mean reduction", "reduction='sum'"),
    ("mean over batches", "not by the number of batches"),
    ("fraction", "in percent"),
])
def test_test_names_the_mistake(mistake, words, capsys):
    assert check_test(_with(evaluate_loop, mistake)) is False
    assert words in capsys.readouterr().out


def test_test_rejects_a_loop_that_trains(capsys):
    def trains(model, device, test_loader):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model.eval()
        with torch.no_grad():
            result = evaluate_loop(model, device, test_loader)
        for data, target in test_loader:
            optimizer.zero_grad()
            F.nll_loss(model(data), target).backward()   # under autograd: caught first
            optimizer.step()
        return result
    assert check_test(trains) is False
    assert "[FAIL] test" in capsys.readouterr().out


# ---- check_correct_per_class ----------------------------------------------------------------

def test_correct_per_class_accepts_reference(capsys):
    assert check_correct_per_class(correct_per_class) is True
    assert "[OK] correct_per_class" in capsys.readouterr().out


def test_correct_per_class_accepts_a_tensor_and_an_explicit_loop():
    assert check_correct_per_class(lambda o, t: torch.bincount(t[o.argmax(1) == t], minlength=10)) is True
    assert check_correct_per_class(lambda o, t: [int(((o.argmax(1) == t) & (t == c)).sum()) for c in range(10)])


@pytest.mark.parametrize("answer,words", [
    (lambda o, t: torch.bincount(t[o.argmax(1) == t]).tolist(), "minlength"),
    (lambda o, t: torch.bincount(t, minlength=10).tolist(), "every image of each class"),
    (lambda o, t: torch.bincount(o.argmax(1), minlength=10).tolist(), "predictions of each class"),
    (lambda o, t: [int(((o.argmax(1, keepdim=True) == t) & (t == c)).sum()) for c in range(10)], "broadcasts"),
    (lambda o, t: (torch.bincount(t[o.argmax(1) == t], minlength=10) / len(t)).tolist(), "not fractions"),
])
def test_correct_per_class_names_the_mistake(answer, words, capsys):
    assert check_correct_per_class(answer) is False
    assert words in capsys.readouterr().out


# ---- check_predict_digit --------------------------------------------------------------------

def test_predict_digit_accepts_a_correct_answer(capsys):
    assert check_predict_digit(predict_digit, DIGITS) is True
    assert "[OK] predict_digit" in capsys.readouterr().out


def test_predict_digit_rejects_wrong_digit(capsys):
    assert check_predict_digit(lambda m, p: (predict_digit(m, p) + 1) % 10, DIGITS) is False
    assert "[FAIL] predict_digit" in capsys.readouterr().out


def test_predict_digit_rejects_a_probability(capsys):
    def probability(m, p):
        with torch.no_grad():
            return float(m(load_digit(p)).exp().max())
    assert check_predict_digit(probability, DIGITS) is False
    assert "Python int" in capsys.readouterr().out


def test_predict_digit_needs_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .jpg images"):
        check_predict_digit(predict_digit, tmp_path)


def test_predict_digit_cannot_check_other_images(tmp_path, capsys):
    """Stored answers belong to the lab's own 20 images: another folder is reported, not compared."""
    for path in sorted(DIGITS.glob("*.jpg"))[:3]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert check_predict_digit(predict_digit, tmp_path) is False
    assert "cannot run" in capsys.readouterr().out
