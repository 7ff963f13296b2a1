"""MixMatch (Berthelot et al., 2019), seed 003's semi-supervised baseline, on the same draws as the heads.

Each step takes ``batch_size`` labeled images (drawn with replacement from the draw) and ``mu * batch_size``
unlabeled pool images. The labeled images get one weak augmentation, the unlabeled ones ``augmentations`` (K);
the guessed label of an unlabeled image is the mean of the model's probabilities over its K views, sharpened with
temperature T. Labeled and unlabeled views are then mixed with a shuffled copy of themselves (MixUp with
lambda' = max(lambda, 1 - lambda), lambda ~ Beta(alpha, alpha)). The loss is cross-entropy on the mixed labeled
images plus ``lambda_u`` (ramped up linearly over the first ``rampup`` of the steps) times the squared error
between the guessed labels and the predictions on the mixed unlabeled images. Weak augmentation is FixMatch's
(a random crop with padding, a flip where it keeps the label). AdamW with a cosine schedule; the budget is fixed
in advance (:class:`MixMatchConfig`), never tuned on test.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fewgen.baselines.fixmatch import FixMatchBaseline
from fewgen.baselines.resnet import standard_augmentation
from fewgen.configs import MixMatchConfig


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """``p ** (1/T)`` renormalised per row ``[N, K]``, computed as a softmax of ``log(p) / T`` so that a small T
    neither underflows nor divides 0 by 0 (a row of zeros but one stays that row)."""
    return torch.softmax(torch.log(p.float().clamp_min(1e-30)) / temperature, dim=1)


class MixMatchClassifier(nn.Module):
    """uint8 ``[B, C, H, W]`` -> logits; ``training_loss(unlabeled)`` draws its labeled batch from ``labeled``."""

    def __init__(self, net: nn.Module, labeled: torch.Tensor, labels: torch.Tensor, weak: nn.Module, config: MixMatchConfig,
                 num_classes: int):
        super().__init__()
        self.net, self.weak, self.config, self.num_classes = net, weak, config, num_classes
        self.register_buffer("labeled", labeled, persistent=False)
        self.register_buffer("labels", labels, persistent=False)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # saved in checkpoints: the ramp resumes exactly

    @staticmethod
    def scaled(x: torch.Tensor) -> torch.Tensor:
        return x.float() / 127.5 - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.scaled(x))

    def unlabeled_weight(self) -> float:
        """``lambda_u`` times the linear ramp-up at this step."""
        cfg = self.config
        ramp = cfg.rampup * cfg.steps
        return cfg.lambda_u * (1.0 if ramp <= 0 else min(1.0, float(self.step) / ramp))

    def training_loss(self, unlabeled: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        pick = torch.randint(len(self.labeled), (cfg.batch_size,)).to(self.labeled.device)
        x = self.scaled(torch.stack([self.weak(image) for image in self.labeled[pick]]))
        p = nn.functional.one_hot(self.labels[pick], self.num_classes).float()
        views = [self.scaled(torch.stack([self.weak(image) for image in unlabeled])) for _ in range(cfg.augmentations)]
        with torch.no_grad():
            guess = torch.stack([torch.softmax(self.net(v).float(), dim=1) for v in views]).mean(0)
            q = sharpen(guess, cfg.temperature)
        inputs = torch.cat([x, *views])
        targets = torch.cat([p, *[q] * len(views)])
        lam = float(np.random.beta(cfg.alpha, cfg.alpha))  # numpy is seeded per step by the Trainer
        lam = max(lam, 1.0 - lam)
        order = torch.randperm(len(inputs)).to(inputs.device)
        mixed = lam * inputs + (1 - lam) * inputs[order]
        mixed_targets = lam * targets + (1 - lam) * targets[order]
        logits = self.net(mixed).float()
        n = len(x)
        supervised = -(mixed_targets[:n] * torch.log_softmax(logits[:n], dim=1)).sum(1).mean()
        unsupervised = ((torch.softmax(logits[n:], dim=1) - mixed_targets[n:]) ** 2).mean()
        weight = self.unlabeled_weight()
        self.step += 1
        return supervised + weight * unsupervised, {"supervised": supervised.item(), "unsupervised": unsupervised.item(),
                                                    "weight": weight}


class MixMatchBaseline(FixMatchBaseline):
    """``fit(images, labels, pool)`` on the labeled draw and the unlabeled pool (FixMatch's loop, MixMatch's loss);
    ``predict`` as ResNet-18's."""

    Config = MixMatchConfig
    tag = "mixmatch"

    def training_module(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> nn.Module:
        return MixMatchClassifier(net, images, labels, standard_augmentation(images.shape[-1], self.hflip), self.semi,
                                  len(self.classes_))
