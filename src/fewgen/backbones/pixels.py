"""The ``pixels`` backbone: raw pixels, flattened and scaled to [0, 1]. Nothing to train."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fewgen.backbones.base import Backbone, FeatureSpec, register


@dataclass
class PixelsConfig:
    """No settings: the identity backbone."""


@register
class PixelsBackbone(Backbone):
    name = "pixels"
    Config = PixelsConfig

    def fit(self, unlabeled: torch.Tensor, train_config=None, run_dir: Path | None = None, resume: bool = False) -> dict:
        return {"seconds": 0.0, "steps": 0}

    def features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> float32 ``[B, C*H*W]`` in [0, 1]."""
        return x.flatten(1).float() / 255.0
