"""``propagate``: label spreading over a k-nearest-neighbour graph of the unlabeled pool.

Label spreading (Zhou et al., 2004, "Learning with Local and Global Consistency"):
F <- alpha * S F + (1 - alpha) * Y with S = D^-1/2 W D^-1/2, run by scikit-learn's
``LabelSpreading`` on a symmetrised k-NN connectivity graph of the pool (built with
scikit-learn's exact ``NearestNeighbors`` and cached: it does not depend on the labels).
A new image (validation, test) takes the mean label distribution of its k nearest pool
images, so it never enters the graph. A k-NN graph can fall apart into pieces that hold
no labeled image (UMAP's tight clumps often do); an image whose neighbours received no
label mass is classified by logistic regression on the labeled images in the same space. Works in the standardised features or, with
``space='umap'``, in the pool's UMAP embedding.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.semi_supervised import LabelSpreading

from fewgen.heads.pool import digest
from fewgen.heads.semi import PoolHead, fit_logreg, logreg_proba
from fewgen.heads.state import logreg_from, logreg_state


class PropagateHead(PoolHead):
    def __init__(self, space: str = "features", n_neighbors: int = 10, alpha: float = 0.99, max_iter: int = 100,
                 umap_components: int = 10, umap_neighbors: int = 15, scaling: str = "feature", random_state=0, memory=None):
        self.space = space
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.max_iter = max_iter
        self.umap_components = umap_components
        self.umap_neighbors = umap_neighbors
        self.scaling = scaling
        self.random_state = random_state  # seeds the fallback's logistic regression; spreading is deterministic
        self.memory = memory

    def _k(self, n_pool: int) -> int:
        return max(1, min(self.n_neighbors, n_pool - 1))

    def _fit_space(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        memory, key = self.space_.memory, f"knn{self._k(len(Z))}-{self.space_.key_}"
        self.index_ = memory.object(f"index-{self.space_.key_}", lambda: NearestNeighbors().fit(Z))
        neighbours = memory.array(key, lambda: self.index_.kneighbors(n_neighbors=self._k(len(Z)), return_distance=False))
        graph = memory.object(f"graph-{key}", lambda: _symmetric_connectivity(np.asarray(neighbours), len(Z)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LabelSpreading(kernel=lambda a, b: graph, alpha=self.alpha, max_iter=self.max_iter).fit(Z, y_idx)
        self.label_distributions_ = model.label_distributions_  # [N_pool, C], rows sum to 1 (or 0 if unreached)
        self.n_iter_ = model.n_iter_
        self.unreached_ = float((self.label_distributions_.sum(axis=1) == 0).mean())  # share of the pool no label reached
        self.pool_key_ = key
        labeled = y_idx >= 0
        self.fallback_ = fit_logreg(Z[labeled], y_idx[labeled], n_classes, 1.0, self.random_state)

    def _proba_space(self, Z: np.ndarray) -> np.ndarray:
        k = self._k(len(self.label_distributions_))
        neighbours = self.space_.memory.array(f"{self.pool_key_}-{digest(Z)}",
                                              lambda: self.index_.kneighbors(Z, n_neighbors=k, return_distance=False))
        proba = self.label_distributions_[np.asarray(neighbours)].mean(axis=1)  # [M, C]
        total = proba.sum(axis=1, keepdims=True)
        return np.where(total > 0, proba / np.where(total > 0, total, 1), logreg_proba(self.fallback_, Z))

    saves = True

    def save_state(self, arrays: dict, meta: dict) -> None:
        """The pool's points and label distributions (a new image averages its neighbours'), and the fallback."""
        arrays["pool.points"] = np.asarray(self.index_._fit_X, dtype=np.float64)
        arrays["pool.label_distributions"] = self.label_distributions_
        meta["model"] = logreg_state(self.fallback_, "model.", arrays)

    def load_state(self, meta: dict, arrays: dict) -> None:
        self.index_ = NearestNeighbors().fit(arrays["pool.points"])
        self.label_distributions_ = arrays["pool.label_distributions"]
        self.fallback_ = logreg_from(meta["model"], "model.", arrays)
        self.pool_key_ = "deployed"


def _symmetric_connectivity(neighbours: np.ndarray, n: int) -> sparse.csr_matrix:
    """``neighbours [n, k]`` (self excluded) -> the symmetric 0/1 affinity ``W [n, n]`` (an edge if either is a neighbour)."""
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    W = sparse.csr_matrix((np.ones(rows.size), (rows, neighbours.ravel())), shape=(n, n))
    return W.maximum(W.T).tocsr()
