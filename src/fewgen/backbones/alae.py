"""A GAN that can embed real images: Adversarial Latent Autoencoders (Pidhorskyi et al., 2020).

Four networks: a mapping F: z -> w, a generator G: w -> x, an encoder E: x -> w,
and a discriminator D that is a small MLP on E's w. Each training step has the
paper's three updates (Algorithm 1), each with its own Adam (betas 0, 0.99):

1. E, D: non-saturating adversarial loss, softplus(D(E(G(F(z))))) + softplus(-D(E(x))),
   plus the R1 penalty gamma/2 * ||grad_x D(E(x))||^2 on real images (Mescheder et al., 2018),
   applied every ``r1_every`` steps and scaled by it (lazy regularisation, Karras et al., 2020);
2. F, G: softplus(-D(E(G(F(z)))));
3. E, G: the latent reconstruction ||F(z) - E(G(F(z)))||^2, which makes E invert G in w-space.

Features are E(x) (``latent_dim``, 128 as in the paper). The paper's encoder had a
minibatch-stddev layer, which made an image's features depend on its batch;
this E has no batch-statistic layer at all, so features are per image.
The generator modulates each layer by w through adaptive instance normalisation
(Huang & Belongie, 2017; as in StyleGAN and StyleALAE); instance statistics are per image too.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fewgen.backbones.base import FeatureSpec, option, register
from fewgen.backbones.torch_backbone import TorchBackbone
from fewgen.train import Phase

GAN_BETAS = (0.0, 0.99)  # Adam betas of StyleGAN and ALAE


@dataclass
class ALAEConfig:
    """The ALAE's sizes and regularisation (each field's help says what it does)."""

    latent_dim: int = option(128, "size of z and of w, the feature vector E(x) (128 in the paper)")
    channels: int = option(64, "conv width at half resolution (twice this at quarter resolution)")
    mapping_layers: int = option(3, "linear layers in the mapping network F: z -> w")
    r1_gamma: float = option(10.0, "weight gamma of the R1 penalty on the discriminator's gradient at real images")
    r1_every: int = option(4, "apply R1 every this many steps, scaled up to match (lazy regularisation)")


def _mlp(width_in: int, width: int, out: int, layers: int) -> nn.Sequential:
    dims = [width_in] + [width] * (layers - 1)
    body = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))]
    return nn.Sequential(*body, nn.Linear(dims[-1], out))


class StyleConv(nn.Module):
    """(optional 2x nearest upsampling) -> conv3x3 -> instance norm -> scale and shift from w -> LeakyReLU."""

    def __init__(self, width_in: int, width_out: int, latent_dim: int, upsample: bool):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(width_in, width_out, 3, 1, 1)
        self.style = nn.Linear(latent_dim, 2 * width_out)

    def forward(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.instance_norm(self.conv(h))
        scale, shift = self.style(w)[:, :, None, None].chunk(2, dim=1)
        return F.leaky_relu(h * (1 + scale) + shift, 0.2)


class Generator(nn.Module):
    """w ``[B, W]`` -> image ``[B, C, H, W]`` in about [-1, 1]: a ``[2c, H/4, W/4]`` grid, two style convs
    (the second upsampling to H/2), and a transposed conv to full size (padded, then cropped)."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: ALAEConfig, grid: tuple[int, int]):
        super().__init__()
        c1, c2 = cfg.channels, 2 * cfg.channels
        self.image_shape, self.grid, self.c2 = image_shape, grid, c2
        self.start = nn.Sequential(nn.Linear(cfg.latent_dim, c2 * grid[0] * grid[1]), nn.LeakyReLU(0.2))
        self.layers = nn.ModuleList([
            StyleConv(c2, c2, cfg.latent_dim, upsample=False),
            StyleConv(c2, c1, cfg.latent_dim, upsample=True),
        ])
        self.to_image = nn.ConvTranspose2d(c1, image_shape[0], 4, 2, 1)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        h = self.start(w).view(-1, self.c2, *self.grid)
        for layer in self.layers:
            h = layer(h, w)
        _, height, width = self.image_shape
        return self.to_image(h)[:, :, :height, :width]


