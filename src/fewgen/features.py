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

from fewgen.atomic import atomic_path, save_npy, write_json
from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.data.files import ImageFiles, image_batches
from fewgen.errors import FewgenError


def extract_features(backbone: Backbone, images: torch.Tensor | ImageFiles, spec: FeatureSpec, batch_size: int = 256,
                     indices: np.ndarray | None = None) -> np.ndarray:
    """uint8 images ``[N, C, H, W]`` (in memory or files; ``images[indices]`` when given) -> float32 ``[N, D]``."""
    chunks = [backbone.features(batch, spec) for batch in image_batches(images, indices, batch_size)]
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def extract_to_file(path: Path, backbone: Backbone, images: torch.Tensor | ImageFiles, spec: FeatureSpec,
                    indices: np.ndarray, batch_size: int = 256) -> None:
    """Features of ``images[indices]`` written batch by batch into the ``.npy`` at ``path`` (memory-mapped, renamed
    into place when complete): neither the images nor the features are ever all in memory."""
    with atomic_path(path) as tmp:
        out, row = None, 0
        for batch in image_batches(images, indices, batch_size):
            features = backbone.features(batch, spec).numpy().astype(np.float32, copy=False)  # [B, D]
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(indices), features.shape[1]))
            out[row : row + len(features)] = features
            row += len(features)
        if out is None:
            with open(tmp, "wb") as f:  # a file object: np.save would add .npy to a path
                np.save(f, np.zeros((0, 0), dtype=np.float32))
        else:
            out.flush()
            del out


class FeatureCache:
    """Caches features per (checkpoint, spec, split, precision, indices) under ``run_dir/features``."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / "features"

    def get(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, split: str,
            indices: np.ndarray, images: torch.Tensor | ImageFiles, mmap: bool = False) -> np.ndarray:
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
        extract_to_file(path, backbone, images, spec, indices)
        features = np.load(path, mmap_mode="r")
        save_npy(path.with_suffix(".index.npy"), indices)
        write_json(path.with_suffix(".json"), {**described, "n": len(indices), "dim": int(features.shape[1])})
        return features if mmap else np.array(features)

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
