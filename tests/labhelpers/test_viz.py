"""Tests for labhelpers.viz: every plot returns a Figure with the expected panels (Agg backend)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from labhelpers.viz import (confusion_matrix, plot_confusion_matrix, plot_history,  # noqa: E402
                            plot_topk, show_feature_maps, show_images, show_kernels,
                            show_misclassified)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def n_images(fig: Figure) -> int:
    return sum(len(ax.images) for ax in fig.axes)


# ---- show_images ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (5, 28, 28), (5, 3, 16, 16)])
def test_show_images_one_panel_per_image(shape):
    fig = show_images(torch.rand(shape), labels=list(range(5)), ncols=3, title="batch")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5 and n_images(fig) == 5
    assert fig.axes[4].get_title() == "4"


def test_show_images_accepts_list_of_arrays_and_tensor_labels():
    images = [np.zeros((8, 8)), np.ones((8, 8, 3)), np.full((1, 8, 8), 0.5)]
    fig = show_images(images, labels=torch.tensor([7, 8, 9]))
    assert n_images(fig) == 3 and fig.axes[0].get_title() == "7"


def test_show_images_min_max_scales_normalised_input():
    X = (torch.rand(2, 1, 28, 28) - 0.1307) / 0.3081  # MNIST-normalised, outside [0, 1]
    fig = show_images(X)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.min() == pytest.approx(0.0) and shown.max() == pytest.approx(1.0)


def test_show_images_keeps_display_ready_values():
    X = torch.full((1, 1, 4, 4), 0.25)
    shown = np.asarray(show_images(X).axes[0].images[0].get_array())
    assert np.allclose(shown, 0.25)


@pytest.mark.parametrize("images", [torch.rand(28, 28), torch.rand(2, 2, 2, 2, 2), [np.ones((4, 4, 5))], []])
def test_show_images_rejects_bad_shapes(images):
    with pytest.raises(ValueError):
        show_images(images)


def test_show_images_rejects_label_count_mismatch():
    with pytest.raises(ValueError, match="labels"):
        show_images(torch.rand(3, 8, 8), labels=[1, 2])


# ---- plot_history --------------------------------------------------------------------------

HISTORY = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3], "train_accuracy": [70.0, 85.0, 90.0],
           "test_loss": [0.9, 0.6, 0.4], "test_accuracy": [72.0, 84.0, 88.0]}


def test_plot_history_one_subplot_per_metric_with_train_and_test():
    fig = plot_history(HISTORY)
    assert len(fig.axes) == 2
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), HISTORY["test_accuracy"])


def test_plot_history_compares_several_models():
    fig = plot_history({"NetFF": HISTORY, "NetCNN": HISTORY}, metrics=("accuracy",))
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 4
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["NetFF train", "NetFF test", "NetCNN train", "NetCNN test"]


def test_plot_history_rejects_unknown_metric_and_empty_history():
    with pytest.raises(ValueError, match="f1"):
        plot_history(HISTORY, metrics=("f1",))
    with pytest.raises(ValueError):
        plot_history({})


def test_plot_history_rejects_length_mismatch():
    with pytest.raises(ValueError, match="epoch"):
        plot_history({"epoch": [1, 2], "train_loss": [1.0, 0.5, 0.2]}, metrics=("loss",))


# ---- confusion matrix ----------------------------------------------------------------------

def test_confusion_matrix_hand_example():
    y = [0, 0, 1, 2, 2, 2]
    y_hat = [0, 1, 1, 2, 0, 2]
    expected = [[1, 1, 0],
                [0, 1, 0],
                [1, 0, 2]]
    np.testing.assert_array_equal(confusion_matrix(y, y_hat), expected)


def test_confusion_matrix_num_classes_and_tensors():
    cm = confusion_matrix(torch.tensor([1, 1]), torch.tensor([1, 0]), num_classes=4)
    assert cm.shape == (4, 4) and cm[1, 1] == 1 and cm[1, 0] == 1 and cm.sum() == 2


@pytest.mark.parametrize("y,y_hat,k", [([0, 1], [0], None), ([0, 5], [0, 1], 3), ([0, -1], [0, 1], None),
                                       ([0.5, 1.0], [0, 1], None)])
def test_confusion_matrix_rejects_bad_input(y, y_hat, k):
    with pytest.raises(ValueError):
        confusion_matrix(y, y_hat, num_classes=k)


def test_plot_confusion_matrix_annotates_counts():
    cm = np.array([[3, 1], [0, 2]])
    fig = plot_confusion_matrix(cm, class_names=["cat", "dog"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]


def test_plot_confusion_matrix_normalize_rows_sum_to_one():
    cm = np.array([[3, 1, 0], [0, 2, 2], [0, 0, 0]])
    fig = plot_confusion_matrix(cm, normalize=True)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(shown.sum(axis=1), [1.0, 1.0, 0.0])  # empty row stays 0
    assert "0.75" in [t.get_text() for t in fig.axes[0].texts]


def test_plot_confusion_matrix_draws_on_given_ax():
    fig, ax = plt.subplots()
    assert plot_confusion_matrix(np.eye(2), ax=ax) is fig
    assert len(ax.images) == 1


@pytest.mark.parametrize("cm,names", [(np.ones((2, 3)), None), (np.ones(3), None), (np.ones((2, 2)), ["a"])])
def test_plot_confusion_matrix_rejects_bad_shapes(cm, names):
    with pytest.raises(ValueError):
        plot_confusion_matrix(cm, class_names=names)


# ---- show_misclassified --------------------------------------------------------------------

def test_show_misclassified_titles_and_count():
    X = torch.rand(6, 1, 8, 8)
    y = torch.tensor([4, 1, 2, 3, 4, 5])
    y_hat = torch.tensor([9, 1, 2, 0, 4, 7])
    probs = torch.zeros(6, 10)
    probs[0, 9] = 0.87
    fig = show_misclassified(X, y, y_hat, probs=probs, max_images=2)
    assert n_images(fig) == 2
    assert fig.axes[0].get_title() == "true 4 / pred 9 (0.87)"
    assert fig.axes[1].get_title() == "true 3 / pred 0 (0.00)"


def test_show_misclassified_without_errors_returns_message_figure():
    fig = show_misclassified(torch.rand(2, 8, 8), [1, 2], [1, 2])
    assert n_images(fig) == 0 and "no misclassified" in fig.axes[0].texts[0].get_text()


def test_show_misclassified_rejects_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        show_misclassified(torch.rand(3, 8, 8), [1, 2, 3], [1, 2])


# ---- plot_topk -----------------------------------------------------------------------------

PREDS = [(281, "tabby", 0.6), (282, "tiger cat", 0.3), (285, "Egyptian cat", 0.1)]


def test_plot_topk_bars_only():
    fig = plot_topk(PREDS, title="cat.jpg")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tabby", "tiger cat", "Egyptian cat"]


def test_plot_topk_with_image_on_the_left():
    fig = plot_topk(PREDS, image=torch.rand(3, 32, 32))
    assert len(fig.axes) == 2 and len(fig.axes[0].images) == 1 and len(fig.axes[1].patches) == 3


@pytest.mark.parametrize("preds", [[], [PREDS], [(1, "a")]])
def test_plot_topk_rejects_bad_predictions(preds):
    with pytest.raises(ValueError, match="ONE"):
        plot_topk(preds)


# ---- kernels and feature maps --------------------------------------------------------------

def test_show_kernels_rgb_filters():
    conv = torch.nn.Conv2d(3, 10, 5)
    fig = show_kernels(conv.weight, ncols=4)
    assert n_images(fig) == 10
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.shape == (5, 5, 3) and shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)


def test_show_kernels_single_channel_and_max_kernels():
    fig = show_kernels(torch.nn.Conv2d(20, 50, 5), max_kernels=12)  # a layer is accepted too
    assert n_images(fig) == 12
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (5, 5)


def test_show_kernels_rejects_bad_shape_and_channel():
    with pytest.raises(ValueError, match="out, in"):
        show_kernels(torch.rand(3, 5, 5))
    with pytest.raises(ValueError, match="channel"):
        show_kernels(torch.rand(4, 2, 3, 3), channel=2)


@pytest.mark.parametrize("shape", [(6, 12, 12), (1, 6, 12, 12)])
def test_show_feature_maps_one_panel_per_channel(shape):
    fig = show_feature_maps(torch.rand(shape), ncols=4)
    assert n_images(fig) == 6


def test_show_feature_maps_respects_max_maps():
    assert n_images(show_feature_maps(torch.rand(50, 4, 4), max_maps=32)) == 32


@pytest.mark.parametrize("shape", [(2, 6, 12, 12), (12, 12)])
def test_show_feature_maps_rejects_bad_shapes(shape):
    with pytest.raises(ValueError):
        show_feature_maps(torch.rand(shape))
