"""VQ-VAE specifics: quantisation, codebook learning (EMA or loss), dead-code restarts, perplexity, parts."""


import pytest
import torch

from fewgen.backbones import FeatureSpec
from fewgen.backbones.vqvae import Quantizer, VQVAEBackbone, VQVAEConfig, perplexity
from fewgen.data import SourceOptions, load_source
from fewgen.errors import FewgenError
from fewgen.train import TrainConfig

CFG = dict(channels=8, codebook_size=16, code_dim=4)


def test_perplexity_closed_form():
    assert perplexity(torch.zeros(50, dtype=torch.long), 16) == pytest.approx(1.0)
    assert perplexity(torch.arange(16).repeat(3), 16) == pytest.approx(16.0)
    assert perplexity(torch.tensor([0, 0, 1, 1]), 16) == pytest.approx(2.0)


def test_quantizer_picks_the_nearest_code_and_passes_gradients_straight_through():
    quantizer = Quantizer(VQVAEConfig(codebook_size=3, code_dim=2), grid=(1, 2)).eval()
    quantizer.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]]))
    z_e = torch.tensor([[0.9, 0.1], [0.2, 4.0]]).T.reshape(1, 2, 1, 2).requires_grad_(True)  # cells (0.9,0.1), (0.2,4.0)
    z_q, loss, codes = quantizer(z_e)
    assert codes.tolist() == [[[1, 2]]]
    torch.testing.assert_close(z_q.detach().reshape(2, 2).T, torch.tensor([[1.0, 0.0], [0.0, 5.0]]))
    (z_q * torch.arange(4.0).view(1, 2, 1, 2)).sum().backward()
    torch.testing.assert_close(z_e.grad, torch.arange(4.0).view(1, 2, 1, 2))  # identity gradient to the encoder
    expected = 0.25 * ((0.1**2 + 0.1**2) + (0.2**2 + 1.0**2)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_ema_codebook_moves_to_the_mean_of_its_vectors():
    cfg = VQVAEConfig(codebook_size=2, code_dim=2, decay=0.5, restart_after=1000)
    quantizer = Quantizer(cfg, grid=(2, 2)).train()
    quantizer.initialized.fill_(True)
    quantizer.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    quantizer.code_sum.copy_(quantizer.codebook)
    cells = torch.tensor([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0], [11.0, 9.0]])  # two near each code
    z_e = cells.T.reshape(1, 2, 2, 2)
    for _ in range(30):
        quantizer(z_e)
    torch.testing.assert_close(quantizer.codebook, torch.tensor([[2.0, 1.0], [10.0, 9.0]]), atol=1e-3, rtol=0)


def test_codebook_loss_mode_trains_the_codebook_by_gradient():
    backbone = VQVAEBackbone(VQVAEConfig(**CFG, codebook="loss"), (1, 8, 8))
    loss, _ = backbone.model.train().training_loss(torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8))
    loss.backward()
    assert backbone.model.quantizer.codebook.grad.abs().sum() > 0


def test_dead_codes_are_restarted_onto_encoder_outputs():
    cfg = VQVAEConfig(codebook_size=4, code_dim=2, restart_after=3)
    quantizer = Quantizer(cfg, grid=(1, 4)).train()
    quantizer.initialized.fill_(True)
    quantizer.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [100.0, 100.0], [-100.0, 100.0]]))
    quantizer.code_sum.copy_(quantizer.codebook)
    z_e = torch.tensor([[0.0, 0.1], [1.0, 0.1], [0.1, 0.0], [0.9, 0.0]]).T.reshape(1, 2, 1, 4)
    for _ in range(2):
        quantizer(z_e)
    assert quantizer.codebook[2:].abs().max() > 50  # idle for 2 steps: not yet restarted
    quantizer(z_e)
    assert quantizer.codebook[2:].abs().max() < 2  # now moved onto encoder outputs


def test_first_batch_initialises_the_codebook_on_encoder_outputs():
    quantizer = Quantizer(VQVAEConfig(codebook_size=8, code_dim=2), grid=(1, 4)).train()
    z_e = torch.full((1, 2, 1, 4), 50.0)
    quantizer(z_e)
    assert bool(quantizer.initialized) and (quantizer.codebook - 50).abs().max() < 1


