"""Feature extraction in batches, and the feature cache in the run folder.

Cached arrays live at ``RUN/features/<split>-<key>.npy`` with a JSON sidecar
saying what they are (backbone, checkpoint hash, spec, split, image indices).
The key hashes all of those, so a new checkpoint or spec never reads a stale
cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from fewgen.atomic import save_npy, write_json
from fewgen.backbones.base import Backbone, FeatureSpec


def extract_features(backbone: Backbone, images: torch.Tensor, spec: FeatureSpec, batch_size: int = 256) -> np.ndarray:
    """uint8 images ``[N, C, H, W]`` -> float32 features ``[N, D]``, batch by batch."""
    chunks = [backbone.features(images[i : i + batch_size], spec) for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


class FeatureCache:
    """Caches features per (checkpoint, spec, split, precision, indices) under ``run_dir/features``."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / "features"

    def get(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, split: str,
            indices: np.ndarray, images: torch.Tensor) -> np.ndarray:
        """Features ``[len(indices), D]`` of ``images[indices]``, from the cache when present."""
        indices = np.asarray(indices, dtype=np.int64)
        described = {"backbone": backbone.name, "checkpoint": checkpoint, "spec": spec.to_dict(), "split": split,
                     "precision": backbone.feature_precision()}
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode() + indices.tobytes()).hexdigest()[:16]
        path = self.root / f"{split}-{digest}.npy"
        if path.is_file():
            return np.load(path)
        features = extract_features(backbone, images[torch.as_tensor(indices)], spec)
        save_npy(path, features)
        save_npy(path.with_suffix(".index.npy"), indices)
        write_json(path.with_suffix(".json"), {**described, "n": len(indices), "dim": int(features.shape[1])})
        return features
