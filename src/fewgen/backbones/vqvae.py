"""A VQ-VAE (van den Oord et al., 2017, "Neural Discrete Representation Learning") and its layer features.

The encoder maps an image to a grid of vectors; each is replaced by its nearest
codebook entry (the straight-through estimator copies the decoder's gradient to
the encoder); the decoder reconstructs from the codes. The codebook learns
either by exponential moving averages (the paper's appendix; Razavi et al.,
2019) or by its own loss term, and codes nobody uses are restarted on encoder
outputs of the current batch (Dhariwal et al., 2020, "Jukebox"; Williams et
al., 2020) so the whole codebook stays in use. Training logs the codebook
perplexity: exp(entropy of code usage), between 1 (one code) and the codebook size.

Features follow the VAE's (Sec. 2.1 of "Few Shot Generative Classification"):
each layer's activations averaged over space; ``part`` = encoder, decoder or stacked.
``pool`` = KxK keeps a coarse layout instead (a k x k adaptive average per layer), as for the DDPM.
Quantisation is a nearest-neighbour look-up, so features are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fewgen.backbones.base import FeatureSpec, check_pool, option, pool_activation, register
from fewgen.backbones.torch_backbone import TorchBackbone, logits_to_uint8
from fewgen.backbones.vae import PARTS
from fewgen.errors import FewgenError

CODEBOOK_UPDATES = ("ema", "loss")


@dataclass
class VQVAEConfig:
    """The VQ-VAE's sizes and codebook training (each field's help says what it does)."""

    channels: int = option(64, "conv width of the encoder and decoder (half of it at full resolution)")
    codebook_size: int = option(256, "number of codes K")
    code_dim: int = option(32, "length of each code vector")
    commitment: float = option(0.25, "beta, the weight of the commitment loss ||z_e - sg(e)||^2")
    codebook: str = option("ema", "how codes learn: ema (moving averages of their assigned vectors) or loss (a codebook loss term)")
    decay: float = option(0.99, "decay of the moving averages (EMA codebook, per-cell code frequencies)")
    restart_after: int = option(30, "a code no grid cell has picked for this many steps is moved onto an encoder output")


class ResidualBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))), as in the paper's encoder and decoder."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(), nn.Conv2d(width, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Quantizer(nn.Module):
    """Nearest-codebook look-up ``[B, D, h, w] -> [B, D, h, w]`` plus code indices ``[B, h, w]``.

    State: ``codebook [K, D]``; for EMA updates also ``cluster_size [K]`` and ``code_sum [K, D]``;
    ``idle_steps [K]`` (steps since a grid cell last picked each code, for restarts)
    and ``position_usage [K, h, w]`` (per-cell code frequencies, the prior :meth:`VQVAE.sample` draws from).
    """

    def __init__(self, cfg: VQVAEConfig, grid: tuple[int, int]):
        super().__init__()
        k, d = cfg.codebook_size, cfg.code_dim
        self.cfg = cfg
        init = torch.randn(k, d) / d**0.5
        if cfg.codebook == "ema":
            self.register_buffer("codebook", init.clone())
            self.register_buffer("cluster_size", torch.ones(k))
            self.register_buffer("code_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("idle_steps", torch.zeros(k, dtype=torch.long))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("position_usage", torch.full((k, *grid), 1.0 / k))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Flat vectors ``[N, D]`` (fp32) -> index of the nearest code ``[N]``."""
        codebook = self.codebook.float()
        distances = (z * z).sum(1, keepdim=True) - 2 * z @ codebook.T + (codebook * codebook).sum(1)
        return distances.argmin(1)

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> straight-through ``z_q`` ``[B, D, h, w]``, the VQ loss (scalar), code indices ``[B, h, w]``."""
        b, d, h, w = z_e.shape
        with torch.autocast(z_e.device.type, enabled=False):
            flat = z_e.float().permute(0, 2, 3, 1).reshape(-1, d)
            if self.training and not self.initialized:
                self._restart(torch.ones_like(self.idle_steps, dtype=torch.bool), flat.detach())
                self.initialized.fill_(True)
            codes = self.nearest(flat.detach())
            quantized = self.codebook.float()[codes]
            commitment = F.mse_loss(flat, quantized.detach())
            loss = self.cfg.commitment * commitment
            if self.cfg.codebook == "loss":
                loss = loss + F.mse_loss(quantized, flat.detach())
            if self.training:
                self._update(flat.detach(), codes, (b, h, w))
            z_q = flat + (quantized - flat).detach()  # straight-through estimator
        return z_q.view(b, h, w, d).permute(0, 3, 1, 2), loss, codes.view(b, h, w)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, codes: torch.Tensor, bhw: tuple[int, int, int]) -> None:
        """Moving averages of code use per cell (and, for EMA updates, of the codebook), then dead-code restarts.

        The first training batch also initialises the codebook on encoder outputs, so codes start where the data is."""
        decay = self.cfg.decay
        onehot = F.one_hot(codes, self.codebook.shape[0]).float()  # [N, K]
        b, h, w = bhw
        counts, sums, per_cell = _over_all_processes(onehot.sum(0), onehot.T @ flat,  # [K], [K, D]
                                                     onehot.view(b, h, w, -1).sum(0).permute(2, 0, 1))  # [K, h, w]
        per_cell = per_cell / per_cell.sum(0, keepdim=True)  # the share of each code in each cell
        self.idle_steps.add_(1).masked_fill_(counts > 0, 0)
        self.position_usage.mul_(decay).add_(per_cell, alpha=1 - decay)
        if self.cfg.codebook == "ema":
            self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
            self.code_sum.mul_(decay).add_(sums, alpha=1 - decay)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + 1e-5) / (n + 1e-5 * len(counts)) * n  # Laplace smoothing
            self.codebook.copy_(self.code_sum / smoothed.unsqueeze(1))
        dead = self.idle_steps >= self.cfg.restart_after
        if dead.any():
            self._restart(dead, flat)

    @torch.no_grad()
    def _restart(self, which: torch.Tensor, flat: torch.Tensor) -> None:
        """Move the codes ``which`` (bool ``[K]``) onto random encoder outputs of this batch ``[N, D]``."""
        picks = flat[torch.randint(0, len(flat), (int(which.sum()),), device=flat.device)]
        picks = picks + 1e-3 * picks.std() * torch.randn_like(picks)  # apart, when N < K
        self.codebook.data[which] = picks
        self.idle_steps[which] = 0
        if self.cfg.codebook == "ema":
            self.cluster_size[which] = 1.0
            self.code_sum[which] = picks


def _over_all_processes(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Sums of per-batch statistics over the processes of a data-parallel run (as they are in one process), so
    the moving averages follow the global batch, not one process's share of it."""
    if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        for tensor in tensors:
            torch.distributed.all_reduce(tensor)
    return tensors


