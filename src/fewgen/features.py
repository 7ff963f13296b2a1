"""Feature extraction in batches, and the feature cache in the run folder (its files: :mod:`fewgen.feature_files`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fewgen.atomic import atomic_path, save_npy, write_json
from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.data.files import ImageFiles, image_batches
from fewgen.feature_files import FeatureFiles


def extract_features(backbone: Backbone, images: torch.Tensor | ImageFiles, spec: FeatureSpec, batch_size: int = 256,
                     indices: np.ndarray | None = None) -> np.ndarray:
    """uint8 images ``[N, C, H, W]`` (in memory or files; ``images[indices]`` when given) -> float32 ``[N, D]``, uncached
    (for bench/ scripts and notebooks; the commands read through :class:`FeatureCache`)."""
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


class FeatureCache(FeatureFiles):
    """Caches features per (checkpoint, spec, split, precision, indices) under ``run_dir/features``; for a folder's
    images, per files too (:meth:`~fewgen.data.files.ImageFiles.fingerprint`), so that moving files between
    ``unlabeled/`` and ``labeled/`` (which renumbers the train split) never reads another image's features."""

    def get(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, split: str,
            indices: np.ndarray, images: torch.Tensor | ImageFiles, mmap: bool = False) -> np.ndarray:
        """Features ``[len(indices), D]`` of ``images[indices]``, from the cache when present.

        ``mmap``: return the cached file memory-mapped, read-only (for the whole unlabeled pool,
        which every draw reads and none copies)."""
        indices = np.asarray(indices, dtype=np.int64)
        described = {"backbone": backbone.name, "checkpoint": checkpoint, "spec": spec.to_dict(), "split": split,
                     "precision": backbone.feature_precision()}
        if isinstance(images, ImageFiles):  # a folder's files: which files, as well as which indices
            described["files"] = images.fingerprint(indices)
        path = self.path_of(described, indices)
        if path.is_file():
            return np.load(path, mmap_mode="r" if mmap else None)
        extract_to_file(path, backbone, images, spec, indices)
        features = np.load(path, mmap_mode="r")
        save_npy(path.with_suffix(".index.npy"), indices)
        write_json(path.with_suffix(".json"), {**described, "n": len(indices), "dim": int(features.shape[1])})
        return features if mmap else np.array(features)
