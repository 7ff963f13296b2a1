"""A DDPM (Ho et al., 2020) on diffusers' ``UNet2DModel`` and ``DDPMScheduler``, and its features.

Features follow "Few Shot Generative Classification" (Sec. 2.1-2.2): noise an
image to timestep t, run the UNet once, average the output of each decoder (up)
block over space and concatenate. Optional k x k adaptive pooling follows
"Diffusion Models Beat GANs on Image Classification" (Mukhopadhyay et al., 2023).

Training recipe (``-o`` options, each with its paper): the target (epsilon or v), the loss weight (uniform or
min-SNR-gamma), the beta schedule (linear or cosine) and the training timesteps' distribution (uniform, or EDM's
log-normal sigma mapped onto the scheduler's own timesteps). Every combination keeps one diffusers scheduler as the
noise process, so sampling (DDIM or DDPM, which read its ``prediction_type``) and features need nothing else.

Deterministic by construction: the noise for an image is drawn from a generator
seeded by a hash of the image's pixels and the timestep, so the same image gives
the same features whatever its batch, position or index; t = 0 reads the clean
image. Features come from EMA weights by default (``spec.weights = "raw"`` for the
trained weights). The network (diffusers' model) and the process (diffusers'
schedulers) stay apart, as in diffusers itself.

Interchange with the diffusers ecosystem: ``from_pretrained`` starts from any diffusers
``UNet2DModel`` (a folder, or a Hugging Face id such as ``google/ddpm-cifar10-32``) and its
scheduler, and every saved backbone also holds ``diffusers/`` in ``DDPMPipeline``'s own
layout (the EMA UNet and the scheduler), which ``DDPMPipeline.from_pretrained`` loads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.training_utils import compute_snr
from torch import nn
from torch.optim.swa_utils import AveragedModel

from fewgen.backbones.base import FeatureSpec, check_pool, option, pool_activation, pool_side, read_meta, register
from fewgen.backbones.torch_backbone import TorchBackbone
from fewgen.backbones.pretrained_unet import pretrained_unet
from fewgen.backbones.unet_blocks import read_blocks
from fewgen.errors import FewgenError
from fewgen.train import inference_autocast

# Widths per UNet level; each level but the last halves the resolution.
PRESETS: dict[str, dict] = {
    "tiny": {"block_out_channels": (8, 16), "layers_per_block": 1, "norm_num_groups": 4, "attention": ()},
    "small": {"block_out_channels": (32, 64, 64), "layers_per_block": 1, "norm_num_groups": 8, "attention": ()},
    "base": {"block_out_channels": (64, 128, 256, 256), "layers_per_block": 2, "norm_num_groups": 32, "attention": (2,)},
}
WEIGHTS = ("ema", "raw")
SAMPLERS = ("ddim", "ddpm")
PREDICTIONS = {"epsilon": "epsilon", "v": "v_prediction"}  # the option's value -> diffusers' prediction_type
LOSS_WEIGHTS = ("uniform", "min_snr")
TIMESTEP_SAMPLINGS = ("uniform", "lognormal")
EDM_LOG_SIGMA = (-1.2, 1.2)  # EDM's P_mean and P_std (Karras et al. 2022, Table 1)
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
DEFAULT_TIMESTEP = 100  # a spec that names no timestep reads this one
DEFAULT_READING_TIMESTEPS, DEFAULT_READING_POOL = (50,), "4x4"  # the default spec's (chosen on validation)
COMBINES = (None, "mean")  # how a spec's timesteps join: concatenated (None) or averaged
DIFFUSERS_DIR = "diffusers"  # in a saved backbone: DDPMPipeline's layout (model_index.json, unet/, scheduler/)


@dataclass
class DDPMConfig:
    """The DDPM's UNet size, noise process, EMA and sampler (each field's help says what it does)."""

    preset: str = option("small", "UNet size: tiny (tests), small (CPU), base (GPU)")
    train_timesteps: int = option(1000, "T, the number of noising steps")
    beta_schedule: str = option("linear", "noise schedule of diffusers' DDPMScheduler: linear (Ho et al. 2020), scaled_linear, "
                                          "or squaredcos_cap_v2, the cosine schedule of Nichol & Dhariwal 2021")
    prediction: str = option("epsilon", "what the UNet learns to predict: epsilon, the noise (Ho et al. 2020), or v, the "
                                        "velocity sqrt(a)*noise - sqrt(1-a)*x0 (Salimans & Ho 2022)")
    loss_weight: str = option("uniform", "per-timestep weight of the MSE: uniform (Ho et al.'s simple loss) or min_snr, "
                                         "min(SNR, snr_gamma) / SNR for epsilon and / (SNR + 1) for v (Hang et al. 2023)")
    snr_gamma: float = option(5.0, "the gamma of min_snr (the paper's 5)")
    timestep_sampling: str = option("uniform", "how training draws t: uniform over 0..T-1 (Ho et al.), or lognormal, "
                                               "EDM's ln(sigma) ~ N(-1.2, 1.2^2) (Karras et al. 2022) mapped to the "
                                               "scheduler's t with the nearest sigma, so the noise process stays diffusers'")
    ema_decay: float = option(0.999, "decay of the EMA weights (with the (1+n)/(10+n) warm-up)")
    sampler: str = option("ddim", "how sample() generates: ddim (few steps) or ddpm (the full chain)")
    sample_steps: int = option(50, "DDIM steps for sample()")
    from_pretrained: str = option("", "start from a diffusers UNet2DModel and its scheduler: a folder or a Hugging Face id "
                                      "(preset is then unused; --epochs 0 uses the weights as they are)")


def _ema_update(decay: float):
    """EMA with warm-up, ``decay_n = min(decay, (1 + n) / (10 + n))`` (as in TF's ExponentialMovingAverage)."""

    @torch.no_grad()
    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], n_averaged) -> None:
        n = float(n_averaged)
        torch._foreach_lerp_(ema_params, params, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return update


class DiffusionModel(nn.Module):
    """The UNet, its EMA copy, and the noise process. Images are uint8 ``[B, C, H, W]``; the
    network sees them in [-1, 1], padded (with black) to a size every UNet level divides."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: DDPMConfig, source: str | Path | None = None,
                 weights: bool = True):
        """``source``: a diffusers UNet (and scheduler) to start from, with its ``weights`` or only its architecture."""
        super().__init__()
        if cfg.preset not in PRESETS:
            raise FewgenError(f"ddpm option preset={cfg.preset} is unknown; use one of {', '.join(PRESETS)}")
        if cfg.beta_schedule not in BETA_SCHEDULES:
            raise FewgenError(f"ddpm option beta_schedule={cfg.beta_schedule} is unknown; use one of {', '.join(BETA_SCHEDULES)}")
        for key, allowed in (("sampler", SAMPLERS), ("prediction", PREDICTIONS), ("loss_weight", LOSS_WEIGHTS),
                             ("timestep_sampling", TIMESTEP_SAMPLINGS)):
            if getattr(cfg, key) not in allowed:
                raise FewgenError(f"ddpm option {key}={getattr(cfg, key)} is unknown; use one of {', '.join(allowed)}")
        if cfg.snr_gamma <= 0:
            raise FewgenError(f"ddpm option snr_gamma must be above 0, got {cfg.snr_gamma}")
        self.cfg = cfg
        c, h, w = image_shape
        self.image_shape = image_shape
        if source:
            self.unet, scheduler_config = pretrained_unet(source, weights)
            size = self.unet.config.sample_size
            size_h, size_w = (size, size) if isinstance(size, int) else tuple(size)
            if self.unet.config.in_channels != c or size_h < h or size_w < w:
                raise FewgenError(f"the pretrained UNet {source} takes {self.unet.config.in_channels}x{size_h}x{size_w} images "
                                  f"and this dataset has {c}x{h}x{w}; use a UNet made for this dataset's channels and size")
            pad_h, pad_w = size_h - h, size_w - w
        else:
            preset = PRESETS[cfg.preset]
            levels = len(preset["block_out_channels"])
            multiple = 2 ** (levels - 1)
            pad_h, pad_w = (-h) % multiple, (-w) % multiple
            down = tuple("AttnDownBlock2D" if i in preset["attention"] else "DownBlock2D" for i in range(levels))
            up = tuple("AttnUpBlock2D" if levels - 1 - i in preset["attention"] else "UpBlock2D" for i in range(levels))
            self.unet = UNet2DModel(
                sample_size=(h + pad_h, w + pad_w), in_channels=c, out_channels=c, down_block_types=down, up_block_types=up,
                block_out_channels=preset["block_out_channels"], layers_per_block=preset["layers_per_block"],
                norm_num_groups=preset["norm_num_groups"],
            )
            scheduler_config = None
        self.pad = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)  # left, right, top, bottom
        self.ema = AveragedModel(self.unet, multi_avg_fn=_ema_update(cfg.ema_decay))
        self.ema.requires_grad_(False)
        if scheduler_config is None:
            self.scheduler = DDPMScheduler(num_train_timesteps=cfg.train_timesteps, beta_schedule=cfg.beta_schedule,
                                           prediction_type=PREDICTIONS[cfg.prediction])
        else:
            self.scheduler = DDPMScheduler.from_config(scheduler_config)
            steps, kind = self.scheduler.config.num_train_timesteps, self.scheduler.config.prediction_type
            if steps != cfg.train_timesteps:
                raise FewgenError(f"the pretrained scheduler of {source} has {steps} timesteps; pass -o train_timesteps={steps}")
            if kind != PREDICTIONS[cfg.prediction]:
                ours = {v: k for k, v in PREDICTIONS.items()}
                fix = f"pass -o prediction={ours[kind]}" if kind in ours else "use an epsilon- or v-prediction model"
                raise FewgenError(f"the pretrained UNet {source} predicts '{kind}'; {fix}")

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> float ``[B, C, H', W']`` in [-1, 1], padded with -1."""
        return F.pad(x.float() / 127.5 - 1.0, self.pad, value=-1.0)

    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        """Network space ``[B, C, H', W']`` -> uint8 ``[B, C, H, W]`` (padding cropped)."""
        _, h, w = self.image_shape
        left, _, top, _ = self.pad
        x = x[:, :, top : top + h, left : left + w]
        return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The DDPM loss of the recipe (:meth:`recipe_loss`) on uint8 images ``[B, C, H, W]``: noise each to a ``t``
        of :meth:`draw_timesteps`, and compare the UNet's output with the target."""
        x0 = self.to_network(x)
        noise = torch.randn_like(x0)
        t = self.draw_timesteps(len(x0), x0.device)
        predicted = self.unet(self.scheduler.add_noise(x0, noise, t), t).sample
        return self.recipe_loss(predicted, x0, noise, t), {}

    def draw_timesteps(self, n: int, device: torch.device) -> torch.Tensor:
        """``[n]`` training timesteps: uniform over 0..T-1, or EDM's log-normal sigma (``lognormal``), each mapped to
        the t whose sigma_t = sqrt((1 - abar_t) / abar_t) is nearest in log space, so the process stays the scheduler's."""
        steps = self.scheduler.config.num_train_timesteps
        if self.cfg.timestep_sampling == "uniform":
            return torch.randint(0, steps, (n,), device=device)
        mean, std = EDM_LOG_SIGMA
        log_sigma = mean + std * torch.randn(n)
        return (log_sigma[:, None] - self.log_sigmas()[None, :]).abs().argmin(dim=1).to(device)

    def log_sigmas(self) -> torch.Tensor:
        """``[T]``: ln sigma_t = 0.5 ln((1 - abar_t) / abar_t) of the scheduler, rising with t."""
        abar = self.scheduler.alphas_cumprod.double()
        return (0.5 * torch.log((1 - abar) / abar)).float()

    def recipe_loss(self, predicted: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of ``w(t) * MSE(predicted, target)``, images ``[B, C, H, W]`` and ``t`` ``[B]``. The
        target is the noise (epsilon) or the velocity (v, diffusers' ``get_velocity``); ``w`` is 1 (uniform) or
        min-SNR-gamma (Hang et al. 2023): min(SNR, gamma) / SNR for epsilon, / (SNR + 1) for v, SNR = abar / (1 - abar)."""
        target = noise if self.cfg.prediction == "epsilon" else self.scheduler.get_velocity(x0, noise, t)
        per_image = F.mse_loss(predicted.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if self.cfg.loss_weight == "uniform":
            return per_image.mean()
        snr = compute_snr(self.scheduler, t)
        weight = torch.clamp(snr, max=self.cfg.snr_gamma) / (snr if self.cfg.prediction == "epsilon" else snr + 1)
        return (weight * per_image).mean()

    def after_optimizer_step(self) -> None:
        self.ema.update_parameters(self.unet)

    def network(self, weights: str = "ema") -> UNet2DModel:
        return self.ema.module if weights == "ema" else self.unet


def image_noise(x: torch.Tensor, timestep: int, shape: tuple[int, ...], draw: int = 0) -> torch.Tensor:
    """One N(0, I) draw of ``shape`` per image, seeded by the image's bytes, the timestep and the draw's number (draw 0
    is the one every spec reads): ``[B, *shape]``."""
    extra = b"" if draw == 0 else draw.to_bytes(4, "little")
    draws = []
    for image in x.cpu():
        digest = hashlib.blake2b(image.numpy().tobytes() + timestep.to_bytes(4, "little") + extra, digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
        draws.append(torch.randn(shape, generator=generator))
    return torch.stack(draws).to(x.device)


@register
class DDPMBackbone(TorchBackbone):
    name = "ddpm"
    Config = DDPMConfig

    def __init__(self, config: DDPMConfig | None = None, image_shape=(1, 28, 28), architecture: Path | None = None):
        """``architecture``: a saved ``diffusers/`` folder to take the UNet's shape from (the weights come after)."""
        self._architecture = architecture
        super().__init__(config, image_shape)

    def build_model(self) -> nn.Module:
        if self._architecture is not None:
            return DiffusionModel(self.image_shape, self.config, source=self._architecture, weights=False)
        return DiffusionModel(self.image_shape, self.config, source=self.config.from_pretrained or None)

    @classmethod
    def load(cls, directory: Path) -> "DDPMBackbone":
        """A saved backbone; one started from a pretrained UNet takes its architecture from its own ``diffusers/``
        copy, so the run folder is enough (the original folder or id is not needed again)."""
        meta = read_meta(directory)
        if meta["backbone"] != cls.name or not meta["config"].get("from_pretrained"):
            return super().load(directory)
        backbone = cls(DDPMConfig(**meta["config"]), tuple(meta["image_shape"]), architecture=Path(directory) / DIFFUSERS_DIR)
        backbone._load_weights(Path(directory))
        return backbone

    def _save_weights(self, directory: Path) -> None:
        """Our weights (UNet, EMA, step count), then ``diffusers/``: the EMA UNet and the scheduler as DDPMPipeline saves them."""
        super()._save_weights(directory)
        export, tmp = Path(directory) / DIFFUSERS_DIR, Path(directory) / f".{DIFFUSERS_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        DDPMPipeline(unet=self.model.network("ema"), scheduler=self.model.scheduler).save_pretrained(tmp)
        shutil.rmtree(export, ignore_errors=True)
        os.replace(tmp, export)  # the folder appears whole or not at all

    def block_names(self) -> list[str]:
        """``up0`` (lowest resolution) ... ``upN``, then ``mid``."""
        return [f"up{i}" for i in range(len(self.model.unet.up_blocks))] + ["mid"]

    def default_specs(self) -> list[FeatureSpec]:
        """The lowest-resolution up block (``up0``) at t = 50, pooled to 4x4 cells: the reading that ``fewgen
        select`` chose on Fashion-MNIST's validation draw, above every up block and mid at t = 50+100 there
        (docs/DECISIONS.md), never on its test split. ``fewgen select`` chooses t and blocks on a run's own
        validation draw instead."""
        return [FeatureSpec(layers=tuple(self.block_names()[:1]), timestep=DEFAULT_READING_TIMESTEPS, pool=DEFAULT_READING_POOL)]

    def check_spec(self, spec: FeatureSpec) -> None:
        names = self.block_names()
        self.reject_unused(spec, {"layers", "timestep", "pool", "weights", "noise_draws", "combine"})
        if spec.noise_draws is not None and spec.noise_draws < 1:
            raise FewgenError(f"--noise-draws must be at least 1, got {spec.noise_draws}")
        if spec.combine not in COMBINES:
            raise FewgenError(f"--combine must be concat or mean, got '{spec.combine}'")
        unknown = [b for b in spec.layers or () if b not in names]
        if unknown:
            raise FewgenError(f"the ddpm has no block {', '.join(unknown)}; use some of: {', '.join(names)}")
        top = self.config.train_timesteps - 1
        bad = [t for t in spec.timestep or () if not 0 <= t <= top]
        if bad:
            raise FewgenError(f"--timesteps must lie in 0..{top}, got {', '.join(map(str, bad))}")
        check_pool(spec.pool)
        if spec.weights not in (None, *WEIGHTS):
            raise FewgenError(f"--weights must be ema or raw, got '{spec.weights}'")
        side = pool_side(spec.pool)
        sides = self.block_sides() if side > 1 else {}
        small = [name for name in spec.layers or self.block_names()[:-1] if sides.get(name, side) < side]
        if small:
            least = min(sides[name] for name in small)
            raise FewgenError(f"--spatial-pool {spec.pool} is larger than the {least}x{least} map of block {small[0]} on these "
                              f"images; use at most {least}x{least}, or mean")

    def block_sides(self) -> dict[str, int]:
        """The shorter side of each readable block's output map, from the UNet's sample size and its down- and
        upsamplers (``mid`` at the lowest resolution; each up block after its upsampler, as its hook reads it)."""
        unet = self.model.unet
        size = unet.config.sample_size
        side = size if isinstance(size, int) else min(size)
        for block in unet.down_blocks:
            side //= 2 if getattr(block, "downsamplers", None) else 1
        sides = {"mid": side}
        for i, block in enumerate(unet.up_blocks):
            side *= 2 if getattr(block, "upsamplers", None) else 1
            sides[f"up{i}"] = side
        return sides

    def block_dims(self, pool: str = "mean") -> dict[str, int]:
        """Feature width of each block under ``pool``."""
        cells = pool_side(pool) ** 2
        unet = self.model.unet
        widths = [block.resnets[-1].out_channels for block in unet.up_blocks] + [unet.mid_block.resnets[-1].out_channels]
        return {name: width * cells for name, width in zip(self.block_names(), widths)}

    def token_layout(self, spec: FeatureSpec) -> list[tuple[int, int]]:
        """``(channels, cells)`` per block and timestep, in :meth:`_features`' order (cells = 1 for ``pool=mean``)."""
        layers = spec.layers or tuple(self.block_names()[:-1])
        cells = pool_side(spec.pool) ** 2
        dims = self.block_dims("mean")
        timesteps = 1 if spec.combine == "mean" else len(spec.timestep or (DEFAULT_TIMESTEP,))
        return [(dims[name], cells) for _ in range(timesteps) for name in layers]

    def _features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """For each t: the chosen blocks' activations, pooled, concatenated over blocks, and averaged over the
        spec's ``noise_draws`` (t = 0 has no noise: one pass) -> ``[B, sum(dims)]``; then concatenated over t
        (``[B, len(t) * sum(dims)]``) or, with ``combine="mean"``, averaged (``[B, sum(dims)]``)."""
        net = self.model.network(spec.weights or "ema")
        layers = spec.layers or tuple(self.block_names()[:-1])
        per_t = []
        x0 = self.model.to_network(x)
        for t in spec.timestep or (DEFAULT_TIMESTEP,):
            steps = torch.full((len(x0),), t, device=x0.device, dtype=torch.long)
            draws = []
            for draw in range(1 if t == 0 else spec.noise_draws or 1):
                noise = image_noise(x, t, tuple(x0.shape[1:]), draw).to(x0.dtype)
                outputs = read_blocks(net, layers, x0 if t == 0 else self.model.scheduler.add_noise(x0, noise, steps), steps)
                draws.append(torch.cat([pool_activation(outputs[name], spec.pool) for name in layers], dim=1))
            per_t.append(draws[0] if len(draws) == 1 else torch.stack(draws).mean(0))
        return torch.stack(per_t).mean(0) if spec.combine == "mean" else torch.cat(per_t, dim=1)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, steps: int | None = None, sampler: str | None = None) -> torch.Tensor:
        """Reverse diffusion from pure noise with the EMA UNet -> uint8 ``[n, C, H, W]``.

        DDIM (Song et al., 2021) with ``steps`` steps, or the full ancestral DDPM chain."""
        sampler = sampler or self.config.sampler
        net = self.placed_model().network("ema")
        device = next(net.parameters()).device
        process = (DDIMScheduler.from_config(self.model.scheduler.config) if sampler == "ddim"
                   else DDPMScheduler.from_config(self.model.scheduler.config))
        process.set_timesteps(steps or (self.config.sample_steps if sampler == "ddim" else self.config.train_timesteps))
        generator = torch.Generator().manual_seed(seed)
        c = self.image_shape[0]
        size = self.model.unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        x = torch.randn((n, c, *size), generator=generator).to(device)
        for t in process.timesteps:
            with inference_autocast(self.precision, device):
                output = net(x, t.to(device)).sample.float()  # epsilon or v: the scheduler's prediction_type says
            x = process.step(output, t, x, generator=generator).prev_sample
        return self.model.to_images(x.cpu())
