"""cGLO: codes on the sphere, the losses, noise, the classifier, same-class sampling and the batch replacement."""

import numpy as np
import pytest
import torch

from fewgen.augment.glo import (CGLO, SLERP_TS, GLOConfig, LaplacianL1, PerceptualL1, interpolation_factors,
                                reconstruction_loss, same_class_partners)
from fewgen.augment.train import CGLOReplacement, fit_cglo
from fewgen.errors import FewgenError

TINY = GLOConfig(code_dim=8, noise_dim=4, channels=4, steps=30, batch_size=16, loss="laplacian")


def images(n=12, shape=(1, 8, 8), seed=0):
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_generator_fits_the_image_size(shape):
    model = CGLO(TINY, shape, n_images=4, n_classes=2).eval()
    assert model.generate(model.codes[:3]).shape == (3, *shape)


def test_codes_stay_on_the_unit_sphere_during_training():
    labels = np.repeat([0, 1, 2], 4)
    model, summary = fit_cglo(images(), labels, TINY, seed=0)
    torch.testing.assert_close(model.codes.norm(dim=1), torch.ones(12))
    assert summary["steps"] == 30 and {"reconstruction", "ce"} <= set(summary["history"][-1])


def test_a_tiny_fit_lowers_the_reconstruction_loss():
    digits = images(24, seed=3)
    labels = np.repeat(np.arange(4), 6)
    model, summary = fit_cglo(digits, labels, GLOConfig(code_dim=8, noise_dim=4, channels=8, steps=150, batch_size=24,
                                                        loss="laplacian", lr=3e-3), seed=0, precision="fp32")
    history = summary["history"]
    assert history[-1]["reconstruction"] < 0.7 * history[0]["reconstruction"]


def test_unlabeled_images_add_reconstruction_only():
    model = CGLO(TINY, (1, 8, 8), n_images=4, n_classes=2).train()
    _, logs = model.training_loss(images(4), torch.tensor([-1, -1, -1, -1]), torch.arange(4))
    assert "ce" not in logs
    _, logs = model.training_loss(images(4), torch.tensor([0, 1, -1, -1]), torch.arange(4))
    assert "ce" in logs


def test_ablations_remove_the_classifier_and_the_noise():
    no_classifier = CGLO(GLOConfig(**{**TINY.__dict__, "gamma": 0.0}), (1, 8, 8), 4, 2)
    assert no_classifier.classifier is None
    no_noise = CGLO(GLOConfig(**{**TINY.__dict__, "noise_dim": 0}), (1, 8, 8), 4, 2).eval()
    a = no_noise.generate(no_noise.codes)
    torch.testing.assert_close(a, no_noise.generate(no_noise.codes))  # deterministic without noise
    noisy = CGLO(TINY, (1, 8, 8), 4, 2).eval()
    assert not torch.equal(noisy.generate(noisy.codes), noisy.generate(noisy.codes))


def test_laplacian_loss_is_zero_on_equal_images_and_grows_with_the_difference():
    loss = LaplacianL1()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    assert loss(x, x).item() == 0
    assert 0 < loss(x, x + 0.1).item() < loss(x, x + 0.5).item()


def test_perceptual_loss_runs_on_small_gray_images():
    loss = PerceptualL1(weights=None)  # random VGG-16: shapes and gradients only
    x = (torch.rand(2, 1, 8, 8) * 2 - 1).requires_grad_(True)
    value = loss(x, torch.zeros(2, 1, 8, 8))
    value.backward()
    assert value.item() > 0 and x.grad is not None


def test_the_loss_choice_is_recorded_and_perceptual_without_weights_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("fewgen.augment.glo.local_vgg16_weights", lambda: None)
    assert reconstruction_loss("auto")[1] == "laplacian"
    with pytest.raises(FewgenError, match="VGG-16 ImageNet weights"):
        reconstruction_loss("perceptual")


def test_partners_are_always_of_the_same_class_and_never_the_image_itself():
    labels = np.array([0, 0, 1, 1, 1, 2])
    rng = np.random.default_rng(0)
    index = np.repeat(np.arange(6), 50)
    partners = same_class_partners(labels, index, rng)
    assert np.all(labels[partners] == labels[index])
    lone = index == 5  # the only image of class 2 pairs with itself
    assert np.all(partners[~lone] != index[~lone]) and np.all(partners[lone] == 5)
    assert set(partners[index == 2]) == {3, 4}  # uniform over the others of its class


def test_interpolation_factors_come_from_the_papers_set():
    t = interpolation_factors(400, np.random.default_rng(0))
    assert {round(float(v), 3) for v in t} == set(SLERP_TS)


def test_about_half_of_a_batch_is_replaced_by_same_class_samples():
    labels = np.repeat([0, 1], 6)
    model = CGLO(TINY, (1, 8, 8), n_images=12, n_classes=2)
    replacement = CGLOReplacement(model, labels)
    x = torch.zeros(12, 1, 8, 8, dtype=torch.uint8)  # generated images are never all black
    fractions = []
    for _ in range(40):
        out = replacement(x, torch.as_tensor(labels), torch.arange(12))
        fractions.append((out != x).flatten(1).any(1).float().mean().item())
    assert 0.4 < np.mean(fractions) < 0.6 and out.dtype == torch.uint8


def test_sampling_checks_the_interpolation():
    model = CGLO(TINY, (1, 8, 8), 4, 2)
    with pytest.raises(FewgenError, match="interpolation must be one of"):
        model.sample(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.1]), "cubic")
