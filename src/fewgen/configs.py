"""The settings that the command line shows in its help, in a module that imports no torch, so ``fewgen --help``
answers at once: the baselines' budgets, the cGLO's settings, ``select``'s default sweep, the backbone names, and
``option``, the dataclass field that carries a setting's help. The modules that use them re-export them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from fewgen.errors import FewgenError

BACKBONE_NAMES = ("alae", "ddpm", "pixels", "vae", "vqvae")  # the backbone registry's names (a test checks they agree)
DEFAULT_TIMESTEPS = (0, 10, 25, 50, 100, 200, 350, 500, 750)  # what ``fewgen select`` sweeps by default
LOSSES = ("auto", "perceptual", "laplacian")  # the cGLO's reconstruction losses


def option(default: Any, help: str) -> Any:
    """A backbone config field with the help text ``fewgen backbones`` and ``pretrain --help`` show."""
    return field(default=default, metadata={"help": help})


def option_help(config_cls: type) -> list[tuple[str, Any, str]]:
    """``(name, default, help)`` for each field of a backbone config."""
    return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(config_cls)]


@dataclass
class ResNetConfig:
    """Fixed training budget: AdamW with a cosine schedule for ``steps`` minibatches."""

    steps: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 5e-2
    precision: str = "auto"

    def spec(self) -> dict:
        """What a result row records of this budget."""
        return {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr}



@dataclass
class FixMatchConfig:
    """Fixed budget: ``steps`` AdamW steps (cosine) of ``batch_size`` labeled + ``mu * batch_size`` unlabeled images."""

    steps: int = 2000
    batch_size: int = 32
    mu: int = 7
    threshold: float = 0.95
    lambda_u: float = 1.0
    lr: float = 1e-3
    weight_decay: float = 5e-2
    precision: str = "auto"

    def spec(self) -> dict:
        """What a result row records of this budget."""
        return {"steps": self.steps, "batch_size": self.batch_size, "mu": self.mu, "threshold": self.threshold,
                "lambda_u": self.lambda_u, "lr": self.lr}



@dataclass
class GLOConfig:
    code_dim: int = option(128, "Dimension d of each image's code on the unit sphere (the paper: 128).")
    noise_dim: int = option(16, "Size of the noise ε concatenated to the code at the generator input; 0 = no noise (ablation).")
    noise_sigma: float = option(0.1, "Standard deviation σ of that noise.")
    channels: int = option(64, "Width of the generator (its last hidden layer; earlier layers have 2x and 4x).")
    gamma: float = option(1.0, "Weight γ of the weak classifier's cross-entropy; 0 = no classifier (ablation).")
    loss: str = option("auto", "Reconstruction loss: auto (perceptual if VGG-16 weights are on disk, else laplacian), perceptual, laplacian.")
    steps: int = option(1500, "Optimizer steps (Adam) for the generator, codes and classifier.")
    batch_size: int = option(64, "Minibatch size while fitting the cGLO.")
    lr: float = option(1e-3, "Learning rate for the generator, the codes and the classifier.")

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise FewgenError(f"glo loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        if self.code_dim < 2 or self.noise_dim < 0 or self.noise_sigma < 0 or self.gamma < 0 or self.steps < 1:
            raise FewgenError("glo settings: code_dim >= 2, noise_dim >= 0, noise_sigma >= 0, gamma >= 0, steps >= 1")


