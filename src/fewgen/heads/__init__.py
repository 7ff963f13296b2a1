"""Heads: scikit-learn classifiers that see features, never images."""

from __future__ import annotations

from fewgen.errors import FewgenError
from fewgen.heads.knn import KNNHead
from fewgen.heads.linear import LinearHead
from fewgen.heads.logreg import LogRegHead
from fewgen.heads.mlp import MLPHead

HEADS = {"linear": LinearHead, "mlp": MLPHead, "logreg": LogRegHead, "knn": KNNHead}


def make_head(name: str, random_state: int = 0, **params):
    """A fresh head by name, seeded with ``random_state``, with optional hyperparameters."""
    if name not in HEADS:
        raise FewgenError(f"unknown head '{name}'; use one of: {', '.join(HEADS)}")
    return HEADS[name](random_state=random_state, **params)


__all__ = ["HEADS", "KNNHead", "LinearHead", "LogRegHead", "MLPHead", "make_head"]
