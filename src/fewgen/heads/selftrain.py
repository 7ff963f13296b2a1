"""``selftrain``: class-balanced self-training of logistic regression on the unlabeled pool.

In round r of R, the current model labels the pool, and in each class the
``r / R * fraction * M / C`` most confident images (M unlabeled images, C classes) join
the labeled ones with their pseudo-labels; the model is refitted on them. Pseudo-labels
are chosen afresh each round from the whole pool, as in curriculum labeling
(Cascante-Bonilla et al., 2021). The per-class quota keeps a class the first model
favours from swallowing the pool, which scikit-learn's ``SelfTrainingClassifier``
(a threshold or the k best overall) does not prevent with one label per class.
Works in the standardised features or, with ``space='umap'``, in the pool's UMAP embedding.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from fewgen.heads.semi import PoolHead, fit_logreg, logreg_proba
from fewgen.heads.state import logreg_from, logreg_state


class SelfTrainHead(PoolHead):
    def __init__(self, space: str = "features", rounds: int = 5, fraction: float = 0.5, max_unlabeled: int = 10000,
                 C: float = 1.0, umap_components: int = 10, umap_neighbors: int = 15, scaling: str = "feature",
                 random_state=0, memory=None):
        self.space = space
        self.rounds = rounds
        self.fraction = fraction
        self.max_unlabeled = max_unlabeled
        self.C = C
        self.umap_components = umap_components
        self.umap_neighbors = umap_neighbors
        self.scaling = scaling
        self.random_state = random_state
        self.memory = memory

    def _fit_space(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        rng = check_random_state(self.random_state)
        labeled = y_idx >= 0
        Z_lab, y_lab = Z[labeled], y_idx[labeled]
        pool = np.flatnonzero(~labeled)
        if len(pool) > self.max_unlabeled:  # a seeded subset keeps each round's fit small
            pool = np.sort(rng.choice(pool, self.max_unlabeled, replace=False))
        Z_pool = Z[pool]
        model = fit_logreg(Z_lab, y_lab, n_classes, self.C, self.random_state)
        self.n_pseudo_ = []
        for r in range(1, self.rounds + 1):
            if model is None or len(Z_pool) == 0:
                break
            proba = model.predict_proba(Z_pool)  # [M, C]
            guess, confidence = proba.argmax(axis=1), proba.max(axis=1)
            quota = int(round(r / self.rounds * self.fraction * len(Z_pool) / n_classes))
            chosen = np.concatenate([np.flatnonzero(guess == c)[np.argsort(-confidence[guess == c], kind="stable")[:quota]]
                                     for c in range(n_classes)])
            self.n_pseudo_.append(int(len(chosen)))
            model.set_params(warm_start=True)  # each round starts from the last round's weights
            model.fit(np.concatenate([Z_lab, Z_pool[chosen]]), np.concatenate([y_lab, guess[chosen]]))
        self.model_ = model

    def _proba_space(self, Z: np.ndarray) -> np.ndarray:
        return logreg_proba(self.model_, Z)

    saves = True

    def save_state(self, arrays: dict, meta: dict) -> None:
        meta["model"] = logreg_state(self.model_, "model.", arrays)

    def load_state(self, meta: dict, arrays: dict) -> None:
        self.model_ = logreg_from(meta["model"], "model.", arrays)
