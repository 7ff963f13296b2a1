"""The ddpm backbone: loss, EMA, seeded per-image noise, timestep and block specs, sampling."""

from __future__ import annotations

import shutil

import pytest
import torch

from fewgen.backbones import FeatureSpec, load_backbone
from fewgen.backbones.ddpm import DDPMBackbone, DDPMConfig, image_noise
from fewgen.errors import FewgenError
from fewgen.train import TrainConfig

TINY = DDPMConfig(preset="tiny")


def images(n: int, shape=(1, 8, 8), seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def tiny(shape=(1, 8, 8), precision="fp32") -> DDPMBackbone:
    backbone = DDPMBackbone(TINY, shape)
    backbone.precision = precision
    return backbone


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 10, 14)])
def test_loss_is_finite_and_trains_only_the_unet(shape):
    model = tiny(shape).model.train()
    torch.manual_seed(0)
    loss, _ = model.training_loss(images(4, shape))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in model.unet.parameters())
    assert all(p.grad is None and not p.requires_grad for p in model.ema.parameters())


def test_padding_round_trips_to_the_image():
    model = tiny((1, 10, 14)).model
    x = images(3, (1, 10, 14))
    padded = model.to_network(x)
    assert padded.shape[-2] % 2 == 0 and padded.shape[-1] % 2 == 0 and padded.min() >= -1 and padded.max() <= 1
    assert torch.equal(model.to_images(padded), x)


def test_small_preset_pads_28_and_8_and_keeps_32():
    for side, padded in ((28, 28), (8, 8), (32, 32), (30, 32)):
        model = DDPMBackbone(DDPMConfig(preset="small"), (1, side, side)).model
        assert model.to_network(images(1, (1, side, side))).shape[-1] == padded


