"""The one protocol every backbone follows, and the registry.

A backbone is registered by name and implements ``fit``, ``features``,
``sample`` (where it can generate), ``reconstruct`` (where it can encode and
decode), ``save`` and ``load``. ``features`` is
deterministic: the same image, checkpoint, spec and precision give the same
vector, bit for bit, whatever the batch size, order or neighbours (eval mode, no
batch statistics, no random sampling at feature time, and forward passes of one
fixed shape, :data:`FEATURE_BATCH`). Across CPU kinds the last bits may differ
(about 1e-6 relative in fp32); see the README's "Same image, same answer".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from fewgen import __version__
from fewgen.atomic import write_json
from fewgen.configs import config_from_options, option, option_help  # noqa: F401 (re-exported)
from fewgen.errors import FewgenError
from fewgen.feature_spec import FeatureSpec  # noqa: F401 (re-exported)

BACKBONES: dict[str, type["Backbone"]] = {}
META_FILE = "backbone.json"
FEATURE_BATCH = 64  # every forward pass that reads features sees exactly this many images (torch_backbone.py)


_POOL = re.compile(r"^(\d+)x\1$")


def check_pool(pool: str) -> None:
    """Raise unless ``pool`` is ``mean`` or ``KxK`` (e.g. ``2x2``)."""
    if pool != "mean" and not _POOL.match(pool):
        raise FewgenError(f"--spatial-pool must be 'mean' or KxK like 2x2, got '{pool}'")


def pool_side(pool: str) -> int:
    """``mean`` -> 1, ``KxK`` -> K (the pooled grid's side)."""
    return 1 if pool == "mean" else int(_POOL.match(pool).group(1))


def pool_activation(activation: torch.Tensor, pool: str) -> torch.Tensor:
    """``[B, C, h, w]`` -> ``[B, C]`` (mean over space) or ``[B, C * k * k]`` (k x k adaptive average pool)."""
    if pool == "mean":
        return activation.float().mean(dim=(2, 3))
    return F.adaptive_avg_pool2d(activation.float(), pool_side(pool)).flatten(1)


def register(cls: type["Backbone"]) -> type["Backbone"]:
    """Class decorator: add a backbone to the registry under ``cls.name``."""
    BACKBONES[cls.name] = cls
    return cls


def get_backbone_class(name: str) -> type["Backbone"]:
    if name in ("glo", "cglo"):
        raise FewgenError(f"the conditional GLO ('{name}') is fitted on each labeled draw by 'fewgen augment', not "
                          "pretrained for features; run 'fewgen augment --run RUN --data DATA' (its -o settings: 'fewgen backbones')")
    if name not in BACKBONES:
        raise FewgenError(f"unknown backbone '{name}'; use one of: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


def read_meta(directory: Path) -> dict:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FewgenError(f"{directory} holds no saved backbone ({META_FILE} is missing); run 'fewgen pretrain' first")
    return json.loads(path.read_text())


class Backbone(ABC):
    """Base class: a named generative model with a config dataclass and an image shape ``(C, H, W)``."""

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any = None, image_shape: tuple[int, int, int] = (1, 28, 28)):
        self.config = config if config is not None else self.Config()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.precision = "auto"  # feature precision: auto | bf16 | fp32 (see fewgen.train)

    def feature_precision(self) -> str:
        """``bf16`` or ``fp32``: the arithmetic :meth:`features` uses now (part of the feature cache key)."""
        return "fp32"

    # -- the protocol -------------------------------------------------------
    @abstractmethod
    def fit(self, unlabeled: torch.Tensor, train_config, run_dir: Path | None = None, resume: bool = False) -> dict:
        """Pretrain on uint8 images ``[N, C, H, W]``; returns a summary (seconds, steps, loss)."""

    @abstractmethod
    def features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """uint8 images ``[B, C, H, W]`` -> float features ``[B, D]``."""

    def sample(self, n: int) -> torch.Tensor:
        """``n`` generated uint8 images ``[n, C, H, W]``."""
        raise FewgenError(f"backbone '{self.name}' cannot generate samples")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images ``[B, C, H, W]`` -> their reconstructions through the model, uint8 ``[B, C, H, W]``."""
        raise FewgenError(f"backbone '{self.name}' cannot reconstruct images")

    def default_specs(self) -> list[FeatureSpec]:
        """The feature specs that ``evaluate`` reads when none are given."""
        return [FeatureSpec()]

    def check_spec(self, spec: FeatureSpec) -> None:
        """Raise :class:`FewgenError` if this backbone cannot read ``spec``."""
        self.reject_unused(spec, set())

    def token_layout(self, spec: FeatureSpec) -> list[tuple[int, int]] | None:
        """How ``spec``'s flat features cut into spatial tokens, for the attention head: one ``(channels, cells)``
        per concatenated part, each part channel-major; None where the features have no spatial cells."""
        return None

    def reject_unused(self, spec: FeatureSpec, reads: set[str]) -> None:
        """Raise if ``spec`` sets a field this backbone does not read (never ignore a request silently)."""
        unused = [k for k, v in spec.to_dict().items() if k not in reads and not (k == "pool" and v == "mean")]
        if unused:
            option = {"part": "--parts", "layers": "--blocks", "timestep": "--timesteps", "pool": "--spatial-pool", "weights": "--weights",
                      "noise_draws": "--noise-draws", "combine": "--combine"}
            reads_text = ", ".join(option[k] for k in sorted(reads)) or "no feature options"
            raise FewgenError(f"the {self.name} backbone does not read {', '.join(option[k] for k in unused)}; "
                              f"it reads {reads_text}")

    # -- persistence ----------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_weights(directory)
        write_json(
            directory / META_FILE,
            {
                "backbone": self.name,
                "config": dataclasses.asdict(self.config),
                "image_shape": list(self.image_shape),
                "fewgen_version": __version__,
            },
        )

    @classmethod
    def load(cls, directory: Path) -> "Backbone":
        meta = read_meta(directory)
        if meta["backbone"] != cls.name:
            raise FewgenError(
                f"checkpoint {directory} was saved by backbone '{meta['backbone']}', not '{cls.name}'; "
                f"use --backbone {meta['backbone']} or point at a {cls.name} run"
            )
        backbone = cls(cls.Config(**meta["config"]), tuple(meta["image_shape"]))
        backbone._load_weights(Path(directory))
        return backbone

    def _save_weights(self, directory: Path) -> None:
        """Write weights into ``directory`` (none for weightless backbones)."""

    def _load_weights(self, directory: Path) -> None:
        """Read weights written by :meth:`_save_weights`."""


def load_backbone(directory: Path, expected: str | None = None) -> Backbone:
    """Load whatever backbone ``directory`` holds; ``expected`` names the one the user asked for."""
    meta = read_meta(directory)
    cls = get_backbone_class(expected or meta["backbone"])
    return cls.load(directory)


def checkpoint_hash(directory: Path) -> str:
    """A short sha256 over the saved files of a backbone (weights and config)."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).glob("*")):
        if path.is_file() and not path.name.startswith("."):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