class Encoder(nn.Module):
    """image ``[B, C, H, W]`` in [-1, 1] -> w ``[B, W]``: conv s2, conv s2, conv, linear; no normalisation layers."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: ALAEConfig, grid: tuple[int, int]):
        super().__init__()
        c, h, w = image_shape
        c1, c2 = cfg.channels, 2 * cfg.channels
        self.pad = ((-w) % 4, (-h) % 4)
        act = nn.LeakyReLU(0.2)
        self.convs = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1), act, nn.Conv2d(c1, c2, 4, 2, 1), act, nn.Conv2d(c2, c2, 3, 1, 1), act,
        )
        self.to_latent = nn.Linear(c2 * grid[0] * grid[1], cfg.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, self.pad[0], 0, self.pad[1]), value=-1.0)  # pad with black, as images are
        return self.to_latent(self.convs(x).flatten(1))


class ALAE(nn.Module):
    """F, G, E and D, and the three training phases (see the module docstring)."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: ALAEConfig):
        super().__init__()
        _, h, w = image_shape
        grid = ((h + (-h) % 4) // 4, (w + (-w) % 4) // 4)
        self.cfg = cfg
        self.mapping = _mlp(cfg.latent_dim, cfg.latent_dim, cfg.latent_dim, cfg.mapping_layers)
        self.generator = Generator(image_shape, cfg, grid)
        self.encoder = Encoder(image_shape, cfg, grid)
        self.discriminator = _mlp(cfg.latent_dim, cfg.latent_dim, 1, 3)
        self.register_buffer("d_steps", torch.zeros((), dtype=torch.long))  # for the lazy R1 schedule

    @staticmethod
    @contextmanager
    def frozen(*modules: nn.Module):
        """Build the graph without weight gradients for ``modules`` (gradients still flow through them)."""
        params = [p for m in modules for p in m.parameters()]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    @staticmethod
    def to_signed(x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> float in [-1, 1]."""
        return x.float() / 127.5 - 1.0

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """z ``[B, W]`` -> w ``[B, W]``; z is normalised to the sphere of radius sqrt(W) first (StyleGAN's pixel norm)."""
        return self.mapping(z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8))

    def training_phases(self) -> list[Phase]:
        params = lambda *modules: tuple(p for m in modules for p in m.parameters())  # noqa: E731
        return [
            Phase("discriminator", params(self.encoder, self.discriminator), GAN_BETAS),
            Phase("generator", params(self.mapping, self.generator), GAN_BETAS),
            Phase("latent", params(self.encoder, self.generator), GAN_BETAS),
        ]

    def training_loss(self, x: torch.Tensor, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one phase on a minibatch of uint8 images ``[B, C, H, W]``."""
        z = torch.randn(len(x), self.cfg.latent_dim, device=x.device)
        if phase == "discriminator":
            with torch.no_grad():
                fake = self.generator(self.map(z))
            lazy_r1 = int(self.d_steps) % self.cfg.r1_every == 0
            self.d_steps += 1
            real = self.to_signed(x).requires_grad_(lazy_r1)
            real_score = self.discriminator(self.encoder(real)).float()
            fake_score = self.discriminator(self.encoder(fake)).float()
            loss = F.softplus(fake_score).mean() + F.softplus(-real_score).mean()
            logs = {"d_adv": loss.item()}
            if lazy_r1:
                (grad,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
                r1 = grad.float().pow(2).sum(dim=(1, 2, 3)).mean()
                loss = loss + 0.5 * self.cfg.r1_gamma * self.cfg.r1_every * r1
                logs["r1"] = r1.item()
            return loss, logs
        if phase == "generator":
            with self.frozen(self.encoder, self.discriminator):
                fake_score = self.discriminator(self.encoder(self.generator(self.map(z)))).float()
            return F.softplus(-fake_score).mean(), {}
        if phase == "latent":
            with torch.no_grad():
                w = self.map(z)
            return F.mse_loss(self.encoder(self.generator(w)).float(), w.float()), {}
        raise ValueError(f"unknown ALAE phase '{phase}'")


@register
class ALAEBackbone(TorchBackbone):
    name = "alae"
    Config = ALAEConfig

    def build_model(self) -> nn.Module:
        return ALAE(self.image_shape, self.config)

    def _features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """E(x): ``[B, latent_dim]``."""
        return self.model.encoder(ALAE.to_signed(x))

    @staticmethod
    def _to_uint8(images: torch.Tensor) -> torch.Tensor:
        return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """G(F(z)) for ``n`` seeded draws of z ~ N(0, I) -> uint8 ``[n, C, H, W]``."""
        model, device = self.placed_model_and_device()
        z = torch.randn(n, self.config.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        return self._to_uint8(model.generator(model.map(z)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(E(x)): uint8 ``[B, C, H, W]`` -> uint8 ``[B, C, H, W]``."""
        model, device = self.placed_model_and_device()
        return self._to_uint8(model.generator(model.encoder(ALAE.to_signed(x.to(device)))))
