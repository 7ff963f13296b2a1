"""``knn``: k-nearest neighbours on standardised features (1-NN by default, the few-shot classic)."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from fewgen.heads.base import StandardisedHead


class KNNHead(StandardisedHead):
    def __init__(self, n_neighbors: int = 1, metric: str = "euclidean", scaling: str = "feature", random_state=0):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.scaling = scaling
        self.random_state = random_state  # unused: k-NN is deterministic; kept for a uniform head API

    def _fit_scaled(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        k = min(self.n_neighbors, Z.shape[0])
        self.model_ = KNeighborsClassifier(n_neighbors=k, metric=self.metric).fit(Z, y_idx)
        self.n_classes_ = n_classes

    def _proba_scaled(self, Z: np.ndarray) -> np.ndarray:
        proba = np.zeros((Z.shape[0], self.n_classes_))
        proba[:, self.model_.classes_] = self.model_.predict_proba(Z)
        return proba

    saves = True

    def save_state(self, arrays: dict, meta: dict) -> None:
        """The stored points and their targets: the index is refitted on them (exact search, the same neighbours)."""
        arrays["knn.points"], arrays["knn.targets"] = self.model_._fit_X, self.model_._y
        meta["n_classes"] = int(self.n_classes_)

    def load_state(self, meta: dict, arrays: dict) -> None:
        points, targets = arrays["knn.points"], arrays["knn.targets"]
        self.model_ = KNeighborsClassifier(n_neighbors=min(self.n_neighbors, len(points)), metric=self.metric).fit(points, targets)
        self.n_classes_ = meta["n_classes"]
