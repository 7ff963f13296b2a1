"""``logreg``: scikit-learn's L2-regularised logistic regression on standardised features."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from fewgen.heads.base import StandardisedHead
from fewgen.heads.state import logreg_from, logreg_state


class LogRegHead(StandardisedHead):
    def __init__(self, C: float = 1.0, max_iter: int = 1000, scaling: str = "feature", random_state=0):
        self.C = C
        self.max_iter = max_iter
        self.scaling = scaling
        self.random_state = random_state

    def _fit_scaled(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        self.single_class_ = n_classes == 1
        if not self.single_class_:
            self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state).fit(Z, y_idx)
            self.n_iter_ = self.model_.n_iter_
        else:
            self.n_iter_ = np.array([1])

    def _proba_scaled(self, Z: np.ndarray) -> np.ndarray:
        if self.single_class_:
            return np.ones((Z.shape[0], 1))
        return self.model_.predict_proba(Z)

    saves = True

    def save_state(self, arrays: dict, meta: dict) -> None:
        meta["single_class"] = bool(self.single_class_)
        meta["model"] = logreg_state(getattr(self, "model_", None), "model.", arrays)

    def load_state(self, meta: dict, arrays: dict) -> None:
        self.single_class_ = meta["single_class"]
        self.model_ = logreg_from(meta["model"], "model.", arrays)
