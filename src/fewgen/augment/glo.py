"""Conditional GLO (Azuri & Weinshall, "Learning from Small Data Through Sampling an Implicit Conditional
Generative Latent Optimization Model"): a generator, one learned code per training image, and a weak classifier.

- GLO (Bojanowski et al., 2018): every training image x_i owns a code z_i on the unit sphere in R^d; the
  generator G and the codes are learned jointly to reconstruct x_i = G(z_i). Codes are renormalised after
  every optimizer step.
- Noise concatenation (Sec. 3.2): G's input is [z_i, ε], ε ~ N(0, σ² I), which the batch norms turn into
  training-time randomness.
- The weak classifier f (Sec. 3.2): cross-entropy of f(G(z_i)) on labeled images, so the loss is
  reconstruction + γ·CE, which pulls codes of one class together. Unlabeled (and, in transductive mode,
  test) images add reconstruction only; their label is -1.
- Reconstruction: the paper's perceptual loss on VGG-16 conv1_2 … conv5_2 when the ImageNet VGG-16 weights
  are already on disk (torchvision's cache); otherwise GLO's own Laplacian-pyramid L1 loss. What was used is
  recorded with every result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from fewgen.augment.interpolate import INTERPOLATIONS, interpolate
from fewgen.configs import LOSSES, GLOConfig  # noqa: F401 (re-exported)
from fewgen.errors import FewgenError

SLERP_TS = (0.1, 0.2, 0.3, 0.4)  # the paper's interpolation factors, drawn uniformly


class Generator(nn.Module):
    """DCGAN-style (Radford et al., 2015): ``[B, d + noise]`` -> a ``ceil(H/4) x ceil(W/4)`` grid, two stride-2
    transposed convs with batch norm and ReLU, a 3x3 conv and tanh -> ``[B, C, H, W]`` in [-1, 1]."""

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], channels: int):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = image_shape
        self.grid = (math.ceil(h / 4), math.ceil(w / 4))
        self.project = nn.Sequential(nn.Linear(in_dim, 4 * channels * self.grid[0] * self.grid[1], bias=False),
                                     nn.BatchNorm1d(4 * channels * self.grid[0] * self.grid[1]), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * channels, 2 * channels, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, c, 3, padding=1), nn.Tanh(),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.project(code).view(len(code), -1, *self.grid)
        _, h, w = self.image_shape
        return self.up(x)[:, :, :h, :w]


def weak_classifier(in_channels: int, n_classes: int) -> nn.Module:
    """Two stride-2 convs, global average pooling and a linear layer: deliberately weak (the paper found a
    strong classifier degraded the generated images)."""
    return nn.Sequential(nn.Conv2d(in_channels, 32, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 3, 2, 1),
                         nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_classes))


class LaplacianL1(nn.Module):
    """GLO's Laplacian-pyramid L1 loss (Bojanowski et al., 2018, Sec. 3.3): Σ_j 2^{2j} |L^j(x) - L^j(x')|_1
    over pyramid levels j, normalised by the pixels of level 0, i.e. the mean absolute difference of each
    level summed over levels. Images ``[B, C, H, W]`` in [-1, 1]."""

    def __init__(self, levels: int = 4):
        super().__init__()
        self.levels = levels

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for _ in range(self.levels - 1):
            if min(x.shape[-2:]) < 2:
                break
            down = F.avg_pool2d(x, 2, ceil_mode=True)
            out.append(x - F.interpolate(down, size=x.shape[-2:], mode="bilinear", align_corners=False))
            x = down
        return out + [x]

    def forward(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum((a - b).abs().mean() for a, b in zip(self.pyramid(generated), self.pyramid(target)))


VGG_LAYERS = (3, 8, 13, 20, 27)  # the ReLU outputs of conv1_2, conv2_2, conv3_2, conv4_2, conv5_2 in vgg16().features


def local_vgg16_weights() -> Path | None:
    """torchvision's ImageNet VGG-16 weights if they are already in the torch hub cache (never downloads)."""
    url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return path if path.is_file() else None


