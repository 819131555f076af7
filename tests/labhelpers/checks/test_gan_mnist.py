"""Tests for labhelpers.checks.gan_mnist: each check passes a correct answer and fails wrong ones.

The checks compare with autograd, PyTorch's binary cross-entropy on logits and He-normal's spread; the generic
behaviours (TODO, raising, None, skipped while graded) are tests/labhelpers/checks/test_contract.py's."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from labhelpers.checks.gan_mnist import (check_discriminator_loss, check_generator_loss, check_glorot_init,
                                         check_logit_gradients)


def slide_std(fan_in):
    return 1.0 / math.sqrt(fan_in / 2.0)


# ---- reference answers (what the solution notebook does) ------------------------------------

def logit_gradients(a):
    D = torch.sigmoid(a)
    return -D, D - 1


def glorot_init(layer):
    nn.init.normal_(layer.weight, 0.0, 1.0 / math.sqrt(layer.in_features / 2.0))
    nn.init.zeros_(layer.bias)


def discriminator_loss(a_real, a_fake):
    return -(F.logsigmoid(a_real) + F.logsigmoid(-a_fake)).mean()


def generator_loss(a_fake):
    return -F.logsigmoid(a_fake).mean()


# ---- the fixtures are the slides' formulas -----------------------------------------------------

def test_loss_fixtures_equal_the_slides_costs_and_pytorch_binary_cross_entropy():
    a_real, a_fake = torch.tensor([2.2, 0.4]), torch.tensor([-1.4, -0.8])
    d_real, d_fake = torch.sigmoid(a_real), torch.sigmoid(a_fake)
    assert torch.isclose(discriminator_loss(a_real, a_fake), -(torch.log(d_real) + torch.log(1 - d_fake)).mean())
    assert torch.isclose(generator_loss(a_fake), -torch.log(d_fake).mean())
    bce = F.binary_cross_entropy_with_logits
    assert torch.isclose(discriminator_loss(a_real, a_fake), bce(a_real, torch.ones(2)) + bce(a_fake, torch.zeros(2)))
    assert torch.isclose(generator_loss(a_fake), bce(a_fake, torch.ones(2)))


def test_slide_std_is_he_normal():
    assert math.isclose(slide_std(100), nn.init.calculate_gain("relu") / math.sqrt(100))


# ---- check_logit_gradients --------------------------------------------------------------------

def test_logit_gradients_accepts_reference(capsys):
    assert check_logit_gradients(logit_gradients) is True
    assert "[OK] logit_gradients" in capsys.readouterr().out


def test_logit_gradients_rejects_derivative_with_respect_to_D(capsys):
    assert check_logit_gradients(lambda a: (-1 / (1 - torch.sigmoid(a)), -1 / torch.sigmoid(a))) is False
    assert "with respect to D" in capsys.readouterr().out


def test_logit_gradients_rejects_wrong_sign(capsys):
    assert check_logit_gradients(lambda a: (torch.sigmoid(a), 1 - torch.sigmoid(a))) is False
    assert "wrong sign" in capsys.readouterr().out


def test_logit_gradients_rejects_swapped_pair():
    assert check_logit_gradients(lambda a: logit_gradients(a)[::-1]) is False


# ---- check_glorot_init ------------------------------------------------------------------------

def test_glorot_init_accepts_reference(capsys):
    assert check_glorot_init(glorot_init) is True
    assert "[OK] glorot_init" in capsys.readouterr().out


def test_glorot_init_rejects_fan_out(capsys):
    def fan_out(layer):
        nn.init.normal_(layer.weight, 0.0, 1.0 / math.sqrt(layer.weight.shape[0] / 2.0))
        nn.init.zeros_(layer.bias)
    assert check_glorot_init(fan_out) is False
    assert "fan_in is the second dimension" in capsys.readouterr().out


def test_glorot_init_rejects_textbook_xavier(capsys):
    def xavier(layer):
        nn.init.xavier_normal_(layer.weight)
        nn.init.zeros_(layer.bias)
    assert check_glorot_init(xavier) is False
    assert "textbook Glorot" in capsys.readouterr().out


def test_glorot_init_rejects_uniform(capsys):
    def uniform(layer):
        bound = math.sqrt(3) * slide_std(layer.in_features)
        nn.init.uniform_(layer.weight, -bound, bound)
        nn.init.zeros_(layer.bias)
    assert check_glorot_init(uniform) is False
    assert "normal distribution" in capsys.readouterr().out


def test_glorot_init_rejects_default_biases(capsys):
    def weights_only(layer):
        nn.init.normal_(layer.weight, 0.0, slide_std(layer.in_features))
    assert check_glorot_init(weights_only) is False
    assert "biases all 0" in capsys.readouterr().out


def test_glorot_init_rejects_a_missing_square_root(capsys):
    def no_root(layer):
        nn.init.normal_(layer.weight, 0.0, 1.0 / (layer.in_features / 2.0))
        nn.init.zeros_(layer.bias)
    assert check_glorot_init(no_root) is False
    assert "square root" in capsys.readouterr().out


def test_glorot_init_leaves_the_notebook_random_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_glorot_init(glorot_init)
    assert torch.equal(torch.get_rng_state(), state)


def test_glorot_init_rejects_doing_nothing(capsys):
    assert check_glorot_init(lambda layer: None) is False
    assert "unchanged weights" in capsys.readouterr().out


# ---- check_discriminator_loss -----------------------------------------------------------------

def test_discriminator_loss_accepts_reference(capsys):
    assert check_discriminator_loss(discriminator_loss) is True
    assert "[OK] discriminator_loss" in capsys.readouterr().out


def test_discriminator_loss_accepts_a_softplus_form():
    assert check_discriminator_loss(lambda r, f: (F.softplus(-r) + F.softplus(f)).mean()) is True


def test_discriminator_loss_rejects_wrong_sign(capsys):
    assert check_discriminator_loss(lambda r, f: -discriminator_loss(r, f)) is False
    assert "wrong sign" in capsys.readouterr().out


def test_discriminator_loss_rejects_sum(capsys):
    assert check_discriminator_loss(lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f)).sum()) is False
    assert "do not sum" in capsys.readouterr().out


def test_discriminator_loss_rejects_swapped_labels(capsys):
    assert check_discriminator_loss(lambda r, f: -(F.logsigmoid(-r) + F.logsigmoid(f)).mean()) is False
    assert "not the other way round" in capsys.readouterr().out


def test_discriminator_loss_rejects_a_python_float(capsys):
    assert check_discriminator_loss(lambda r, f: discriminator_loss(r, f).item()) is False
    assert "not .item()" in capsys.readouterr().out


def test_discriminator_loss_rejects_missing_fake_part(capsys):
    assert check_discriminator_loss(lambda r, f: -F.logsigmoid(r).mean()) is False
    assert "add the fakes' part" in capsys.readouterr().out


def test_discriminator_loss_rejects_the_direct_formula_that_overflows(capsys):
    """Right for an undecided D, infinite for one that the generator fools with full confidence."""
    def direct(r, f):
        return -(torch.log(torch.sigmoid(r)) + torch.log(1 - torch.sigmoid(f))).mean()
    assert check_discriminator_loss(direct) is False
    out = capsys.readouterr().out
    assert "(20, 40)" in out and "not finite" in out and "log-sigmoid" in out


def test_discriminator_loss_rejects_the_probabilities_formula_on_logits(capsys):
    assert check_discriminator_loss(lambda r, f: -(torch.log(r) + torch.log(1 - f)).mean()) is False
    assert "logits are not probabilities" in capsys.readouterr().out


def test_discriminator_loss_rejects_a_loss_cut_off_from_a_fake(capsys):
    assert check_discriminator_loss(lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f.detach())).mean()) is False
    assert "gradients flowing to a_fake" in capsys.readouterr().out


def test_discriminator_loss_rejects_per_example_losses(capsys):
    assert check_discriminator_loss(lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f))) is False
    assert "one number" in capsys.readouterr().out


def test_discriminator_loss_hints_never_spell_the_answer(capsys):
    check_discriminator_loss(lambda r, f: 0.5 * discriminator_loss(r, f))
    out = capsys.readouterr().out
    assert "section 2" in out and "logsigmoid(" not in out and "torch.log" not in out


# ---- check_generator_loss ---------------------------------------------------------------------

def test_generator_loss_accepts_reference(capsys):
    assert check_generator_loss(generator_loss) is True
    assert "[OK] generator_loss" in capsys.readouterr().out


def test_generator_loss_rejects_saturating_form(capsys):
    assert check_generator_loss(lambda f: F.logsigmoid(-f).mean()) is False
    assert "saturating" in capsys.readouterr().out


def test_generator_loss_rejects_wrong_sign(capsys):
    assert check_generator_loss(lambda f: F.logsigmoid(f).mean()) is False
    assert "wrong sign" in capsys.readouterr().out


def test_generator_loss_rejects_sum(capsys):
    assert check_generator_loss(lambda f: -F.logsigmoid(f).sum()) is False
    assert "do not sum" in capsys.readouterr().out


def test_generator_loss_rejects_detached_result(capsys):
    assert check_generator_loss(lambda f: generator_loss(f).detach()) is False
    assert "detached" in capsys.readouterr().out


def test_generator_loss_rejects_the_direct_formula_that_underflows(capsys):
    assert check_generator_loss(lambda f: -torch.log(torch.sigmoid(f)).mean()) is False
    out = capsys.readouterr().out
    assert "(-150, -110)" in out and "not finite" in out
