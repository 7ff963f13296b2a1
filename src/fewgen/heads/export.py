"""A fitted head as plain arrays and JSON, and back: no pickle.

:func:`head_state` splits a fitted head into ``(arrays, meta)``: the arrays go to a
safetensors file, the rest (its name, hyperparameters, fitted scalars) to JSON.
:func:`head_from_state` rebuilds a head whose ``predict_proba`` is bit-identical to the
original's. This module writes what every head shares (its name, settings, classes and scaler); each
head class saves and loads its own fitted state (``save_state`` / ``load_state``, built from
:mod:`fewgen.heads.state`). A head class that does not declare ``saves = True`` cannot be
saved: :func:`exportable` fails closed.

Heads working in a UMAP embedding (``umap``, and ``selftrain``/``propagate`` with
``space='umap'``) cannot be exported: umap-learn's ``transform`` of new images depends on
the other images in the same call, and the fitted model holds numba and pynndescent
objects that only pickle can store.
"""

from __future__ import annotations

import numpy as np

from fewgen.errors import FewgenError
from fewgen.heads import HEADS, make_head
from fewgen.heads.pool import PoolMemory, PoolSpace
from fewgen.heads.semi import PoolHead
from fewgen.heads.state import scaler_from, scaler_state

NOT_EXPORTABLE = "it works in a UMAP embedding, whose transform of new images umap-learn cannot store without pickle"
NO_STATE = "its class does not say how to save itself (saves = True, save_state, load_state)"


def exportable(name: str, params: dict) -> bool:
    """Whether head ``name`` with ``params`` can be saved to a model folder (unknown or undeclared heads: no)."""
    return name in HEADS and HEADS[name].can_save(params)


def why_not_exportable(name: str, params: dict) -> str:
    """Why :func:`exportable` says no."""
    if name.startswith("student-") and name.endswith("+teacher"):
        return ("a student averaged with its teacher is saved only when asked: 'fewgen fit --student NAME "
                "--with-teacher'")
    if name.startswith("student-"):
        return "a student is saved by 'fewgen fit --student NAME', which trains it on the chosen head's teaching"
    if name not in HEADS:
        return f"no head is registered as '{name}' (heads: {', '.join(HEADS)})"
    uses_umap = name == "umap" or params.get("space", "features") == "umap"
    return NOT_EXPORTABLE if uses_umap or HEADS[name].saves else NO_STATE


def head_state(name: str, head) -> tuple[dict[str, np.ndarray], dict]:
    """A fitted head -> ``(arrays, meta)``: arrays for safetensors, meta for JSON."""
    params = {k: v for k, v in head.get_params().items() if k != "memory"}
    if not exportable(name, params):
        raise FewgenError(f"the '{name}' head cannot be saved to a model folder: {why_not_exportable(name, params)}; "
                          "choose another head with --head (logreg, selftrain or propagate also use the pool)")
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(head.classes_)}
    meta: dict = {"name": name, "params": params, "n_features_in": int(head.n_features_in_)}
    scaler = head.space_.scaler_ if isinstance(head, PoolHead) else head.scaler_
    meta["scaler"] = scaler_state(scaler, "scaler.", arrays)
    head.save_state(arrays, meta)
    return arrays, meta


def head_from_state(arrays: dict[str, np.ndarray], meta: dict):
    """The head :func:`head_state` described, fitted, ready to ``predict``."""
    head = make_head(meta["name"], **dict(meta["params"]))
    head.classes_, head.n_features_in_ = arrays["classes"], meta["n_features_in"]
    scaler = scaler_from(meta["scaler"], "scaler.", arrays)
    if isinstance(head, PoolHead):
        head.space_ = PoolSpace("features", head.scaling, PoolMemory())
        head.space_.scaler_ = scaler
    else:
        head.scaler_ = scaler
    head.load_state(meta, arrays)
    return head