def test_ema_updates_and_stays_apart_from_the_raw_weights():
    backbone = tiny()
    before = {k: v.clone() for k, v in backbone.model.ema.module.state_dict().items()}
    summary = backbone.fit(images(64), TrainConfig(epochs=2, batch_size=16, lr=1e-2, progress=False))
    ema, raw = backbone.model.ema, backbone.model.unet
    assert int(ema.n_averaged) == summary["steps"] == 8
    changed = [k for k, v in ema.module.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "EMA weights never moved"
    assert not torch.equal(ema.module.conv_in.weight, raw.conv_in.weight)
    x, spec = images(4, seed=3), FeatureSpec(timestep=(50,))
    assert not torch.allclose(backbone.features(x, spec), backbone.features(x, FeatureSpec(timestep=(50,), weights="raw")))


def test_noise_is_seeded_by_the_image_not_its_batch():
    x = images(6)
    first = image_noise(x, 100, (1, 8, 8))
    assert torch.equal(image_noise(x[3:4], 100, (1, 8, 8))[0], first[3])
    assert torch.equal(image_noise(x.flip(0), 100, (1, 8, 8)), first.flip(0))
    assert not torch.equal(image_noise(x, 101, (1, 8, 8)), first)
    assert not torch.equal(first[0], first[1])


def test_timestep_zero_reads_the_clean_image_and_differs_from_noised():
    backbone = tiny()
    x = images(5)
    clean = backbone.features(x, FeatureSpec(timestep=(0,)))
    noised = backbone.features(x, FeatureSpec(timestep=(500,)))
    assert not torch.allclose(clean, noised)
    assert torch.equal(noised, backbone.features(x, FeatureSpec(timestep=(500,))))
    both = backbone.features(x, FeatureSpec(timestep=(0, 500)))
    torch.testing.assert_close(both, torch.cat([clean, noised], dim=1))


def test_blocks_and_pooling_set_the_dimension():
    backbone = tiny()
    dims = backbone.block_dims()
    assert set(dims) == {"up0", "up1", "mid"}
    x = images(3)
    for layers in (("up0",), ("up1",), ("up0", "up1", "mid")):
        assert backbone.features(x, FeatureSpec(layers=layers, timestep=(10,))).shape == (3, sum(dims[b] for b in layers))
    grid = backbone.features(x, FeatureSpec(layers=("up1",), timestep=(10,), pool="2x2"))
    assert grid.shape == (3, 4 * dims["up1"]) == (3, backbone.block_dims("2x2")["up1"])
    # the default spec (chosen on Fashion-MNIST's validation draw): the lowest-resolution up block at t = 50, 4x4 cells
    spec = backbone.default_specs()[0]
    assert spec == FeatureSpec(layers=("up0",), timestep=(50,), pool="4x4")
    assert backbone.features(x, spec).shape == (3, backbone.block_dims("4x4")["up0"])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_pass_ends_at_the_last_block_read_and_the_features_do_not_change(monkeypatch, precision):
    """A spec that reads up0 (or mid) need not run the higher-resolution up blocks: the forward pass stops after the
    last block read. The features must be those of the whole pass, here to the last bit, on the bf16 path too."""
    from fewgen.backbones import unet_blocks

    backbone, x = tiny(precision=precision), images(4)
    later = backbone.model.network("ema").up_blocks[1]
    calls = []
    handle = later.register_forward_hook(lambda *_: calls.append(1))
    specs = [FeatureSpec(layers=("up0",), timestep=(50,), pool="2x2"), FeatureSpec(layers=("mid",), timestep=(10, 50)),
             FeatureSpec(layers=("up1", "mid"), timestep=(10,))]
    stopped = [backbone.features(x, spec) for spec in specs]
    assert len(calls) == 1  # up1 ran for the third spec only
    monkeypatch.setattr(unet_blocks, "END_PASS_EARLY", False)  # the whole UNet, every time
    whole = [backbone.features(x, spec) for spec in specs]
    handle.remove()
    assert len(calls) == 1 + 4
    for a, b in zip(stopped, whole):
        assert torch.equal(a, b)


def test_bf16_features_are_close_to_fp32_and_batch_independent():
    backbone = tiny(precision="bf16")
    x = images(8)
    spec = FeatureSpec(timestep=(100,))
    whole = backbone.features(x, spec)
    one_by_one = torch.cat([backbone.features(x[i : i + 1], spec) for i in range(len(x))])
    torch.testing.assert_close(one_by_one, whole, rtol=0, atol=0)
    assert backbone.feature_precision() == "bf16"
    backbone.precision = "fp32"
    torch.testing.assert_close(backbone.features(x, spec), whole, rtol=0.05, atol=0.05)
    assert backbone.feature_precision() == "fp32"


def test_auto_reads_features_in_fp32_on_every_cpu(monkeypatch):
    """Training's auto is bf16 on a CPU with native bf16; features' auto is fp32 there too (one answer per CPU kind)."""
    import fewgen.train as train

    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    assert train.choose_mixed_precision("auto", cpu=True) == "bf16"
    assert train.resolved_precision("auto", torch.device("cpu")) == "fp32"
    assert train.resolved_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize(
    "spec, message",
    [
        (FeatureSpec(layers=("up7",), timestep=(5,)), "no block up7"),
        (FeatureSpec(timestep=(1000,)), "must lie in 0..999"),
        (FeatureSpec(timestep=(5,), pool="3x4"), "--spatial-pool must be"),
        (FeatureSpec(part="encoder"), "does not read --parts"),
        (FeatureSpec(timestep=(5,), weights="best"), "--weights must be"),
    ],
)
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(FewgenError, match=message):
        tiny().features(images(1), spec)


def test_bad_options_are_clear_errors():
    with pytest.raises(FewgenError, match="preset=huge is unknown"):
        DDPMBackbone(DDPMConfig(preset="huge"), (1, 8, 8))
    with pytest.raises(FewgenError, match="beta_schedule=cubic is unknown"):
        DDPMBackbone(DDPMConfig(preset="tiny", beta_schedule="cubic"), (1, 8, 8))
    with pytest.raises(FewgenError, match="sampler=euler is unknown"):
        DDPMBackbone(DDPMConfig(preset="tiny", sampler="euler"), (1, 8, 8))


@pytest.mark.parametrize("sampler, steps", [("ddim", 5), ("ddpm", 10)])
def test_sample_shape_dtype_and_seed(sampler, steps):
    backbone = tiny((1, 10, 14))
    first = backbone.sample(3, seed=1, steps=steps, sampler=sampler)
    assert first.shape == (3, 1, 10, 14) and first.dtype == torch.uint8
    assert torch.equal(first, backbone.sample(3, seed=1, steps=steps, sampler=sampler))


def test_a_saved_ddpm_is_a_diffusers_pipeline_and_comes_back_with_the_same_features(tmp_path):
    """save -> DDPMPipeline / UNet2DModel.from_pretrained -> the same EMA weights and the same features; a run started
    from_pretrained loads again from its own folder when the source is gone."""
    from diffusers import DDPMPipeline

    trained = tiny()
    trained.fit(images(64), TrainConfig(epochs=2, batch_size=16, progress=False, precision="fp32"))
    trained.save(tmp_path / "trained")
    exported = tmp_path / "trained" / "diffusers"
    pipeline = DDPMPipeline.from_pretrained(exported)
    for (name, ours), theirs in zip(trained.model.network("ema").state_dict().items(), pipeline.unet.state_dict().values()):
        assert torch.equal(ours, theirs), name
    assert pipeline.scheduler.config.num_train_timesteps == TINY.train_timesteps
    assert not torch.equal(trained.model.network("raw").conv_in.weight, pipeline.unet.conv_in.weight)  # EMA, not raw

    x, spec = images(6, seed=1), FeatureSpec(layers=("up0", "up1", "mid"), timestep=(10, 200))
    expected = trained.features(x, spec)
    started = DDPMBackbone(DDPMConfig(preset="tiny", from_pretrained=str(exported)), (1, 8, 8))
    started.precision = "fp32"
    torch.testing.assert_close(started.features(x, spec), expected, rtol=0, atol=0)
    started.save(tmp_path / "started")
    shutil.rmtree(tmp_path / "trained")
    again = load_backbone(tmp_path / "started")
    again.precision = "fp32"
    torch.testing.assert_close(again.features(x, spec), expected, rtol=0, atol=0)


def test_from_pretrained_says_what_does_not_fit(tmp_path):
    tiny().save(tmp_path / "b")
    exported = str(tmp_path / "b" / "diffusers")
    with pytest.raises(FewgenError, match=r"takes 1x8x8 images and this dataset has 3x8x8"):
        DDPMBackbone(DDPMConfig(from_pretrained=exported), (3, 8, 8))
    with pytest.raises(FewgenError, match=r"takes 1x8x8 images and this dataset has 1x28x28"):
        DDPMBackbone(DDPMConfig(from_pretrained=exported), (1, 28, 28))
    with pytest.raises(FewgenError, match=r"has 1000 timesteps; pass -o train_timesteps=1000"):
        DDPMBackbone(DDPMConfig(from_pretrained=exported, train_timesteps=500), (1, 8, 8))
    with pytest.raises(FewgenError, match=r"holds no diffusers UNet"):
        DDPMBackbone(DDPMConfig(from_pretrained=str(tmp_path)), (1, 8, 8))
    DDPMBackbone(DDPMConfig(preset="tiny", prediction="v"), (1, 8, 8)).save(tmp_path / "v")
    with pytest.raises(FewgenError, match=r"predicts 'v_prediction'; pass -o prediction=v"):
        DDPMBackbone(DDPMConfig(from_pretrained=str(tmp_path / "v" / "diffusers")), (1, 8, 8))
    started = DDPMBackbone(DDPMConfig(from_pretrained=str(tmp_path / "v" / "diffusers"), prediction="v"), (1, 8, 8))
    assert started.model.scheduler.config.prediction_type == "v_prediction"


RECIPES = [("epsilon", "uniform"), ("epsilon", "min_snr"), ("v", "uniform"), ("v", "min_snr")]


@pytest.mark.parametrize("prediction, weighting", RECIPES)
def test_each_recipe_is_the_loss_its_paper_writes(prediction, weighting):
    """Target and weight computed here from the linear betas themselves: epsilon or v = sqrt(abar) eps - sqrt(1-abar) x0
    (Salimans & Ho 2022); weight 1 or min(SNR, 5) / SNR (epsilon) and / (SNR + 1) (v) (Hang et al. 2023)."""
    model = DDPMBackbone(DDPMConfig(preset="tiny", prediction=prediction, loss_weight=weighting), (1, 8, 8)).model
    generator = torch.Generator().manual_seed(0)
    x0, noise, predicted = (torch.randn((4, 1, 8, 8), generator=generator) for _ in range(3))
    t = torch.tensor([0, 10, 500, 999])
    abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)[t].float()[:, None, None, None]
    target = noise if prediction == "epsilon" else abar.sqrt() * noise - (1 - abar).sqrt() * x0
    snr = (abar / (1 - abar)).flatten()
    weight = torch.ones(4) if weighting == "uniform" else snr.clamp(max=5.0) / (snr if prediction == "epsilon" else snr + 1)
    expected = (weight * ((predicted - target) ** 2).mean(dim=(1, 2, 3))).mean()
    torch.testing.assert_close(model.recipe_loss(predicted, x0, noise, t), expected, rtol=1e-4, atol=1e-6)
    assert model.scheduler.config.prediction_type == {"epsilon": "epsilon", "v": "v_prediction"}[prediction]


