"""The feature cache's files in a run folder, read without torch (the report reads them; :mod:`fewgen.features`
writes them).

Cached arrays live at ``RUN/features/<split>-<key>.npy`` with a JSON sidecar saying what they are (backbone,
checkpoint hash, spec, split, precision, image count and width) and ``<split>-<key>.index.npy``, the image indices.
The key hashes the description and the indices, so a new checkpoint or spec never reads a stale cache.
``RUN/features/<split>-labels.json`` holds the split's labels and class names, so that a report can colour cached
features by class without the dataset.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from fewgen.atomic import write_json
from fewgen.errors import FewgenError

FEATURES_DIR = "features"


class FeatureFiles:
    """The files under ``run_dir/features``: where an array is kept, the labels of each split, what is cached."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / FEATURES_DIR

    def path_of(self, described: dict, indices: np.ndarray) -> Path:
        """The ``.npy`` that holds the features ``described`` (backbone, checkpoint, spec, split, precision) of the
        images ``indices`` (int64): named by a hash of both."""
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode() + indices.tobytes()).hexdigest()[:16]
        return self.root / f"{described['split']}-{digest}.npy"

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
