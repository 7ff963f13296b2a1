"""VAE specifics: loss and backward, parts, posterior-mean decoder features, sampling."""

import pytest
import torch

from fewgen.backbones import FeatureSpec
from fewgen.backbones.vae import VAEBackbone, VAEConfig
from fewgen.errors import FewgenError

CFG = VAEConfig(channels=8, latent_dim=4)


def test_loss_is_finite_and_backpropagates():
    vae = VAEBackbone(CFG, (1, 28, 28))
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    loss, logs = vae.model.train().training_loss(x)
    assert torch.isfinite(loss) and logs["kl"] >= 0
    loss.backward()
    grads = [p.grad for p in vae.model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_parts_dimensions():
    vae = VAEBackbone(CFG, (1, 8, 8))
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    enc = vae.features(x, FeatureSpec(part="encoder"))
    dec = vae.features(x, FeatureSpec(part="decoder"))
    stacked = vae.features(x, FeatureSpec(part="stacked"))
    assert enc.shape[1] == 8 + 16 + 32 + 4 and dec.shape[1] == 32 + 16 + 8 + 1
    torch.testing.assert_close(stacked, torch.cat([enc, dec], 1))


def test_decoder_features_are_not_random():
    vae = VAEBackbone(CFG, (1, 8, 8))
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    torch.manual_seed(0)
    a = vae.features(x, FeatureSpec(part="decoder"))
    torch.manual_seed(1)
    assert torch.equal(a, vae.features(x, FeatureSpec(part="decoder")))


def test_unknown_part():
    with pytest.raises(FewgenError, match="--part"):
        VAEBackbone(CFG, (1, 8, 8)).features(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), FeatureSpec(part="middle"))


def test_sample_shape_and_dtype():
    samples = VAEBackbone(CFG, (3, 32, 32)).sample(5)
    assert samples.shape == (5, 3, 32, 32) and samples.dtype == torch.uint8
