"""Tests for labhelpers.checks.week13_mnist: each check passes a correct answer and fails wrong ones.

The checks compare with the solution's stored answers (labhelpers/checks/expected/02_week13_mnist.json),
so these tests also prove that the stored file is current and right.
"""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.week13_mnist import check_count_correct, check_flat_size, check_my_net_cnn, check_predict_digit
from labhelpers.images import load_digit

DIGITS = Path(__file__).resolve().parents[3] / "data" / "mnist_test_images"


def _todo(*args, **kwargs):
    raise NotImplementedError("student has not written this yet")


# ---- reference answers (what the solution notebook does) ------------------------------------

def flat_size(image_size):
    side = ((image_size - 4) // 2 - 4) // 2
    return 50 * side * side


class MyNetCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, 10)

    def body(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = x.view(-1, 4 * 4 * 50)
        return self.fc2(F.relu(self.fc1(x)))

    def forward(self, x):
        return F.log_softmax(self.body(x), dim=1)


def count_correct(output, target):
    pred = output.argmax(dim=1, keepdim=True)
    return pred.eq(target.view_as(pred)).sum().item()


def predict_digit(model, path):
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return int(model(load_digit(path).to(device)).argmax(dim=1).item())


# ---- not implemented yet: every check says so and returns False ------------------------------

@pytest.mark.parametrize("check", [check_flat_size, check_count_correct])
def test_checks_report_not_implemented(check, capsys):
    assert check(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_my_net_cnn_reports_not_implemented_forward(capsys):
    class Todo(MyNetCNN):
        def forward(self, x):
            raise NotImplementedError
    assert check_my_net_cnn(Todo) is False
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


# ---- check_my_net_cnn -----------------------------------------------------------------------

def test_my_net_cnn_accepts_reference(capsys):
    assert check_my_net_cnn(MyNetCNN) is True
    assert "[OK] MyNetCNN" in capsys.readouterr().out


def test_my_net_cnn_leaves_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_my_net_cnn(MyNetCNN)
    assert torch.equal(torch.get_rng_state(), state)


def test_my_net_cnn_rejects_raw_scores(capsys):
    class Raw(MyNetCNN):
        def forward(self, x):
            return self.body(x)
    assert check_my_net_cnn(Raw) is False
    assert "log_softmax" in capsys.readouterr().out


def test_my_net_cnn_rejects_softmax(capsys):
    class Soft(MyNetCNN):
        def forward(self, x):
            return F.softmax(self.body(x), dim=1)
    assert check_my_net_cnn(Soft) is False
    assert "not F.softmax" in capsys.readouterr().out


def test_my_net_cnn_rejects_log_softmax_over_the_batch(capsys):
    class Dim0(MyNetCNN):
        def forward(self, x):
            return F.log_softmax(self.body(x), dim=0)
    assert check_my_net_cnn(Dim0) is False
    assert "dim=1" in capsys.readouterr().out


def test_my_net_cnn_rejects_missing_relu(capsys):
    class NoRelu(MyNetCNN):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
            return F.log_softmax(self.fc2(self.fc1(x.view(-1, 800))), dim=1)
    assert check_my_net_cnn(NoRelu) is False
    assert "NetCNN's order" in capsys.readouterr().out


def test_my_net_cnn_rejects_wrong_flatten_shape(capsys):
    class BadView(MyNetCNN):
        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
            x = x.view(-1, 400)  # wrong size: fc1 then fails
            return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)
    assert check_my_net_cnn(BadView) is False
    assert "your code raised" in capsys.readouterr().out


def test_my_net_cnn_rejects_changed_layers(capsys):
    class Smaller(MyNetCNN):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(800, 400)
            self.fc2 = nn.Linear(400, 10)
    assert check_my_net_cnn(Smaller) is False
    assert "431,080" in capsys.readouterr().out


def test_my_net_cnn_rejects_renamed_layers(capsys):
    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 20, 5, 1), nn.Conv2d(20, 50, 5, 1)
            self.f1, self.f2 = nn.Linear(800, 500), nn.Linear(500, 10)

        def forward(self, x):
            return torch.zeros(len(x), 10)
    assert check_my_net_cnn(Renamed) is False
    assert "conv1, conv2, fc1, fc2" in capsys.readouterr().out


# ---- check_count_correct --------------------------------------------------------------------

def test_count_correct_accepts_reference(capsys):
    assert check_count_correct(count_correct) is True
    assert "[OK] count_correct" in capsys.readouterr().out


def test_count_correct_accepts_an_integer_tensor():
    assert check_count_correct(lambda o, t: (o.argmax(dim=1) == t).sum()) is True


def test_count_correct_rejects_broadcast_comparison(capsys):
    assert check_count_correct(lambda o, t: int((o.argmax(dim=1, keepdim=True) == t).sum())) is False
    assert "broadcasts" in capsys.readouterr().out


def test_count_correct_rejects_accuracy(capsys):
    assert check_count_correct(lambda o, t: (o.argmax(dim=1) == t).float().mean().item()) is False
    assert "not the accuracy" in capsys.readouterr().out


def test_count_correct_rejects_counting_wrong_predictions(capsys):
    assert check_count_correct(lambda o, t: int((o.argmax(dim=1) != t).sum())) is False
    assert "wrong predictions" in capsys.readouterr().out


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
