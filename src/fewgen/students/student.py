"""A student: a network trained on the labeled draw and on the pool with a teacher's targets (the protocol of
:mod:`fewgen.students`).

Each step draws ``batch_size`` labeled images (with replacement; the Trainer seeds each step) and reads ``mu *
batch_size`` pool images with the teacher's probabilities for them. The loss is cross-entropy of the weakly
augmented labeled images against their labels, plus ``lambda_u`` times the soft cross-entropy of the strongly
augmented pool images against their targets. A pool image's target is the teacher's probabilities, unless the
student's own prediction on its weak view is at least ``threshold`` confident: then that pseudo-label (FixMatch's
consistency, Sohn et al. 2020). Weak and strong augmentation are FixMatch's (:mod:`fewgen.baselines.fixmatch`).
With ``rounds`` > 1, a fresh student learns from the last one's probabilities for the pool (Noisy Student).
A ``temperature`` below 1 sharpens each round's targets first (MixMatch's sharpening, Berthelot et al. 2019), for
flat teachers: label spreading's largest probability is about 0.6 for the median pool image on Fashion-MNIST. There,
0.5 and 0.1 did not raise the student's validation accuracy (docs/DECISIONS.md), so the default 1 keeps them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.baselines.fixmatch import strong_augmentation
from fewgen.baselines.mixmatch import sharpen
from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig, standard_augmentation
from fewgen.configs import StudentConfig
from fewgen.data.files import ImageFiles, as_dataset
from fewgen.networks import build_network
from fewgen.train import TrainConfig, Trainer


class _WithTargets(Dataset):
    """Item ``i``: ``(pool image uint8 [C, H, W], its target float [K])``."""

    def __init__(self, images: torch.Tensor | ImageFiles, targets: torch.Tensor):
        self.images, self.targets = as_dataset(images), targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return (*self.images[i], self.targets[i])


class TaughtClassifier(nn.Module):
    """uint8 ``[B, C, H, W]`` -> logits ``[B, K]``; ``training_loss(pool images, targets)`` draws its labeled batch."""

    def __init__(self, net: nn.Module, labeled: torch.Tensor, labels: torch.Tensor, weak: nn.Module, strong: nn.Module,
                 config: StudentConfig):
        super().__init__()
        self.net, self.weak, self.strong, self.config = net, weak, strong, config
        self.register_buffer("labeled", labeled, persistent=False)  # [L, C, H, W] uint8
        self.register_buffer("labels", labels, persistent=False)  # [L]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_loss(self, pool: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``pool`` uint8 ``[U, C, H, W]`` with the teacher's ``targets`` ``[U, K]`` (rows sum to 1)."""
        cfg = self.config
        pick = torch.randint(len(self.labeled), (cfg.batch_size,)).to(self.labeled.device)
        x_l = torch.stack([self.weak(image) for image in self.labeled[pick]])
        x_weak = torch.stack([self.weak(image) for image in pool])
        x_strong = torch.stack([self.strong(image) for image in pool])
        logits_l, logits_weak, logits_strong = self(torch.cat([x_l, x_weak, x_strong])).split([len(x_l), len(pool), len(pool)])
        supervised = nn.functional.cross_entropy(logits_l, self.labels[pick])
        target, own = student_targets(logits_weak.detach(), targets, cfg.threshold)
        pooled = -(target * torch.log_softmax(logits_strong.float(), dim=1)).sum(1).mean()
        return supervised + cfg.lambda_u * pooled, {"supervised": supervised.item(), "pool": pooled.item(),
                                                     "own": own.float().mean().item()}


