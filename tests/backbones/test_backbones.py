"""Checks every registered backbone passes, with tiny configs."""

from __future__ import annotations

import pytest
import torch

from fewgen.backbones import BACKBONES, FeatureSpec, get_backbone_class, load_backbone
from fewgen.backbones.base import FEATURE_BATCH, option_help
from fewgen.backbones.torch_backbone import TorchBackbone
from fewgen.errors import FewgenError
from fewgen.train import TrainConfig, phase_loss, training_phases

TINY = {
    "pixels": {},
    "vae": {"channels": 8, "latent_dim": 4},
    "ddpm": {"preset": "tiny"},
    "vqvae": {"channels": 8, "codebook_size": 16, "code_dim": 4},
    "alae": {"latent_dim": 8, "channels": 4, "mapping_layers": 2},
}
TRAINED = sorted(name for name in TINY if issubclass(get_backbone_class(name), TorchBackbone))
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 10, 14)]


def make(name: str, shape=(1, 8, 8), precision: str = "fp32"):
    """A tiny backbone; fp32 features so that tight tolerances hold (bf16 has its own tests)."""
    cls = get_backbone_class(name)
    backbone = cls(cls.Config(**TINY[name]), shape)
    backbone.precision = precision
    return backbone


def images(n: int, shape, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_every_backbone_has_a_tiny_config():
    assert set(BACKBONES) == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("shape", SHAPES)
def test_feature_shapes(name, shape):
    backbone = make(name, shape)
    for spec in backbone.default_specs():
        feats = backbone.features(images(5, shape), spec)
        assert feats.ndim == 2 and feats.shape[0] == 5 and torch.isfinite(feats).all()


@pytest.mark.parametrize("name", TRAINED)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_training_phase_has_a_finite_loss_and_gradients(name, shape):
    """Each optimizer phase: a finite loss whose backward reaches every parameter that phase updates."""
    model = make(name, shape).model.train()
    x = images(4, shape)
    for phase in training_phases(model):
        model.zero_grad(set_to_none=True)
        loss, logs = phase_loss(model, phase, (x,))
        assert loss.ndim == 0 and torch.isfinite(loss), phase.name
        assert all(isinstance(v, float) for v in logs.values())
        loss.backward()
        grads = [p.grad for p in phase.parameters]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), phase.name
        assert any(g.abs().sum() > 0 for g in grads), phase.name


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_option_is_explained(name):
    """``fewgen backbones`` and ``pretrain --help`` show a sentence for every config field."""
    assert all(text for _, _, text in option_help(get_backbone_class(name).Config))


@pytest.mark.parametrize("name", sorted(TINY))
def test_samples_and_reconstructions_are_images(name):
    """Each backbone samples and reconstructs uint8 images of its shape, or refuses what it cannot do in one
    sentence: pixels does neither, and the DDPM has no encoder to reconstruct with."""
    backbone = make(name)
    can = {"pixels": (False, False), "ddpm": (True, False)}.get(name, (True, True))
    for able, make_images in zip(can, (lambda: backbone.sample(5), lambda: backbone.reconstruct(images(5, (1, 8, 8))))):
        if not able:
            with pytest.raises(FewgenError, match="cannot"):
                make_images()
            continue
        out = make_images()
        assert out.dtype == torch.uint8 and out.shape == (5, 1, 8, 8) and out.float().std() > 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16 is forced, so its path is tested on every CPU kind
@pytest.mark.parametrize("name", sorted(TINY))
def test_features_do_not_depend_on_batch_size_order_or_neighbours(name, precision):
    """Bit for bit: alone, in a shuffled batch, and in a call longer than one FEATURE_BATCH."""
    backbone = make(name, precision=precision)
    backbone.fit(images(64, (1, 8, 8)), TrainConfig(epochs=1, batch_size=16, progress=False))
    x = images(FEATURE_BATCH + 6, (1, 8, 8), seed=1)
    for spec in backbone.default_specs():
        whole = backbone.features(x, spec)
        few = x[:12]
        one_by_one = torch.cat([backbone.features(few[i : i + 1], spec) for i in range(len(few))])
        perm = torch.randperm(len(few), generator=torch.Generator().manual_seed(0))
        shuffled = backbone.features(few[perm], spec)
        others = backbone.features(torch.cat([few[:3], images(5, (1, 8, 8), seed=7)]), spec)[:3]
        torch.testing.assert_close(one_by_one, whole[:12], rtol=0, atol=0)
        torch.testing.assert_close(shuffled, whole[:12][perm], rtol=0, atol=0)
        torch.testing.assert_close(others, whole[:3], rtol=0, atol=0)
        assert backbone.features(x[:0], spec).shape == (0, whole.shape[1])


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_load_round_trip(name, tmp_path):
    backbone = make(name)
    backbone.fit(images(32, (1, 8, 8)), TrainConfig(epochs=1, batch_size=16, progress=False))
    backbone.save(tmp_path)
    again = load_backbone(tmp_path)
    again.precision = backbone.precision
    assert type(again) is type(backbone) and again.config == backbone.config
    x = images(6, (1, 8, 8), seed=2)
    for spec in backbone.default_specs():
        torch.testing.assert_close(again.features(x, spec), backbone.features(x, spec), rtol=0, atol=0)


def test_checkpoint_from_another_backbone(tmp_path):
    make("pixels").save(tmp_path)
    with pytest.raises(FewgenError, match="saved by backbone 'pixels', not 'vae'"):
        load_backbone(tmp_path, expected="vae")


def test_wrong_image_shape_is_a_clear_error():
    with pytest.raises(FewgenError, match="do not match the backbone"):
        make("vae", (1, 8, 8)).features(images(2, (1, 28, 28)), FeatureSpec(part="encoder"))


def test_unknown_backbone():
    with pytest.raises(FewgenError, match="unknown backbone 'gan9000'"):
        get_backbone_class("gan9000")


@pytest.mark.parametrize("name", sorted(TINY))
def test_spec_fields_a_backbone_does_not_read_are_errors(name):
    backbone = make(name)
    reads = {k for spec in backbone.default_specs() for k in spec.to_dict()}
    for field, value in (("part", "stacked"), ("layers", ("up0",)), ("timestep", (5,)), ("pool", "2x2"), ("weights", "raw")):
        if field not in reads and (name, field) not in {("ddpm", "pool"), ("ddpm", "weights"), ("vqvae", "pool")}:
            with pytest.raises(FewgenError, match="does not read"):
                backbone.check_spec(FeatureSpec(**{field: value}))


def test_the_checkpoint_hash_covers_the_config_as_well_as_the_weights(tmp_path):
    """An edited backbone.json (say, channels) builds another network from the same weights: it must not pass as
    the checkpoint whose features are cached or whose model folder was fitted."""
    import json

    from fewgen.backbones import checkpoint_hash

    make("vae").save(tmp_path)
    before = checkpoint_hash(tmp_path)
    config_file = tmp_path / "backbone.json"
    stored = json.loads(config_file.read_text())
    stored["config"]["channels"] = 16
    config_file.write_text(json.dumps(stored))
    assert checkpoint_hash(tmp_path) != before