def test_the_recipes_give_four_different_losses():
    generator = torch.Generator().manual_seed(0)
    x0, noise, predicted = (torch.randn((4, 1, 8, 8), generator=generator) for _ in range(3))
    t = torch.tensor([1, 50, 300, 900])
    losses = {DDPMBackbone(DDPMConfig(preset="tiny", prediction=p, loss_weight=w), (1, 8, 8)).model
              .recipe_loss(predicted, x0, noise, t).item() for p, w in RECIPES}
    assert len(losses) == 4


def test_lognormal_timesteps_follow_edms_sigma_and_uniform_ones_do_not():
    """EDM's ln(sigma) ~ N(-1.2, 1.2^2), read through the scheduler's own sigma_t = sqrt((1 - abar_t) / abar_t)."""
    edm = DDPMBackbone(DDPMConfig(preset="tiny", timestep_sampling="lognormal"), (1, 8, 8)).model
    torch.manual_seed(0)
    t = edm.draw_timesteps(20000, torch.device("cpu"))
    assert t.dtype == torch.long and 0 <= t.min() and t.max() <= 999
    abar = edm.scheduler.alphas_cumprod[t].double()
    log_sigma = 0.5 * torch.log((1 - abar) / abar)
    assert abs(log_sigma.mean().item() + 1.2) < 0.05 and abs(log_sigma.std().item() - 1.2) < 0.05
    uniform = tiny().model.draw_timesteps(20000, torch.device("cpu"))
    abar = tiny().model.scheduler.alphas_cumprod[uniform].double()
    assert (0.5 * torch.log((1 - abar) / abar)).mean() > 0.5  # uniform t puts most of its weight at high noise