def perplexity(codes: torch.Tensor, codebook_size: int) -> float:
    """exp(entropy of the code histogram): 1 when one code is used, K when all K are used equally."""
    p = torch.bincount(codes.flatten(), minlength=codebook_size).float() / codes.numel()
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))


class VQVAE(nn.Module):
    """Encoder: conv s2 -> conv s2 -> conv -> 2 residual blocks -> 1x1 to ``code_dim``; quantiser; decoder mirrors it.

    Images ``[B, C, H, W]`` are scaled to [0, 1] and zero-padded to multiples of 4 (grid ``[H/4, W/4]``);
    the loss ignores the padding.
    """

    def __init__(self, image_shape: tuple[int, int, int], cfg: VQVAEConfig):
        super().__init__()
        if cfg.codebook not in CODEBOOK_UPDATES:
            raise FewgenError(f"vqvae option codebook must be ema or loss, got '{cfg.codebook}'")
        c, h, w = image_shape
        self.image_shape = image_shape
        self.pad = ((-w) % 4, (-h) % 4)
        grid = ((h + self.pad[1]) // 4, (w + self.pad[0]) // 4)
        width, self.codebook_size = cfg.channels, cfg.codebook_size
        self.encoder = nn.ModuleList([
            nn.Sequential(nn.Conv2d(c, width // 2, 4, 2, 1), nn.ReLU()),
            nn.Conv2d(width // 2, width, 4, 2, 1),
            nn.Conv2d(width, width, 3, 1, 1),
            ResidualBlock(width),
            ResidualBlock(width),
            nn.Sequential(nn.ReLU(), nn.Conv2d(width, cfg.code_dim, 1)),
        ])
        self.quantizer = Quantizer(cfg, grid)
        self.decoder = nn.ModuleList([
            nn.Conv2d(cfg.code_dim, width, 3, 1, 1),
            ResidualBlock(width),
            ResidualBlock(width),
            nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.ReLU()),
        ])
        self.to_logits = nn.ConvTranspose2d(width // 2, c, 4, 2, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """uint8 ``[B, C, H, W]`` -> z_q ``[B, D, h, w]``, VQ loss, codes ``[B, h, w]``, encoder activations (z_e last)."""
        h = F.pad(x.float() / 255.0, (0, self.pad[0], 0, self.pad[1]))
        acts = []
        for layer in self.encoder:
            h = layer(h)
            acts.append(h)
        z_q, vq_loss, codes = self.quantizer(h)
        return z_q, vq_loss, codes, acts

    def decode(self, z_q: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z_q ``[B, D, h, w]`` -> logits ``[B, C, H, W]`` (unpadded), decoder activations."""
        h, acts = z_q, []
        for layer in self.decoder:
            h = layer(h)
            acts.append(h)
        _, height, width = self.image_shape
        return self.to_logits(h)[:, :, :height, :width], acts

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Bernoulli reconstruction (mean over pixels) + the VQ loss; logs the batch's codebook perplexity."""
        z_q, vq_loss, codes, _ = self.encode(x)
        logits, _ = self.decode(z_q)
        recon = F.binary_cross_entropy_with_logits(logits.float(), x.float() / 255.0)
        return recon + vq_loss, {"recon": recon.item(), "vq": vq_loss.item(),
                                 "perplexity": perplexity(codes, self.codebook_size)}


@register
class VQVAEBackbone(TorchBackbone):
    name = "vqvae"
    Config = VQVAEConfig

    def build_model(self) -> nn.Module:
        return VQVAE(self.image_shape, self.config)

    def default_specs(self) -> list[FeatureSpec]:
        return [FeatureSpec(part=p) for p in PARTS]

    def check_spec(self, spec: FeatureSpec) -> None:
        self.reject_unused(spec, {"part", "pool"})
        if spec.part not in PARTS:
            given = f"not '{spec.part}'" if spec.part else "give one with --parts"
            raise FewgenError(f"the vqvae reads --parts encoder, decoder or stacked; {given}")
        check_pool(spec.pool)

    def _features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """Every layer pooled (``spec.pool``): encoder (conv, conv, conv, res, res, z_e, z_q), decoder (its layers, output)."""
        z_q, _, _, enc_acts = self.model.encode(x)
        maps = []
        if spec.part in ("encoder", "stacked"):
            maps += enc_acts + [z_q]
        if spec.part in ("decoder", "stacked"):
            logits, dec_acts = self.model.decode(z_q)
            maps += dec_acts + [torch.sigmoid(logits.float())]
        return torch.cat([pool_activation(m, spec.pool) for m in maps], dim=1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> its reconstruction through the codebook, uint8 ``[B, C, H, W]``."""
        model, device = self.placed_model_and_device()
        logits, _ = model.decode(model.encode(x.to(device))[0])
        return logits_to_uint8(logits)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Decode codes drawn independently per grid cell from the training code frequencies -> uint8 ``[n, C, H, W]``.

        This factorised prior is not the paper's autoregressive PixelCNN prior, so samples are only a rough
        picture; the reconstructions (:meth:`reconstruct`) show what the codes hold.
        """
        model = self.placed_model()
        quantizer = model.quantizer
        k, h, w = quantizer.position_usage.shape
        probs = quantizer.position_usage.permute(1, 2, 0).reshape(-1, k).clamp_min(0).cpu()
        codes = torch.multinomial(probs + 1e-8, n, replacement=True, generator=torch.Generator().manual_seed(seed))  # [h*w, n]
        z_q = quantizer.codebook[codes.T.reshape(n, h, w).to(quantizer.codebook.device)].permute(0, 3, 1, 2)
        logits, _ = model.decode(z_q)
        return logits_to_uint8(logits)
