"""A convolutional VAE (Kingma & Welling, 2014) and its layer features.

Features follow "Few Shot Generative Classification" (Sec. 2.1): each layer's
activations are averaged over space and concatenated; ``part`` selects the
encoder layers, the decoder layers, or both ("stacked"). Decoder features are
computed from the posterior mean, never a random sample, so they are
deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fewgen.backbones.base import FeatureSpec, option, register
from fewgen.backbones.torch_backbone import TorchBackbone, logits_to_uint8
from fewgen.errors import FewgenError

PARTS = ("encoder", "decoder", "stacked")


@dataclass
class VAEConfig:
    """The VAE's sizes and KL weight (each field's help says what it does)."""

    channels: int = option(32, "width of the first conv (doubled at each of two downsamplings)")
    latent_dim: int = option(32, "size of z")
    beta: float = option(1.0, "weight of the KL term (1 = the ELBO)")


def _block(conv: nn.Module, width: int) -> nn.Sequential:
    """conv -> GroupNorm -> SiLU; GroupNorm keeps each image independent of its batch."""
    return nn.Sequential(conv, nn.GroupNorm(math.gcd(8, width), width), nn.SiLU())


class ConvVAE(nn.Module):
    """Encoder: 3 conv blocks (stride 1, 2, 2) -> (mu, logvar). Decoder: linear -> 2 transposed convs -> logits.

    Images ``[B, C, H, W]`` are zero-padded to multiples of 4; the loss ignores the padding.
    """

    def __init__(self, image_shape: tuple[int, int, int], cfg: VAEConfig):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = image_shape
        self.pad = ((-w) % 4, (-h) % 4)
        self.grid = ((h + self.pad[1]) // 4, (w + self.pad[0]) // 4)
        c1, c2, c3 = cfg.channels, 2 * cfg.channels, 4 * cfg.channels
        self.beta = cfg.beta
        self.encoder = nn.ModuleList(
            [_block(nn.Conv2d(c, c1, 3, 1, 1), c1), _block(nn.Conv2d(c1, c2, 4, 2, 1), c2), _block(nn.Conv2d(c2, c3, 4, 2, 1), c3)]
        )
        flat = c3 * self.grid[0] * self.grid[1]
        self.to_stats = nn.Linear(flat, 2 * cfg.latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(cfg.latent_dim, flat), nn.SiLU())
        self.decoder = nn.ModuleList(
            [_block(nn.ConvTranspose2d(c3, c2, 4, 2, 1), c2), _block(nn.ConvTranspose2d(c2, c1, 4, 2, 1), c1)]
        )
        self.to_logits = nn.Conv2d(c1, c, 3, 1, 1)
        self.c3 = c3

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> float in [0, 1], padded to multiples of 4."""
        return F.pad(x.float() / 255.0, (0, self.pad[0], 0, self.pad[1]))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Padded float images -> mu ``[B, Z]``, logvar ``[B, Z]``, activations of each conv block."""
        acts = []
        h = x
        for block in self.encoder:
            h = block(h)
            acts.append(h)
        mu, logvar = self.to_stats(h.flatten(1)).chunk(2, dim=1)
        return mu, logvar, acts

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z ``[B, Z]`` -> logits ``[B, C, H, W]`` (unpadded), activations of each decoder layer."""
        h = self.from_latent(z).view(-1, self.c3, *self.grid)
        acts = [h]
        for block in self.decoder:
            h = block(h)
            acts.append(h)
        logits = self.to_logits(h)
        _, height, width = self.image_shape
        return logits[:, :, :height, :width], acts

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Negative ELBO per image: Bernoulli reconstruction (summed over pixels) + beta * KL."""
        target = x.float() / 255.0
        mu, logvar, _ = self.encode(self._prepare(x))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits, _ = self.decode(z)
        batch = x.shape[0]
        recon = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="sum") / batch
        kl = -0.5 * torch.sum(1 + logvar.float() - mu.float() ** 2 - logvar.float().exp()) / batch
        return recon + self.beta * kl, {"recon": recon.item(), "kl": kl.item()}


@register
class VAEBackbone(TorchBackbone):
    name = "vae"
    Config = VAEConfig

    def build_model(self) -> nn.Module:
        return ConvVAE(self.image_shape, self.config)

    def default_specs(self) -> list[FeatureSpec]:
        return [FeatureSpec(part=p) for p in PARTS]

    def check_spec(self, spec: FeatureSpec) -> None:
        self.reject_unused(spec, {"part"})
        if spec.part not in PARTS:
            raise FewgenError(f"the vae reads --part encoder, decoder or stacked, not '{spec.part}'")

    def _features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """Spatial means of every layer: encoder ``[B, c1+c2+c3+Z]``, decoder ``[B, c3+c2+c1+C]``."""
        mu, _, enc_acts = self.model.encode(self.model._prepare(x))
        parts = []
        if spec.part in ("encoder", "stacked"):
            parts += [a.mean(dim=(2, 3)) for a in enc_acts] + [mu]
        if spec.part in ("decoder", "stacked"):
            logits, dec_acts = self.model.decode(mu)  # the posterior mean, never a sample
            parts += [a.mean(dim=(2, 3)) for a in dec_acts] + [torch.sigmoid(logits).mean(dim=(2, 3))]
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> decoded posterior means, uint8 ``[B, C, H, W]``."""
        model, device = self.placed_model_and_device()
        logits, _ = model.decode(model.encode(model._prepare(x.to(device)))[0])
        return logits_to_uint8(logits)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Decode ``n`` draws of z ~ N(0, I) -> uint8 ``[n, C, H, W]``."""
        model, device = self.placed_model_and_device()
        z = torch.randn(n, self.config.latent_dim, generator=torch.Generator().manual_seed(seed))
        logits, _ = model.decode(z.to(device))
        return logits_to_uint8(logits)
