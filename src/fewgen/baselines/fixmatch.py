"""The semi-supervised anchor: FixMatch (Sohn et al., 2020) with the CIFAR-stem ResNet-18, on the same draws (or, with
``network=small``, the small student's CNN: FixMatch beside a student at equal network and augmentation, and, with the student's
``steps``, ``batch_size`` and ``lr`` given, equal compute; ``fewgen evaluate`` warns when they differ).

Each step takes a batch of ``mu * batch_size`` unlabeled pool images and ``batch_size`` labeled images
(drawn with replacement from the labeled draw, seeded per step by the Trainer). The loss is
cross-entropy on the weakly augmented labeled images, plus ``lambda_u`` times cross-entropy of the
strongly augmented unlabeled images against the pseudo-labels that the model gives their weak views.
Only confident pseudo-labels count: a max probability of at least ``threshold``, 0.95 as in the paper.
- Weak augmentation is the ResNet baseline's: a random crop with padding, plus a flip where it keeps the label.
- Strong augmentation is torchvision's ``RandAugment`` (2 ops), then Cutout. Cutout is ``RandomErasing`` of
  one square covering up to a quarter of the image, filled with grey.

It trains on the one Trainer, with AdamW and a cosine schedule, where the paper used SGD with
Nesterov momentum. The budget is fixed in advance (:class:`FixMatchConfig`), never tuned on test.
FixMatch is costly on a CPU, so ``evaluate`` runs it only when asked (``--baselines fixmatch``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from fewgen.configs import FixMatchConfig
from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig, cifar_resnet18, standard_augmentation
from fewgen.data.files import ImageFiles, as_dataset
from fewgen.networks import SmallCNN
from fewgen.train import TrainConfig, Trainer


def strong_augmentation(image_size: int, hflip: bool) -> v2.Compose:
    """The weak augmentation, then RandAugment (2 ops at a random magnitude, as FixMatch's RA) and Cutout."""
    return v2.Compose([standard_augmentation(image_size, hflip),
                       v2.RandomChoice([v2.RandAugment(num_ops=2, magnitude=m) for m in range(1, 10)]),
                       v2.RandomErasing(p=1.0, scale=(0.02, 0.25), ratio=(1.0, 1.0), value=127)])


class FixMatchClassifier(nn.Module):
    """uint8 ``[B, C, H, W]`` -> logits; ``training_loss(unlabeled)`` draws its labeled batch from ``labeled``."""

    def __init__(self, net: nn.Module, labeled: torch.Tensor, labels: torch.Tensor, weak: nn.Module, strong: nn.Module,
                 config: FixMatchConfig):
        super().__init__()
        self.net, self.weak, self.strong, self.config = net, weak, strong, config
        self.register_buffer("labeled", labeled, persistent=False)  # [L, C, H, W] uint8: follows the model's device
        self.register_buffer("labels", labels, persistent=False)  # [L]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.float() / 127.5) - 1.0)

    def training_loss(self, unlabeled: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``unlabeled`` uint8 ``[mu*B, C, H, W]``; the labeled ``[B]`` are drawn here (the Trainer seeds each step)."""
        cfg = self.config
        pick = torch.randint(len(self.labeled), (cfg.batch_size,)).to(self.labeled.device)
        x_l = torch.stack([self.weak(image) for image in self.labeled[pick]])
        x_weak = torch.stack([self.weak(image) for image in unlabeled])
        x_strong = torch.stack([self.strong(image) for image in unlabeled])
        logits = self(torch.cat([x_l, x_weak, x_strong]))
        logits_l, logits_weak, logits_strong = logits.split([len(x_l), len(unlabeled), len(unlabeled)])
        supervised = nn.functional.cross_entropy(logits_l, self.labels[pick])
        with torch.no_grad():
            confidence, pseudo = torch.softmax(logits_weak.detach().float(), dim=1).max(dim=1)
            mask = (confidence >= cfg.threshold).float()
        unsupervised = (nn.functional.cross_entropy(logits_strong, pseudo, reduction="none") * mask).mean()
        return supervised + cfg.lambda_u * unsupervised, {"supervised": supervised.item(), "unsupervised": unsupervised.item(),
                                                          "mask": mask.mean().item()}


class FixMatchBaseline(ResNetBaseline):
    """``fit(images, labels, pool)`` on the labeled draw and the unlabeled pool; ``predict`` as ResNet-18's. A
    semi-supervised method trained from scratch subclasses it with its own ``Config`` and :meth:`training_module`."""

    Config = FixMatchConfig
    tag = "fixmatch"

    def __init__(self, config: FixMatchConfig | None = None, hflip: bool = False, seed: int = 0):
        self.semi = config or self.Config()
        super().__init__(ResNetConfig(precision=self.semi.precision), hflip, seed)  # predict() reads its precision

    def training_module(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> nn.Module:
        """The module whose ``training_loss(unlabeled)`` the Trainer minimises, around the network ``net``."""
        size = images.shape[-1]
        return FixMatchClassifier(net, images, labels, standard_augmentation(size, self.hflip),
                                  strong_augmentation(size, self.hflip), self.semi)

    def fit(self, images: torch.Tensor, labels: np.ndarray, pool: torch.Tensor | ImageFiles | None = None) -> "FixMatchBaseline":
        """uint8 labeled images ``[N, C, H, W]`` with labels ``[N]``, and the unlabeled pool ``[P, C, H, W]``."""
        if pool is None:
            raise ValueError(f"{self.tag} needs the unlabeled pool")
        cfg = self.semi
        self.classes_, y_idx = np.unique(labels, return_inverse=True)
        torch.manual_seed(self.seed)
        channels, k = images.shape[1], len(self.classes_)
        net = SmallCNN(channels, k) if cfg.network == "small" else cifar_resnet18(channels, k)
        model = self.training_module(net, images, torch.as_tensor(y_idx, dtype=torch.long))
        train = TrainConfig(steps=cfg.steps, batch_size=cfg.mu * cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                            schedule="cosine", precision=cfg.precision, seed=self.seed, progress=False)
        trainer = Trainer(model, train, tag=self.tag)
        self.summary_ = trainer.fit_dataset(as_dataset(pool))
        self.model_ = trainer.model.eval()
        return self
