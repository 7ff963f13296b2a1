"""``umap``: logistic regression in a UMAP embedding fitted on the unlabeled pool.

UMAP (McInnes, Healy & Melville, 2018) is fitted on the pool's features with the labels
unused; the labeled images are embedded with the pool, and validation and test images
are only ``transform``ed. The embedding depends on the pool alone, so it is fitted once
per (checkpoint, spec, settings) and reused by every draw through the shared memory.
"""

from __future__ import annotations

import numpy as np

from fewgen.heads.semi import PoolHead, fit_logreg, logreg_proba


class UMAPHead(PoolHead):
    """Standardise (pool statistics) -> UMAP to ``umap_components`` dims -> logistic regression (``C``)."""

    def __init__(self, umap_components: int = 10, umap_neighbors: int = 15, C: float = 1.0, scaling: str = "feature",
                 random_state=0, memory=None):
        self.umap_components = umap_components
        self.umap_neighbors = umap_neighbors
        self.C = C
        self.scaling = scaling
        self.random_state = random_state
        self.memory = memory

    @property
    def space(self) -> str:
        return "umap"

    def _fit_space(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        labeled = y_idx >= 0
        self.model_ = fit_logreg(Z[labeled], y_idx[labeled], n_classes, self.C, self.random_state)

    def _proba_space(self, Z: np.ndarray) -> np.ndarray:
        return logreg_proba(self.model_, Z)
