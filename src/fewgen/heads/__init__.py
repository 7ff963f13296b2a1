"""Heads: scikit-learn classifiers that see features, never images."""

from __future__ import annotations

from fewgen.errors import FewgenError
from fewgen.heads.knn import KNNHead
from fewgen.heads.linear import LinearHead
from fewgen.heads.logreg import LogRegHead
from fewgen.heads.mlp import MLPHead
from fewgen.heads.pool import PoolMemory
from fewgen.heads.propagate import PropagateHead
from fewgen.heads.selftrain import SelfTrainHead
from fewgen.heads.umap import UMAPHead

HEADS = {"linear": LinearHead, "mlp": MLPHead, "logreg": LogRegHead, "knn": KNNHead,
         "umap": UMAPHead, "selftrain": SelfTrainHead, "propagate": PropagateHead}

# The order that breaks ties on validation: the simpler head wins. Linear models first (logreg, the convex default,
# then the SGD linear probe), then k-NN (no training, but it keeps every row), the MLP (nonlinear), and last the heads
# that also learn from the unlabeled pool (more moving parts, and a model folder that holds the pool).
SIMPLEST_FIRST = ("logreg", "linear", "knn", "mlp", "umap", "selftrain", "propagate")


def simplicity(name: str) -> int:
    """A head's rank in :data:`SIMPLEST_FIRST` (0 = simplest); a head missing from it ranks after every listed one."""
    return SIMPLEST_FIRST.index(name) if name in SIMPLEST_FIRST else len(SIMPLEST_FIRST)


def uses_pool(name: str) -> bool:
    """Whether head ``name`` learns from the unlabeled pool (its ``fit`` wants the pool's rows with ``y == -1``)."""
    return getattr(HEADS[name], "uses_pool", False)


def make_head(name: str, random_state: int = 0, memory: PoolMemory | None = None, **params):
    """A fresh head by name, seeded with ``random_state``, with optional hyperparameters; ``memory`` (the cache of
    label-free steps) goes to the heads that learn from the pool and is ignored by the others."""
    if name not in HEADS:
        raise FewgenError(f"unknown head '{name}'; use one of: {', '.join(HEADS)}")
    if memory is not None and uses_pool(name):
        params["memory"] = memory
    return HEADS[name](random_state=random_state, **params)


__all__ = ["HEADS", "SIMPLEST_FIRST", "simplicity", "KNNHead", "LinearHead", "LogRegHead", "MLPHead", "PoolMemory", "PropagateHead", "SelfTrainHead",
           "UMAPHead", "make_head", "uses_pool"]