def student_targets(logits_weak: torch.Tensor, teacher: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets [U, K], own [U] bool)``: the student's one-hot pseudo-label where its weak view's confidence is at
    least ``threshold`` (``own``), else the teacher's probabilities. A threshold above 1 keeps the teacher's."""
    confidence, pseudo = torch.softmax(logits_weak.float(), dim=1).max(dim=1)
    own = confidence >= threshold
    mine = nn.functional.one_hot(pseudo, teacher.shape[1]).to(teacher.dtype)
    return torch.where(own[:, None], mine, teacher.float()), own


class Student(ResNetBaseline):
    """``teach(targets)`` then ``fit(images, labels, pool)``; ``predict`` and ``predict_proba`` as ResNet-18's.

    ``network`` is an entry of :mod:`fewgen.students` (``small``, ``encoder``), ``backbone`` and ``spec`` the
    teacher's (the encoder student starts from that backbone's weights)."""

    Config = StudentConfig

    def __init__(self, config: StudentConfig | None = None, hflip: bool = False, seed: int = 0, network: str = "small",
                 backbone: Backbone | None = None, spec: FeatureSpec | None = None):
        self.student = config or StudentConfig()
        super().__init__(ResNetConfig(precision=self.student.precision), hflip, seed)  # predict() reads its precision
        self.network, self.backbone, self.spec = network, backbone, spec
        self.targets_: np.ndarray | None = None

    def teach(self, targets: np.ndarray) -> "Student":
        """The teacher's probabilities ``[P, K]`` for the pool images given to :meth:`fit`, in their order."""
        self.targets_ = np.asarray(targets, dtype=np.float32)
        return self

    def fit(self, images: torch.Tensor, labels: np.ndarray, pool: torch.Tensor | ImageFiles | None = None,
            checkpoint_dir: Path | None = None, resume: bool = False, checkpoint_every: int | None = None) -> "Student":
        """uint8 labeled images ``[N, C, H, W]`` with labels ``[N]``, and the pool ``[P, C, H, W]`` whose targets
        :meth:`teach` gave; ``checkpoint_dir``, ``resume`` and ``checkpoint_every`` as the Trainer's (round r
        checkpoints under ``round{r}``)."""
        self.checkpoint_every = checkpoint_every
        if pool is None or self.targets_ is None or len(self.targets_) != len(pool):
            raise ValueError("a student needs the pool and, from teach(), one target row per pool image")
        self.classes_, y_idx = np.unique(labels, return_inverse=True)
        if self.targets_.shape[1] != len(self.classes_):
            raise ValueError(f"the teacher's targets have {self.targets_.shape[1]} classes, the labels {len(self.classes_)}")
        targets = torch.from_numpy(self.targets_)
        self.summaries_ = []
        for round_ in range(self.student.rounds):
            if round_:
                targets = torch.from_numpy(self._proba_of(pool)).float()  # the last student teaches the next
            if self.student.temperature != 1.0:
                targets = sharpen(targets, self.student.temperature)
            self._train_round(images, y_idx, pool, targets, checkpoint_dir / f"round{round_}" if checkpoint_dir else None, resume)
        self.summary_ = {"seconds": sum(s["seconds"] for s in self.summaries_), "steps": sum(s["steps"] for s in self.summaries_)}
        return self

    def _train_round(self, images, y_idx, pool, targets, checkpoint_dir, resume) -> None:
        cfg = self.student
        torch.manual_seed(self.seed)
        size = images.shape[-1]
        net = build_network(self.network, tuple(images.shape[1:]), len(self.classes_), self.backbone, self.spec)
        model = TaughtClassifier(net, images, torch.as_tensor(y_idx, dtype=torch.long), standard_augmentation(size, self.hflip),
                                 strong_augmentation(size, self.hflip), cfg)
        train = TrainConfig(steps=cfg.steps, batch_size=cfg.mu * cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                            schedule="cosine", precision=cfg.precision, seed=self.seed, progress=False,
                            checkpoint_every=self.checkpoint_every)
        trainer = Trainer(model, train, checkpoint_dir, tag=f"student-{self.network}")
        self.summaries_.append(trainer.fit_dataset(_WithTargets(pool, targets), resume=resume))
        self.model_ = trainer.model.eval()

    def _proba_of(self, images: torch.Tensor | ImageFiles) -> np.ndarray:
        """``[N, K]`` probabilities of images in memory or in files, in batches."""
        from fewgen.data.files import image_batches

        return np.concatenate([self.predict_proba(batch) for batch in image_batches(images, batch_size=500)])
