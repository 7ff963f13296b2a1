"""Heads: scikit-learn classifiers that see features, never images."""

from __future__ import annotations

from fewgen.errors import FewgenError
from fewgen.heads.attention import AttentionHead
from fewgen.heads.knn import KNNHead
from fewgen.heads.linear import LinearHead
from fewgen.heads.logreg import LogRegHead
from fewgen.heads.mlp import MLPHead
from fewgen.heads.pool import PoolMemory
from fewgen.heads.propagate import PropagateHead
from fewgen.heads.selftrain import SelfTrainHead
from fewgen.heads.umap import UMAPHead
from fewgen.results import SIMPLEST_FIRST, simplicity  # the tie-break order, kept with the rows it ranks

HEADS = {"linear": LinearHead, "mlp": MLPHead, "logreg": LogRegHead, "knn": KNNHead, "attention": AttentionHead,
         "umap": UMAPHead, "selftrain": SelfTrainHead, "propagate": PropagateHead}


def uses_pool(name: str) -> bool:
    """Whether head ``name`` learns from the unlabeled pool (its ``fit`` wants the pool's rows with ``y == -1``)."""
    return getattr(HEADS[name], "uses_pool", False)


def make_head(name: str, random_state: int = 0, memory: PoolMemory | None = None, layout=None, **params):
    """A fresh head by name, seeded with ``random_state``, with optional hyperparameters; ``memory`` (the cache of
    label-free steps) goes to the heads that learn from the pool, and ``layout`` (the features' token layout,
    :meth:`fewgen.backbones.base.Backbone.token_layout`) to the heads that read tokens; the others ignore them."""
    if name not in HEADS:
        raise FewgenError(f"unknown head '{name}'; use one of: {', '.join(HEADS)}")
    if memory is not None and uses_pool(name):
        params["memory"] = memory
    if layout is not None and getattr(HEADS[name], "needs_layout", False):
        params["layout"] = [list(part) for part in layout]
    return HEADS[name](random_state=random_state, **params)


def check_tokens(heads, backbone: str, layouts: list, flag: str = "--heads") -> None:
    """Refuse a head that reads spatial tokens (``needs_layout``: attention) when a spec's features have none
    (``layouts``: :meth:`~fewgen.backbones.base.Backbone.token_layout` of each spec, None without tokens): it would
    read the whole vector as one token, a model of nothing it was made for."""
    for name in heads:
        if getattr(HEADS.get(name), "needs_layout", False) and any(layout is None for layout in layouts):
            raise FewgenError(f"{flag} {name} reads spatial tokens, and the {backbone} backbone's features have none (the "
                              f"ddpm's blocks do); drop {name} from {flag}")


__all__ = ["HEADS", "check_tokens", "SIMPLEST_FIRST", "simplicity", "AttentionHead", "KNNHead", "LinearHead", "LogRegHead", "MLPHead", "PoolMemory", "PropagateHead", "SelfTrainHead",
           "UMAPHead", "make_head", "uses_pool"]
