"""Base for heads that learn from the unlabeled pool too (``uses_pool = True``).

``fit(X [N, D], y [N])`` takes every pool row, with ``y == -1`` on the unlabeled ones
(scikit-learn's semi-supervised convention). The head maps ``X`` into its
:class:`~fewgen.heads.pool.PoolSpace` (standardised features or a UMAP embedding,
fitted on all of ``X`` without labels, cached in ``memory``) and learns there.
``predict`` only transforms new rows: validation and test images never enter a fit.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fewgen.errors import FewgenError
from fewgen.heads.pool import UNLABELED, PoolMemory, PoolSpace, labeled_mask
from fewgen.heads.state import SavesState

UMAP_SEED = 0  # the embedding's seed is fixed, not the draw's: one embedding serves every draw


class PoolHead(SavesState, ClassifierMixin, BaseEstimator):
    """Subclasses set ``space`` and implement ``_fit_space(Z, y_idx, n_classes)`` (``y_idx == -1``:
    unlabeled) and ``_proba_space(Z) -> [M, n_classes]`` on coordinates ``Z`` of the head's space."""

    uses_pool: ClassVar[bool] = True

    @classmethod
    def can_save(cls, params: dict) -> bool:
        """As :meth:`SavesState.can_save`, and never in UMAP space (umap-learn's transform needs pickle)."""
        return cls.saves and params.get("space", "features") != "umap"

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        mask = labeled_mask(y)
        if not mask.any():
            raise FewgenError("every row is unlabeled (y == -1); give the head at least one labeled image per class")
        check_classification_targets(y[mask])
        self.classes_, y_labeled = np.unique(y[mask], return_inverse=True)
        y_idx = np.full(len(y), UNLABELED, dtype=np.int64)
        y_idx[mask] = y_labeled
        self.n_labeled_, self.n_unlabeled_ = int(mask.sum()), int((~mask).sum())
        memory = self.memory if self.memory is not None else PoolMemory()
        self.space_ = PoolSpace(self.space, self.scaling, memory, n_components=self.umap_components,
                                n_neighbors=self.umap_neighbors, random_state=UMAP_SEED)
        self._fit_space(self.space_.fit(X), y_idx, len(self.classes_))
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._proba_space(self.space_.transform(X))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _fit_space(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        raise NotImplementedError

    def _proba_space(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def fit_logreg(Z: np.ndarray, y_idx: np.ndarray, n_classes: int, C: float, random_state):
    """scikit-learn's L2 logistic regression on ``Z``, or None when there is only one class."""
    from sklearn.linear_model import LogisticRegression

    if n_classes == 1:
        return None
    return LogisticRegression(C=C, max_iter=1000, random_state=random_state).fit(Z, y_idx)


def logreg_proba(model, Z: np.ndarray) -> np.ndarray:
    return np.ones((len(Z), 1)) if model is None else model.predict_proba(Z)
