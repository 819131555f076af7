"""Tests for labhelpers.checks.autoencoders_pca: each check passes a correct answer and names the classic mistakes.

The loop, ratio and convolutional-autoencoder checks compare with the solution's stored answers
(labhelpers/checks/expected/13_autoencoders_pca.json), so these tests also prove that the stored file is current.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.autoencoders_pca import (check_conv_autoencoder, check_distance_ratio, check_evaluate_autoencoder,
                                                check_pca_fit, check_principal_angles, check_train_autoencoder_epoch)


def _todo(*args, **kwargs):
    raise NotImplementedError("student has not written this yet")


# ---- answers as the solution notebook writes them, and their classic mistakes ---------------------
def distance_ratio(X, squared=False, keep_self=False, inverted=False, global_ratio=False):
    D = (X[:, None, :] - X[None, :, :]).pow(2).sum(dim=2)
    D = D if squared else D.sqrt()
    nearest = D if keep_self else D + torch.diag(torch.full((len(X),), float("inf"), dtype=X.dtype))
    near, far = nearest.min(dim=1).values, D.max(dim=1).values
    if global_ratio:
        return float(near.min() / far.max())
    return float((far / near if inverted else near / far).mean())


def pca_fit(X, k, ascending=False, biased=False, rows=False, centred=True):
    mean = X.mean(dim=0)
    Xc = X - mean if centred else X
    values, vectors = torch.linalg.eigh(Xc.T @ Xc / (len(X) - (0 if biased else 1)))
    order = torch.argsort(values, descending=not ascending)[:k]
    components = vectors[order] if rows else vectors[:, order].T
    return mean, components, values[order]


def principal_angles(A, B, radians=False, orthonormal=True, clamp=True, descending=False):
    if orthonormal:
        A, B = torch.linalg.qr(A)[0], torch.linalg.qr(B)[0]
    cosines = torch.linalg.svdvals(A.T @ B)
    angles = torch.arccos(cosines.clamp(-1, 1) if clamp else cosines)
    angles = angles if radians else torch.rad2deg(angles)
    return angles.flip(0) if descending else angles


def train_epoch(model, train_loader, optimizer, device, mistake=""):
    if mistake != "no train()":
        model.train()
    total, seen, batches = 0.0, 0, 0
    for X, _ in train_loader:
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss = F.mse_loss(model(X), X, reduction="sum" if mistake == "summed loss" else "mean")
        loss.backward()
        optimizer.step()
        if mistake == "loss tensor":
            total = total + loss * len(X)
        else:
            total += loss.item() * (1 if mistake == "mean over batches" else len(X))
        seen, batches = seen + len(X), batches + 1
    return {"loss": total / (batches if mistake == "mean over batches" else seen)}


def evaluate(model, loader, device, mistake=""):
    if mistake != "no eval()":
        model.eval()
    total, seen, batches = 0.0, 0, 0
    with torch.set_grad_enabled(mistake == "autograd on"):
        for X, _ in loader:
            loss = F.mse_loss(model(X), X, reduction="sum" if mistake == "pixel sum" else "mean")
            total += loss.item() * (1 if mistake in ("mean over batches", "pixel sum") else len(X))
            seen, batches = seen + len(X), batches + 1
    return {"loss": total / (batches if mistake == "mean over batches" else seen)}


class ConvAutoencoder(nn.Module):
    def __init__(self, code_size=16, mistake=""):
        super().__init__()
        self.mistake = mistake
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc_enc = nn.Linear(32 * 7 * 7, code_size)
        self.fc_dec = nn.Linear(code_size, 32 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def encode(self, X):
        code = self.fc_enc(F.relu(self.conv2(F.relu(self.conv1(X)))).flatten(1))
        return F.relu(code) if self.mistake == "relu code" else code

    def decode(self, code):
        X = self.deconv2(F.relu(self.deconv1(F.relu(self.fc_dec(code)).view(-1, 32, 7, 7))))
        return X if self.mistake == "no sigmoid" else torch.sigmoid(X)

    def forward(self, X):
        return self.decode(self.encode(X))


def _variant(fn, **mistake):
    return lambda *args: fn(*args, **mistake)


# ---- the correct answers pass, a missing one says so ----------------------------------------------
@pytest.mark.parametrize("check,answer", [(check_distance_ratio, distance_ratio), (check_pca_fit, pca_fit),
                                          (check_principal_angles, principal_angles),
                                          (check_train_autoencoder_epoch, train_epoch),
                                          (check_evaluate_autoencoder, evaluate),
                                          (check_conv_autoencoder, ConvAutoencoder)])
def test_the_solution_passes_and_a_stub_is_todo(check, answer, capsys):
    assert check(answer) is True
    assert "[OK]" in capsys.readouterr().out
    assert check(_todo) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_pca_fit_accepts_numpy_arrays_and_flipped_signs():
    def flipped(X, k):
        mean, components, variances = pca_fit(X, k)
        return mean.numpy(), -components.numpy(), variances.numpy()
    assert check_pca_fit(flipped) is True


def test_the_conv_check_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_conv_autoencoder(ConvAutoencoder)
    assert torch.equal(torch.get_rng_state(), state)


# ---- each named mistake is named ----------------------------------------------------------------
@pytest.mark.parametrize("mistake,words", [({"squared": True}, "square root"), ({"keep_self": True}, "itself"),
                                           ({"inverted": True}, "not the other way round"),
                                           ({"global_ratio": True}, "one ratio per point")])
def test_distance_ratio_names_the_mistake(mistake, words, capsys):
    assert check_distance_ratio(_variant(distance_ratio, **mistake)) is False
    assert words in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [({"ascending": True}, "ascending order"), ({"biased": True}, "N - 1"),
                                           ({"rows": True}, "COLUMNS"), ({"centred": False}, "centre X")])
def test_pca_fit_names_the_mistake(mistake, words, capsys):
    assert check_pca_fit(_variant(pca_fit, **mistake)) is False
    assert words in capsys.readouterr().out


def test_pca_fit_names_transposed_components(capsys):
    assert check_pca_fit(lambda X, k: (pca_fit(X, k)[0], pca_fit(X, k)[1].T, pca_fit(X, k)[2])) is False
    assert "one principal direction per ROW" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [({"radians": True}, "not radians"), ({"orthonormal": False}, "orthonormal"),
                                           ({"descending": True}, "smallest angle first")])
def test_principal_angles_names_the_mistake(mistake, words, capsys):
    assert check_principal_angles(_variant(principal_angles, **mistake)) is False
    assert words in capsys.readouterr().out


def test_principal_angles_names_a_missing_clamp(capsys):
    def unclamped(A, B):
        return torch.rad2deg(torch.arccos(torch.linalg.svdvals(torch.linalg.qr(A)[0].T @ torch.linalg.qr(B)[0]) + 1e-12))
    assert check_principal_angles(unclamped) is False
    assert "clamp" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [("no train()", "model.train()"), ("no zero_grad", "zero_grad"),
                                           ("summed loss", "not its sum"), ("loss tensor", "loss.item()"),
                                           ("mean over batches", "weight each batch")])
def test_train_epoch_names_the_mistake(mistake, words, capsys):
    assert check_train_autoencoder_epoch(_variant(train_epoch, mistake=mistake)) is False
    assert words in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [("no eval()", "model.eval()"), ("autograd on", "torch.no_grad()"),
                                           ("pixel sum", "average over the pixels"),
                                           ("mean over batches", "weight each batch")])
def test_evaluate_names_the_mistake(mistake, words, capsys):
    assert check_evaluate_autoencoder(_variant(evaluate, mistake=mistake)) is False
    assert words in capsys.readouterr().out


@pytest.mark.parametrize("mistake,words", [("relu code", "no ReLU on the code"), ("no sigmoid", "sigmoid")])
def test_conv_autoencoder_names_the_mistake(mistake, words, capsys):
    assert check_conv_autoencoder(lambda code_size: ConvAutoencoder(code_size, mistake)) is False
    assert words in capsys.readouterr().out


def test_conv_autoencoder_rejects_changed_layers(capsys):
    class Wider(ConvAutoencoder):
        def __init__(self, code_size=16):
            super().__init__(code_size)
            self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
    assert check_conv_autoencoder(Wider) is False
    assert "keep __init__ as given" in capsys.readouterr().out
