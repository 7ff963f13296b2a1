"""Feature extraction in batches, and the feature cache in the run folder.

Cached arrays live at ``RUN/features/<split>-<key>.npy`` with a JSON sidecar
saying what they are (backbone, checkpoint hash, spec, split, image indices).
The key hashes all of those, so a new checkpoint or spec never reads a stale
cache. ``RUN/features/<split>-labels.json`` holds the split's labels and class
names, so a report can colour cached features by class without the dataset.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from fewgen.atomic import save_npy, write_json
from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.errors import FewgenError


def extract_features(backbone: Backbone, images: torch.Tensor, spec: FeatureSpec, batch_size: int = 256) -> np.ndarray:
    """uint8 images ``[N, C, H, W]`` -> float32 features ``[N, D]``, batch by batch."""
    chunks = [backbone.features(images[i : i + batch_size], spec) for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


class FeatureCache:
    """Caches features per (checkpoint, spec, split, precision, indices) under ``run_dir/features``."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / "features"

    def get(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, split: str,
            indices: np.ndarray, images: torch.Tensor, mmap: bool = False) -> np.ndarray:
        """Features ``[len(indices), D]`` of ``images[indices]``, from the cache when present.

        ``mmap``: return the cached file memory-mapped, read-only (for the whole unlabeled pool,
        which every draw reads and none copies)."""
        indices = np.asarray(indices, dtype=np.int64)
        described = {"backbone": backbone.name, "checkpoint": checkpoint, "spec": spec.to_dict(), "split": split,
                     "precision": backbone.feature_precision()}
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode() + indices.tobytes()).hexdigest()[:16]
        path = self.root / f"{split}-{digest}.npy"
        if path.is_file():
            return np.load(path, mmap_mode="r" if mmap else None)
        features = extract_features(backbone, images[torch.as_tensor(indices)], spec)
        save_npy(path, features)
        save_npy(path.with_suffix(".index.npy"), indices)
        write_json(path.with_suffix(".json"), {**described, "n": len(indices), "dim": int(features.shape[1])})
        return np.load(path, mmap_mode="r") if mmap else features

    def save_labels(self, split: str, labels: np.ndarray, class_names: list[str]) -> None:
        """Store the labels ``[N]`` of a whole split (index i = image i) and the class names."""
        write_json(self.root / f"{split}-labels.json", {"class_names": list(class_names), "labels": [int(v) for v in labels]})

    def labels(self, split: str) -> tuple[np.ndarray, list[str]] | None:
        """``(labels [N], class_names)`` stored by :meth:`save_labels`, or None."""
        path = self.root / f"{split}-labels.json"
        if not path.is_file():
            return None
        stored = json.loads(path.read_text())
        return np.asarray(stored["labels"], dtype=np.int64), stored["class_names"]

    def cached(self, split: str) -> list[tuple[dict, Path]]:
        """Every cached array of ``split``: ``(its JSON description, the .npy path)``."""
        found = []
        for sidecar in sorted(self.root.glob(f"{split}-*.json")):
            if sidecar.name.endswith("-labels.json"):
                continue
            try:
                found.append((json.loads(sidecar.read_text()), sidecar.with_suffix(".npy")))
            except json.JSONDecodeError:
                raise FewgenError(f"feature cache sidecar {sidecar} is not valid JSON; delete it and its .npy") from None
        return found
