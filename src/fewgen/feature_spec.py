"""Which features a backbone reads (:class:`FeatureSpec`), in a module that imports no torch: result rows,
reports and the command line name specs without loading a model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to read: ``part`` (encoder/decoder/stacked), ``layers``, ``timestep``, ``pool``.

    Fields a backbone does not use stay ``None`` (and so stay out of cache keys and names). A diffusion backbone may
    average each block over ``noise_draws`` seeded noise draws at each t, and average its timesteps instead of
    concatenating them (``combine="mean"``): Li et al. 2025 on reading diffusion features through their noise.
    """

    part: str | None = None
    layers: tuple[str, ...] | None = None
    timestep: tuple[int, ...] | None = None
    pool: str = "mean"
    weights: str | None = None  # which weights to read, e.g. the DDPM's "ema" or "raw"
    noise_draws: int | None = None  # seeded noise draws averaged at each t (None: one, the image's own)
    combine: str | None = None  # how timesteps join: None = concatenated, "mean" = averaged

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FeatureSpec":
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()})

    def label(self) -> str:
        """A short human name, e.g. ``part=stacked`` or ``layers=up0+up1,timestep=50``."""
        shown = {k: ("+".join(map(str, v)) if isinstance(v, list) else v) for k, v in self.to_dict().items()}
        return ",".join(f"{k}={v}" for k, v in shown.items() if k != "pool" or v != "mean") or "default"
