"""The ResNet-18 baseline: trained from scratch on exactly the labeled draw.

CIFAR-style ResNet-18 (He et al., 2016): torchvision's ``resnet18`` with a
3x3 stride-1 stem and no max-pool, so 8x8 to 32x32 inputs keep their
resolution. Standard augmentation: random crop with padding (H/8, at least 1
pixel) and, only where it preserves the label, horizontal flips. The budget
(steps, lr, weight decay) is fixed in advance, never chosen on test.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.transforms import v2

from fewgen.configs import ResNetConfig
from fewgen.train import TrainConfig, Trainer, make_accelerator


def cifar_resnet18(in_channels: int, num_classes: int) -> nn.Module:
    """torchvision ResNet-18 with a 3x3 stride-1 stem and no max-pool."""
    net = torchvision.models.resnet18(num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def standard_augmentation(image_size: int, hflip: bool) -> v2.Compose:
    """Random crop with padding max(1, H/8), plus a horizontal flip only if ``hflip``."""
    steps = [v2.RandomCrop(image_size, padding=max(1, round(image_size / 8)))]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


Replacement = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class AugmentedClassifier(nn.Module):
    """Wraps a network: uint8 ``[B, C, H, W]`` -> logits ``[B, K]``; augments per image in training.

    ``replacement`` (optional, e.g. cGLO sampling) maps a minibatch (images, labels, rows in the training
    set) to a new uint8 minibatch before the per-image ``augment``; it is kept out of the trained modules.
    """

    def __init__(self, net: nn.Module, augment: nn.Module, replacement: Replacement | None = None):
        super().__init__()
        self.net = net
        self.augment = augment
        self.__dict__["replacement"] = replacement  # not a submodule: the classifier's optimizer must not see it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.float() / 127.5) - 1.0)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        logs = {}
        if self.replacement is not None:
            before = x
            x = self.replacement(x, y, index)
            logs["replaced"] = (x != before).flatten(1).any(1).float().mean().item()
        x = torch.stack([self.augment(image) for image in x])
        return nn.functional.cross_entropy(self(x), y), logs


class ResNetBaseline:
    """Fit on uint8 images and labels, predict labels; same draws as the feature heads (the baseline protocol of
    :mod:`fewgen.baselines`)."""

    Config = ResNetConfig

    def __init__(self, config: ResNetConfig | None = None, hflip: bool = False, seed: int = 0,
                 augment: nn.Module | None = None, replacement: Replacement | None = None):
        self.config = config or ResNetConfig()
        self.hflip = hflip
        self.seed = seed
        self.augment = augment  # None: standard augmentation
        self.replacement = replacement

    def fit(self, images: torch.Tensor, labels: np.ndarray, pool: None = None) -> "ResNetBaseline":
        """uint8 images ``[N, C, H, W]`` and labels ``[N]``; a replacement sees rows 0..N-1 of this set. ResNet-18
        learns from the draw only: ``pool`` is there for the protocol and must be None."""
        if pool is not None:
            raise ValueError("ResNet-18 learns from the labeled draw only; it takes no pool")
        self.classes_, y_idx = np.unique(labels, return_inverse=True)
        torch.manual_seed(self.seed)
        net = cifar_resnet18(images.shape[1], len(self.classes_))
        augment = self.augment if self.augment is not None else standard_augmentation(images.shape[-1], self.hflip)
        self.model_ = AugmentedClassifier(net, augment, self.replacement)
        cfg = self.config
        train = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                            schedule="cosine", precision=cfg.precision, seed=self.seed, progress=False)
        trainer = Trainer(self.model_, train, tag="resnet18")
        tensors = [images, torch.as_tensor(y_idx, dtype=torch.long)]
        if self.replacement is not None:
            tensors.append(torch.arange(len(images)))
        trainer.fit(*tensors)
        self.model_ = trainer.model.eval()
        return self

    @torch.no_grad()
    def _logits(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """``[N, K]`` logits in fp32, in batches of ``batch_size`` under the configured precision."""
        accelerator = make_accelerator(self.config.precision)
        model = self.model_.to(accelerator.device).eval()
        out = []
        for start in range(0, len(images), batch_size):
            with accelerator.autocast():
                logits = model(images[start : start + batch_size].to(accelerator.device))
            out.append(logits.float().cpu())
        return torch.cat(out)

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """Labels ``[N]`` of uint8 images ``[N, C, H, W]``."""
        return self.classes_[self._logits(images).argmax(1).numpy()]

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        """Class probabilities ``[N, K]``, columns in the order of ``classes_``."""
        return torch.softmax(self._logits(images), dim=1).numpy()