PROTOTYPES = (torch.rand((4, 1, 8, 8), generator=torch.Generator().manual_seed(3)) > 0.5).to(torch.uint8) * 255


@pytest.mark.parametrize("prediction, weighting, schedule, sampling", [
    ("epsilon", "uniform", "linear", "uniform"), ("v", "min_snr", "linear", "lognormal"),
    ("epsilon", "min_snr", "squaredcos_cap_v2", "lognormal")])
def test_a_tiny_model_trained_with_each_recipe_denoises_better_than_chance(prediction, weighting, schedule, sampling):
    """Four binary 8x8 images: after training, the x0 that the sampler's scheduler reads from the UNet's output on a
    noised image (t = 300, no clipping) is closer to the image than the best guess that ignores it (the images' mean);
    samples and features stay right. (A scheduler that took v for epsilon would miss by about 1.5x chance here.)"""
    from diffusers import DDIMScheduler

    config = DDPMConfig(preset="tiny", prediction=prediction, loss_weight=weighting, beta_schedule=schedule,
                        timestep_sampling=sampling)
    backbone = DDPMBackbone(config, (1, 8, 8))
    backbone.precision = "fp32"
    backbone.fit(PROTOTYPES.repeat(32, 1, 1, 1), TrainConfig(steps=120, batch_size=32, lr=3e-3, progress=False, precision="fp32"))
    model, net = backbone.model, backbone.model.network("raw")
    x0 = model.to_network(PROTOTYPES)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    t = torch.full((4,), 300)
    xt = model.scheduler.add_noise(x0, noise, t)
    with torch.no_grad():
        output = net(xt, t).sample
    reader = DDIMScheduler.from_config(model.scheduler.config, clip_sample=False)  # as sample() builds it, unclipped
    reader.set_timesteps(model.scheduler.config.num_train_timesteps)
    estimate = reader.step(output, 300, xt).pred_original_sample
    chance = ((x0.mean(0, keepdim=True) - x0) ** 2).mean()
    assert ((estimate - x0) ** 2).mean() < 0.5 * chance
    samples = backbone.sample(2, seed=0, steps=5)
    assert samples.shape == (2, 1, 8, 8) and samples.dtype == torch.uint8
    spec = FeatureSpec(timestep=(50, 300))
    whole = backbone.features(PROTOTYPES, spec)
    torch.testing.assert_close(torch.cat([backbone.features(PROTOTYPES[i : i + 1], spec) for i in range(4)]), whole,
                               rtol=0, atol=0)


