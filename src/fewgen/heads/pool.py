"""The unlabeled pool inside a head: scikit-learn's ``y == -1`` convention, and label-free steps cached.

Semi-supervised heads follow ``sklearn.semi_supervised``: in ``fit(X, y)`` the rows
with ``y == -1`` are unlabeled. What such a head learns from ``X`` without its
labels (a standardiser, a UMAP embedding, a neighbour graph) is the same for every
labeled draw, so :class:`PoolMemory` keys it by the content of ``X`` and the step's
settings. An evaluation passes one memory to every head: one UMAP fit then serves
every draw (DESIGN: label-free steps are fitted once per checkpoint and spec).
:class:`PoolSpace` is the space a semi-supervised head works in: the standardised
features, or a UMAP embedding of them (McInnes et al., 2018) fitted on the pool.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fewgen.atomic import save_npy
from fewgen.errors import FewgenError
from fewgen.heads.scaling import make_scaler

UNLABELED = -1
SPACES = ("features", "umap")


def labeled_mask(y) -> np.ndarray:
    """``bool [N]``: the rows that carry a label (``y != -1``; string labels are always labeled)."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.number):
        return y != UNLABELED
    return np.ones(len(y), dtype=bool)


def digest(X: np.ndarray) -> str:
    """A content hash of an array (shape, dtype and bytes): the key of what was learned from it."""
    X = np.ascontiguousarray(X)
    h = hashlib.blake2b(f"{X.shape}{X.dtype}".encode(), digest_size=10)
    h.update(memoryview(X).cast("B"))
    return h.hexdigest()


class PoolMemory:
    """Results of label-free steps, keyed by strings that name the step, its settings and its inputs' digests.

    Arrays are kept in memory and, when ``root`` is a folder, as ``root/<key>.npy`` (read back
    memory-mapped, written atomically), so a later evaluation of the same run reuses them.
    Fitted objects (a UMAP model, a standardiser) live in memory only. A memory is shared,
    never copied: scikit-learn's ``clone`` deep-copies parameters, and a copied cache would
    forget what it holds.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else None
        self._arrays: dict[str, np.ndarray] = {}
        self._objects: dict[str, Any] = {}
        self.computed: list[str] = []  # keys computed (not found) in this process, in order: what tests check
        self.seconds = 0.0  # wall time spent computing them (the one-off cost of the label-free steps)

    def __deepcopy__(self, memo) -> "PoolMemory":
        return self

    def array(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The array stored under ``key``, computing and storing it on a miss."""
        if key in self._arrays:
            return self._arrays[key]
        path = self.root / f"{key}.npy" if self.root is not None else None
        if path is not None and path.is_file():
            value = np.load(path, mmap_mode="r")
        else:
            started = time.perf_counter()
            value = np.asarray(compute())
            self.seconds += time.perf_counter() - started
            self.computed.append(key)
            if path is not None:
                save_npy(path, value)
        self._arrays[key] = value
        return value

    def forget_objects(self) -> None:
        """Drop the fitted objects held in memory (a UMAP model and a neighbour index each hold a copy of the
        pool); arrays stay, on disk too. An evaluation calls this after each feature spec."""
        self._objects.clear()

    def object(self, key: str, build: Callable[[], Any]) -> Any:
        """The object built under ``key`` in this process, building it on a miss."""
        if key not in self._objects:
            started = time.perf_counter()
            self._objects[key] = build()
            self.seconds += time.perf_counter() - started
            self.computed.append(key)
        return self._objects[key]


def _settings_key(**settings) -> str:
    """A short stable name for a step's settings (file names stay short)."""
    text = ",".join(f"{k}={v}" for k, v in sorted(settings.items()))
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


class PoolSpace:
    """The space a semi-supervised head works in, fitted on every row of ``X`` (labels unused).

    ``space='features'``: the features standardised with the pool's statistics (``scaling``:
    per feature, or one global scale). ``space='umap'``: UMAP of the standardised features,
    ``n_components``-dimensional, seeded (umap-learn runs single-threaded when seeded, so the
    embedding is reproducible). New rows are only ever *transformed*, never fitted on.
    """

    def __init__(self, space: str, scaling: str, memory: PoolMemory, n_components: int = 10,
                 n_neighbors: int = 15, min_dist: float = 0.0, random_state: int = 0):
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        self.space, self.scaling, self.memory = space, scaling, memory
        self.umap_settings = dict(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist,
                                  random_state=random_state)

    def fit(self, X: np.ndarray) -> np.ndarray:
        """Fit on the pool ``X [N, D]``; returns its coordinates ``[N, D']`` in this space."""
        self.pool_digest_ = digest(X)
        self.scaler_ = self.memory.object(f"scaler-{self.scaling}-{self.pool_digest_}", lambda: make_scaler(self.scaling).fit(X))
        if self.space == "features":
            self.key_ = f"features-{self.scaling}-{self.pool_digest_}"
            return self.memory.object(self.key_, lambda: self.scaler_.transform(np.asarray(X, dtype=np.float64)))
        n_neighbors = self.umap_settings["n_neighbors"]
        if len(X) <= n_neighbors:
            raise FewgenError(f"the unlabeled pool has {len(X)} images, too few for UMAP with n_neighbors={n_neighbors}; "
                              f"use a larger pool or a head without UMAP")
        self.key_ = f"umap-{_settings_key(**self.umap_settings, scaling=self.scaling)}-{self.pool_digest_}"
        self._pool = X
        return np.asarray(self.memory.array(self.key_, lambda: self._reducer().embedding_), dtype=np.float64)

    def _reducer(self):
        """The fitted UMAP model (fitted again in a new process when only its cached embedding was on disk)."""
        def fit():
            import umap

            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # umap-learn warns that a seed makes it run in one thread
                return umap.UMAP(**self.umap_settings).fit(self.scaler_.transform(np.asarray(self._pool, dtype=np.float64)))

        return self.memory.object(self.key_, fit)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Coordinates ``[M, D']`` of new rows ``X [M, D]`` (the pool itself gives its fitted coordinates)."""
        if self.space == "features":
            return self.scaler_.transform(np.asarray(X, dtype=np.float64))
        query = digest(X)
        if query == self.pool_digest_:  # the pool itself: its fitted coordinates
            return np.asarray(self.memory.array(self.key_, lambda: self._reducer().embedding_), dtype=np.float64)
        scaled = lambda: self.scaler_.transform(np.asarray(X, dtype=np.float64))  # noqa: E731
        def embed():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._reducer().transform(scaled())

        return np.asarray(self.memory.array(f"{self.key_}-{query}", embed), dtype=np.float64)
