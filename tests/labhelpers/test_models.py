"""labhelpers.models: shapes and parameter counts against hand-computed numbers."""
import pytest
import torch

from labhelpers.models import LeNet, LeNetModified, NetCNN, NetFF, count_parameters, model_summary

# hand counts: weights + biases per layer
NETFF = 784 * 500 + 500 + 500 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10          # 573,910
NETCNN = (1 * 20 * 25 + 20) + (20 * 50 * 25 + 50) + (800 * 500 + 500) + (500 * 10 + 10)  # 431,080
LENET_MOD = NETCNN + 2 * 20 + 2 * 50 + 2 * 500 + 1                                     # BN + PReLU


@pytest.mark.parametrize("cls, expected", [(NetFF, NETFF), (NetCNN, NETCNN), (LeNet, NETCNN),
                                           (LeNetModified, LENET_MOD)])
def test_parameter_counts(cls, expected):
    assert count_parameters(cls()) == expected


@pytest.mark.parametrize("cls", [NetFF, NetCNN, LeNet, LeNetModified])
def test_outputs_are_log_probabilities_of_shape_b_by_10(cls):
    model = cls().eval()
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(5), atol=1e-5)


def test_netcnn_feature_map_shapes_follow_the_slides():
    model = NetCNN()
    x = torch.randn(1, 1, 28, 28)
    assert model.conv1(x).shape == (1, 20, 24, 24)
    assert model.conv2(torch.randn(1, 20, 12, 12)).shape == (1, 50, 8, 8)


def test_model_summary_prints_rows_and_returns_total(capsys):
    total = model_summary(NetCNN(), (1, 28, 28))
    text = capsys.readouterr().out
    assert total == NETCNN and "(None, 20, 24, 24)" in text and "Total params: 431,080" in text


def test_model_summary_rejects_batch_dimension_mistakes():
    with pytest.raises(ValueError, match="input_size"):
        model_summary(NetCNN(), (1, 1, 28, 28, -1))


def test_kaiming_init_is_applied_in_lenet_modified():
    torch.manual_seed(0)
    w = LeNetModified().fc1.weight
    bound = (6 / 800) ** 0.5  # kaiming_uniform_, fan_in=800, gain sqrt(2) for leaky_relu(a=0)
    assert w.abs().max() <= bound + 1e-6 and w.abs().max() > 0.9 * bound