def test_bad_recipe_options_are_clear_errors():
    for key, value, message in [("prediction", "x0", "prediction=x0 is unknown; use one of epsilon, v"),
                                ("loss_weight", "p2", "loss_weight=p2 is unknown"),
                                ("timestep_sampling", "edm", "timestep_sampling=edm is unknown"),
                                ("snr_gamma", 0.0, "snr_gamma must be above 0")]:
        with pytest.raises(FewgenError, match=message):
            DDPMBackbone(DDPMConfig(preset="tiny", **{key: value}), (1, 8, 8))


def test_noise_draws_average_seeded_draws_and_one_draw_is_todays_feature():
    backbone, x = tiny(), images(6, seed=2)
    today = backbone.features(x, FeatureSpec(timestep=(200,)))
    torch.testing.assert_close(backbone.features(x, FeatureSpec(timestep=(200,), noise_draws=1)), today, rtol=0, atol=0)
    averaged = backbone.features(x, FeatureSpec(timestep=(200,), noise_draws=3))
    assert averaged.shape == today.shape and not torch.allclose(averaged, today)
    one_by_one = torch.cat([backbone.features(x[i : i + 1], FeatureSpec(timestep=(200,), noise_draws=3)) for i in range(6)])
    torch.testing.assert_close(one_by_one, averaged, rtol=0, atol=0)
    clean = FeatureSpec(timestep=(0,))
    torch.testing.assert_close(backbone.features(x, FeatureSpec(timestep=(0,), noise_draws=3)), backbone.features(x, clean))


def test_combine_mean_averages_the_timesteps_instead_of_concatenating_them():
    backbone, x = tiny(), images(5, seed=3)
    first, second = (backbone.features(x, FeatureSpec(timestep=(t,))) for t in (50, 300))
    concatenated = backbone.features(x, FeatureSpec(timestep=(50, 300)))
    torch.testing.assert_close(concatenated, torch.cat([first, second], dim=1))
    torch.testing.assert_close(backbone.features(x, FeatureSpec(timestep=(50, 300), combine="mean")), (first + second) / 2)


def test_bad_reading_options_are_clear_errors():
    from fewgen.backbones.vae import VAEBackbone, VAEConfig
    from fewgen.cli.options import feature_specs

    with pytest.raises(FewgenError, match="--noise-draws must be at least 1"):
        tiny().features(images(1), FeatureSpec(timestep=(5,), noise_draws=0))
    with pytest.raises(FewgenError, match="--combine must be concat or mean"):
        tiny().features(images(1), FeatureSpec(timestep=(5,), combine="max"))
    with pytest.raises(FewgenError, match="does not read --noise-draws"):
        VAEBackbone(VAEConfig(), (1, 8, 8)).features(images(1), FeatureSpec(part="encoder", noise_draws=2))
    with pytest.raises(FewgenError, match="--combine must be concat or mean"):
        feature_specs("", "50+100", "", "mean", "", 1, "sum")
    assert feature_specs("", "50+100", "", "mean", "", 4, "mean")[0] == FeatureSpec(timestep=(50, 100), noise_draws=4, combine="mean")
    assert feature_specs("", "", "", "", "") is None


