"""The settings that the command line shows in its help, in a module that imports no torch, so ``fewgen --help``
answers at once: the baselines' budgets, the cGLO's settings, ``select``'s default sweep, the backbone names,
``option``, the dataclass field that carries a setting's help, and ``config_from_options``, which builds a config
from ``KEY=VALUE`` strings. The modules that use them re-export them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

from fewgen.errors import FewgenError

BACKBONE_NAMES = ("alae", "ddpm", "pixels", "vae", "vqvae")  # the backbone registry's names (a test checks they agree)
SWEEPABLE_BACKBONES = ("ddpm",)  # those with diffusion timesteps and blocks for 'fewgen select' (block_dims)
DEFAULT_TIMESTEPS = (0, 10, 25, 50, 100, 200, 350, 500, 750)  # what ``fewgen select`` sweeps by default
LOSSES = ("auto", "perceptual", "laplacian")  # the cGLO's reconstruction losses


def option(default: Any, help: str) -> Any:
    """A backbone config field with the help text ``fewgen backbones`` and ``pretrain --help`` show."""
    return field(default=default, metadata={"help": help})


def option_help(config_cls: type) -> list[tuple[str, Any, str]]:
    """``(name, default, help)`` for each field of a backbone config."""
    return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(config_cls)]


def config_from_options(config_cls: type, options: dict[str, str], flag: str = "-o ") -> Any:
    """Build a config dataclass from ``key=value`` strings, converting to each field's type; ``flag`` is how the
    user wrote a key (``-o `` for a backbone, ``--baseline-option resnet18.`` for a baseline), for the errors."""
    known = {f.name: f for f in fields(config_cls)}
    values = {}
    for key, raw in options.items():
        if key not in known:
            raise FewgenError(f"unknown option '{flag}{key}'; the settings are: {', '.join(known)}")
        default = getattr(config_cls(), key)
        try:
            values[key] = type(default)(raw) if not isinstance(default, bool) else raw.lower() in ("1", "true", "yes")
        except ValueError:
            raise FewgenError(f"option {flag}{key}={raw} is not a valid {type(default).__name__}") from None
    return config_cls(**values)


PRECISIONS = ("auto", "bf16", "fp32")
SETTING_RANGES = {  # what a trained baseline's or a student's setting must be, where it has that setting
    "batch_size": ("at least 1", lambda v: v >= 1), "mu": ("at least 1", lambda v: v >= 1),
    "lr": ("above 0", lambda v: v > 0), "weight_decay": ("at least 0", lambda v: v >= 0),
    "lambda_u": ("at least 0 (a weight on the unlabeled loss)", lambda v: v >= 0),
    "threshold": ("at least 0", lambda v: v >= 0),
}


@dataclass
class BaselineConfig:
    """What every trained baseline's settings share: the row's record of its budget and the checks. A baseline's own
    ``Config`` subclasses this, with its settings as :func:`option` fields; a ``seeds`` setting (0 = every seed)
    limits the draws it trains on, for a costly one."""

    def spec(self) -> dict:
        """What a result row records of this budget: every setting but the arithmetic and the seed limit."""
        return {k: v for k, v in asdict(self).items() if k not in ("precision", "seeds")}

    def check(self, flag: Callable[[str], str], seeds: int) -> None:
        """One sentence for a setting out of range; ``flag(key)`` is how the user sets ``key`` (for the sentence),
        ``seeds`` the evaluation's ``--seeds``."""
        if getattr(self, "steps", 1) < 1:
            raise FewgenError(f"{flag('steps')} must be at least 1, got {self.steps}")
        if not 0 <= getattr(self, "seeds", 0) <= seeds:
            raise FewgenError(f"{flag('seeds')} must lie in 1..--seeds ({seeds}), or be 0 for every seed; got {self.seeds}")
        if getattr(self, "network", SCRATCH_NETWORKS[0]) not in SCRATCH_NETWORKS:
            raise FewgenError(f"{flag('network')} must be one of {', '.join(SCRATCH_NETWORKS)}, got '{self.network}'")
        if getattr(self, "precision", "auto") not in PRECISIONS:
            raise FewgenError(f"{flag('precision')} must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        for key, (bound, ok) in SETTING_RANGES.items():
            if hasattr(self, key) and not ok(getattr(self, key)):
                raise FewgenError(f"{flag(key)} must be {bound}, got {getattr(self, key)}")


@dataclass
class ResNetConfig(BaselineConfig):
    """Fixed training budget: AdamW with a cosine schedule for ``steps`` minibatches."""

    steps: int = option(200, "AdamW steps (fixed in advance, never tuned on test); also --resnet-steps.")
    batch_size: int = option(32, "Labeled images a step.")
    lr: float = option(1e-3, "Peak learning rate (cosine schedule to zero).")
    weight_decay: float = option(5e-2, "AdamW weight decay.")
    precision: str = option("auto", "auto (bf16 where the hardware runs it natively, else fp32), bf16, or fp32.")
    seeds: int = option(0, "Train on the draws of seeds 0..N-1 only (its cost); 0: every seed. Also --resnet-seeds.")

    def spec(self) -> dict:
        """What a result row records of this budget."""
        return {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr}


@dataclass
class FixMatchConfig(BaselineConfig):
    """Fixed budget: ``steps`` AdamW steps (cosine) of ``batch_size`` labeled + ``mu * batch_size`` unlabeled images."""

    steps: int = option(2000, "AdamW steps (fixed in advance, never tuned on test); also --fixmatch-steps.")
    batch_size: int = option(32, "Labeled images a step.")
    mu: int = option(7, "Unlabeled images a step, as a multiple of batch_size (the paper: 7).")
    threshold: float = option(0.95, "Confidence a pseudo-label needs to count (the paper: 0.95).")
    lambda_u: float = option(1.0, "Weight of the unlabeled loss.")
    lr: float = option(1e-3, "Peak learning rate (cosine schedule to zero).")
    weight_decay: float = option(5e-2, "AdamW weight decay.")
    precision: str = option("auto", "auto (bf16 where the hardware runs it natively, else fp32), bf16, or fp32.")
    seeds: int = option(0, "Train on the draws of seeds 0..N-1 only (its cost); 0: every seed.")
    network: str = option("resnet18", "The network trained from scratch: resnet18 (CIFAR stem) or small (the small "
                                      "student's CNN; beside 'fewgen evaluate --students small' also give its steps, batch_size and lr for equal compute: evaluate warns when they differ).")

    def spec(self) -> dict:
        """What a result row records of this budget."""
        return {"steps": self.steps, "batch_size": self.batch_size, "mu": self.mu, "threshold": self.threshold,
                "lambda_u": self.lambda_u, "lr": self.lr, "network": self.network}


SCRATCH_NETWORKS = ("resnet18", "small")  # what FixMatch and MixMatch can train from scratch (a ``network`` setting)


@dataclass
class MixMatchConfig(BaselineConfig):
    """Fixed budget: ``steps`` AdamW steps (cosine) of ``batch_size`` labeled + ``mu * batch_size`` unlabeled images,
    MixMatch's settings (Berthelot et al. 2019) otherwise."""

    steps: int = option(2000, "AdamW steps (fixed in advance, never tuned on test).")
    batch_size: int = option(32, "Labeled images a step.")
    mu: int = option(7, "Unlabeled images a step, as a multiple of batch_size (FixMatch's 7, for equal compute).")
    augmentations: int = option(2, "K: augmented views of each unlabeled image whose predictions are averaged (the paper: 2).")
    temperature: float = option(0.5, "T: sharpening temperature of the guessed labels (the paper: 0.5).")
    alpha: float = option(0.75, "MixUp's Beta(alpha, alpha) (the paper: 0.75).")
    lambda_u: float = option(75.0, "Weight of the unlabeled (squared error) loss (the paper: 75 on CIFAR-10).")
    rampup: float = option(0.4, "Fraction of the steps over which lambda_u ramps up linearly from 0.")
    lr: float = option(1e-3, "Peak learning rate (cosine schedule to zero).")
    weight_decay: float = option(5e-2, "AdamW weight decay.")
    precision: str = option("auto", "auto (bf16 where the hardware runs it natively, else fp32), bf16, or fp32.")
    seeds: int = option(0, "Train on the draws of seeds 0..N-1 only (its cost); 0: every seed.")
    network: str = option("resnet18", "The network trained from scratch: resnet18 (CIFAR stem) or small (the small student's CNN).")

    def check(self, flag: Callable[[str], str], seeds: int) -> None:
        super().check(flag, seeds)
        for key, ok in (("augmentations", self.augmentations >= 1), ("temperature", self.temperature > 0),
                        ("alpha", self.alpha > 0), ("rampup", 0 <= self.rampup <= 1), ("mu", self.mu >= 1)):
            if not ok:
                raise FewgenError(f"{flag(key)} is out of range, got {getattr(self, key)}")


@dataclass
class StudentConfig(BaselineConfig):
    """A student's budget (:mod:`fewgen.students`): ``steps`` AdamW steps (cosine) of ``batch_size`` labeled images with
    their labels and ``mu * batch_size`` pool images with the teacher's soft targets on strong views, where the
    student's own confident prediction on the weak view replaces the teacher's (FixMatch's consistency)."""

    steps: int = option(1000, "AdamW steps (chosen on validation between 400 and 1000, never on test; about 0.13-0.2 s each for the "
                              "small CNN on 28x28 images on 2 cores with bf16, 2-4x that without).")
    batch_size: int = option(16, "Labeled images a step.")
    mu: int = option(7, "Pool images a step, as a multiple of batch_size (FixMatch's 7).")
    threshold: float = option(0.95, "Confidence of the student's weak view at which its own pseudo-label replaces the "
                                    "teacher's target (FixMatch's 0.95; above 1: the teacher's targets only).")
    lambda_u: float = option(1.0, "Weight of the pool loss.")
    temperature: float = option(1.0, "The teacher's targets are raised to the power 1/temperature and renormalised "
                                     "(MixMatch's sharpening, Berthelot et al. 2019): below 1 sharpens, 1 keeps them (chosen on "
                                     "validation over 0.5 and 0.1, never on test).")
    rounds: int = option(1, "Rounds: each further one trains a fresh student on the last one's predictions for the "
                            "pool (Noisy Student, Xie et al. 2020).")
    lr: float = option(2e-3, "Peak learning rate (cosine schedule to zero).")
    weight_decay: float = option(5e-2, "AdamW weight decay.")
    precision: str = option("auto", "auto (bf16 where the hardware runs it natively, else fp32), bf16, or fp32.")
    seeds: int = option(0, "Train on the draws of seeds 0..N-1 only (its cost); 0: every seed.")

    def check(self, flag: Callable[[str], str], seeds: int) -> None:
        super().check(flag, seeds)
        for key, low in (("batch_size", 1), ("mu", 1), ("rounds", 1)):
            if getattr(self, key) < low:
                raise FewgenError(f"{flag(key)} must be at least {low}, got {getattr(self, key)}")
        if not self.temperature > 0:
            raise FewgenError(f"{flag('temperature')} must be above 0, got {self.temperature}")


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