class PerceptualL1(nn.Module):
    """Perceptual loss (Johnson et al., 2016) as cGLO uses it: Σ_j λ_j |ξ_j(x) - ξ_j(x')|_1 on VGG-16 layers
    conv1_2 … conv5_2, λ_j = 1/5, each a mean. Gray images are repeated to RGB, and images under 32 px are
    resized to 32 so that conv5_2 still sees a 2x2 map. ``weights``: a state dict path, or None for random
    weights (tests only)."""

    def __init__(self, weights: Path | None):
        super().__init__()
        vgg = torchvision.models.vgg16(weights=None)
        if weights is not None:
            vgg.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.features = vgg.features[: VGG_LAYERS[-1] + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        if min(x.shape[-2:]) < 32:
            x = F.interpolate(x, size=(max(32, x.shape[-2]), max(32, x.shape[-1])), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        a, b, total = self._prepare(generated), self._prepare(target), 0.0
        for i, layer in enumerate(self.features):
            a, b = layer(a), layer(b)
            if i in VGG_LAYERS:
                total = total + (a - b).abs().mean() / len(VGG_LAYERS)
        return total


def reconstruction_loss(choice: str) -> tuple[nn.Module, str]:
    """The loss module and the name of the one used: ``perceptual`` needs the VGG-16 weights on disk."""
    weights = local_vgg16_weights()
    if choice == "perceptual" and weights is None:
        raise FewgenError("glo loss=perceptual needs torchvision's VGG-16 ImageNet weights in "
                          f"{Path(torch.hub.get_dir()) / 'checkpoints'}; put them there or use -o loss=laplacian")
    if choice == "laplacian" or weights is None:
        return LaplacianL1(), "laplacian"
    return PerceptualL1(weights), "perceptual"


class CGLO(nn.Module):
    """Codes ``[n, d]`` on the unit sphere, generator G and weak classifier f for ``n`` training images."""

    def __init__(self, config: GLOConfig, image_shape: tuple[int, int, int], n_images: int, n_classes: int):
        super().__init__()
        config.check()
        self.config = config
        self.codes = nn.Parameter(F.normalize(torch.randn(n_images, config.code_dim), dim=1))
        self.generator = Generator(config.code_dim + config.noise_dim, image_shape, config.channels)
        self.classifier = weak_classifier(image_shape[0], n_classes) if config.gamma > 0 else None
        self.reconstruction, self.loss_name = reconstruction_loss(config.loss)

    def generate(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, d]`` -> images ``[B, C, H, W]`` in [-1, 1], with fresh noise ε ~ N(0, σ² I) appended."""
        if self.config.noise_dim:
            noise = torch.randn(len(codes), self.config.noise_dim, device=codes.device) * self.config.noise_sigma
            codes = torch.cat([codes, noise], dim=1)
        return self.generator(codes)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """uint8 images ``[B, C, H, W]``, labels ``[B]`` (-1 = unlabeled), their rows ``[B]`` in the codes."""
        generated = self.generate(self.codes[index])
        reconstruction = self.reconstruction(generated.float(), x.float() / 127.5 - 1)
        logs = {"reconstruction": reconstruction.item()}
        labeled = y >= 0
        if self.classifier is None or not labeled.any():
            return reconstruction, logs
        ce = F.cross_entropy(self.classifier(generated[labeled]), y[labeled])
        logs["ce"] = ce.item()
        return reconstruction + self.config.gamma * ce, logs

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        """Project the codes back onto the unit sphere (GLO)."""
        self.codes.copy_(F.normalize(self.codes, dim=1))

    @torch.no_grad()
    def sample(self, index: torch.Tensor, partner: torch.Tensor, t: torch.Tensor, kind: str = "slerp") -> torch.Tensor:
        """G(interpolate(z_index, z_partner, t)) -> uint8 ``[B, C, H, W]`` (in eval mode: batch norm uses its
        running statistics, so a sample does not depend on the rest of its batch)."""
        if kind not in INTERPOLATIONS:
            raise FewgenError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got '{kind}'")
        was_training = self.training
        self.eval()
        codes = interpolate(kind, self.codes[index], self.codes[partner], t.to(self.codes))
        images = self.generate(codes).float()
        self.train(was_training)
        return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def same_class_partners(labels: np.ndarray, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each ``index[i]`` (a row of ``labels``), another row of the same class drawn uniformly, or itself
    when it is its class's only labeled image (k = 1: the sample is then a noisy reconstruction)."""
    partners = np.empty_like(index)
    for i, row in enumerate(index):
        others = np.flatnonzero((labels == labels[row]) & (np.arange(len(labels)) != row))
        partners[i] = rng.choice(others) if len(others) else row
    return partners


def interpolation_factors(n: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` factors t drawn uniformly from the paper's {0.1, 0.2, 0.3, 0.4}."""
    return torch.as_tensor(rng.choice(SLERP_TS, size=n), dtype=torch.float32)