def test_from_pretrained_never_loads_a_pickle_and_says_so_in_one_sentence(tmp_path, capsys):
    """A UNet saved as a pickled .bin (safe_serialization=False) is refused, without trying the pickle and without
    diffusers' lines (its 'Defaulting to unsafe serialization') before fewgen's sentence."""
    from fewgen.cli import main

    tiny().model.network("ema").save_pretrained(tmp_path / "pickled", safe_serialization=False)
    assert (tmp_path / "pickled" / "diffusion_pytorch_model.bin").is_file()
    capsys.readouterr()
    code = main(["pretrain", "--run", str(tmp_path / "run"), "--backbone", "ddpm", "--epochs", "0",
                 "-o", f"from_pretrained={tmp_path / 'pickled'}", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2 and "fewgen loads no pickled .bin" in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "unsafe" not in captured.err + captured.out


def test_the_token_layout_follows_the_features_blocks_of_two_widths_at_two_timesteps():
    """up0 (16 channels) and up1 (8) at t = 10 and 50, pooled 2x2: the features are [up0@10, up1@10, up0@50,
    up1@50], each read alone here, and the layout names the same parts in the same order."""
    backbone = tiny()
    x = images(3)
    spec = FeatureSpec(layers=("up0", "up1"), timestep=(10, 50), pool="2x2")
    parts = [backbone.features(x, FeatureSpec(layers=(block,), timestep=(t,), pool="2x2"))
             for t in (10, 50) for block in ("up0", "up1")]
    torch.testing.assert_close(backbone.features(x, spec), torch.cat(parts, dim=1), rtol=0, atol=1e-6)
    widths = [part.shape[1] for part in parts]
    assert widths[0] != widths[1]  # two widths, so an order mix-up shows
    assert [channels * cells for channels, cells in backbone.token_layout(spec)] == widths
    assert all(cells == 4 for _, cells in backbone.token_layout(spec))


def test_a_noised_image_is_read_at_its_own_timestep():
    """The features at t come from the UNet told t for the image noised to t (not told 0 for it)."""
    from fewgen.backbones.base import pool_activation
    from fewgen.backbones.unet_blocks import read_blocks

    backbone, x, t = tiny(), images(2), 400
    net = backbone.model.network("ema")
    x0 = backbone.model.to_network(x)
    steps = torch.full((len(x),), t, dtype=torch.long)
    noised = backbone.model.scheduler.add_noise(x0, image_noise(x, t, tuple(x0.shape[1:])), steps)
    with torch.no_grad():
        told_t = pool_activation(read_blocks(net, ["up0"], noised, steps)["up0"], "mean")
        told_0 = pool_activation(read_blocks(net, ["up0"], noised, torch.zeros_like(steps))["up0"], "mean")
    features = backbone.features(x, FeatureSpec(layers=("up0",), timestep=(t,), pool="mean"))
    torch.testing.assert_close(features, told_t, rtol=0, atol=1e-6)
    assert not torch.allclose(told_t, told_0, atol=1e-4)  # the timestep matters to this network


def test_block_sides_are_the_maps_the_blocks_give_and_bound_the_pool():
    from fewgen.backbones.unet_blocks import read_blocks

    backbone = tiny((1, 10, 14))
    x0 = backbone.model.to_network(images(1, (1, 10, 14)))
    outputs = read_blocks(backbone.model.network("ema"), backbone.block_names(), x0, torch.zeros(1, dtype=torch.long))
    assert backbone.block_sides() == {name: min(out.shape[-2:]) for name, out in outputs.items()}
    side = backbone.block_sides()["mid"]
    backbone.check_spec(FeatureSpec(layers=("mid",), timestep=(10,), pool=f"{side}x{side}"))
    with pytest.raises(FewgenError, match=f"--spatial-pool {side + 1}x{side + 1} is larger than the {side}x{side} map of block mid"):
        backbone.check_spec(FeatureSpec(layers=("mid",), timestep=(10,), pool=f"{side + 1}x{side + 1}"))