def test_dead_code_restarts_keep_many_codes_in_use_on_a_tiny_run():
    """Early on the encoder drifts faster than the EMA codebook and use collapses onto a few codes; the
    restarts (every ``restart_after`` idle steps) bring it back. Seeded: the collapse's depth depends on the init."""
    digits = load_source("digits", SourceOptions()).train.images[:256]
    torch.manual_seed(0)
    backbone = VQVAEBackbone(VQVAEConfig(**CFG, restart_after=8), (1, 8, 8))
    summary = backbone.fit(digits, TrainConfig(epochs=8, batch_size=32, lr=2e-3, progress=False))
    assert [row["epoch"] for row in summary["history"]] == list(range(1, 9))
    assert summary["history"][-1]["perplexity"] > 3.0
    codes = backbone.model.eval().encode(digits)[2]
    assert perplexity(codes, 16) > 3.0


def test_parts_dimensions():
    backbone = VQVAEBackbone(VQVAEConfig(**CFG), (1, 8, 8))
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    enc = backbone.features(x, FeatureSpec(part="encoder"))
    dec = backbone.features(x, FeatureSpec(part="decoder"))
    stacked = backbone.features(x, FeatureSpec(part="stacked"))
    assert enc.shape[1] == 4 + 8 + 8 + 8 + 8 + 4 + 4 and dec.shape[1] == 8 + 8 + 8 + 4 + 1
    torch.testing.assert_close(stacked, torch.cat([enc, dec], 1))


def test_pooled_features_keep_a_coarse_layout():
    backbone = VQVAEBackbone(VQVAEConfig(**CFG), (1, 8, 8))
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    mean = backbone.features(x, FeatureSpec(part="encoder"))
    pooled = backbone.features(x, FeatureSpec(part="encoder", pool="2x2"))
    assert pooled.shape[1] == 4 * mean.shape[1]
    torch.testing.assert_close(pooled.view(3, -1, 4).mean(2), mean)  # 2x2 cells average back to the mean
    with pytest.raises(FewgenError, match="--spatial-pool must be"):
        backbone.check_spec(FeatureSpec(part="encoder", pool="3x2"))


def test_features_are_deterministic_and_training_state_is_untouched():
    backbone = VQVAEBackbone(VQVAEConfig(**CFG), (1, 8, 8))
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    x = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    first = backbone.features(x, FeatureSpec(part="stacked"))
    torch.testing.assert_close(backbone.features(x, FeatureSpec(part="stacked")), first, rtol=0, atol=0)
    for key, value in backbone.model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bad_options_are_clear_errors():
    with pytest.raises(FewgenError, match="codebook must be ema or loss"):
        VQVAEBackbone(VQVAEConfig(codebook="kmeans"), (1, 8, 8))
    with pytest.raises(FewgenError, match="reads --parts encoder, decoder or stacked; not 'middle'"):
        VQVAEBackbone(VQVAEConfig(**CFG), (1, 8, 8)).check_spec(FeatureSpec(part="middle"))
    with pytest.raises(FewgenError, match="give one with --parts"):
        VQVAEBackbone(VQVAEConfig(**CFG), (1, 8, 8)).check_spec(FeatureSpec(pool="2x2"))


def test_sampling_is_seeded_and_draws_from_the_code_frequencies():
    backbone = VQVAEBackbone(VQVAEConfig(**CFG), (1, 8, 8))
    backbone.model.quantizer.position_usage.zero_()[3] = 1.0  # every cell only ever used code 3
    samples = backbone.sample(4, seed=1)
    assert samples.dtype == torch.uint8 and samples.shape == (4, 1, 8, 8)
    assert torch.equal(samples, backbone.sample(4, seed=1))
    assert torch.equal(samples[0], samples[3])  # one code everywhere: every sample decodes the same grid
    from fewgen.backbones.torch_backbone import logits_to_uint8

    quantizer = backbone.model.quantizer
    grid = quantizer.codebook[torch.full(quantizer.position_usage.shape[1:], 3)].permute(2, 0, 1)[None]  # [1, D, h, w]
    with torch.no_grad():
        decoded = logits_to_uint8(backbone.model.decode(grid)[0])
    assert torch.equal(samples[0], decoded[0])  # the sample is code 3's grid decoded, not just any image
