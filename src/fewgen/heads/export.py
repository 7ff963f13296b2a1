"""A fitted head as plain arrays and JSON, and back: no pickle.

:func:`head_state` splits a fitted head into ``(arrays, meta)``: the arrays go to a
safetensors file, the rest (its name, hyperparameters, fitted scalars) to JSON.
:func:`head_from_state` rebuilds a head whose ``predict_proba`` is bit-identical to the
original's. Each scikit-learn part is rebuilt from the attributes its ``predict`` reads
(``coef_``, ``intercept_``, a scaler's ``mean_`` and ``scale_``); a k-NN index is refitted on
its stored points (exact search, so the same neighbours); a torch network from its
``state_dict``.

Heads working in a UMAP embedding (``umap``, and ``selftrain``/``propagate`` with
``space='umap'``) cannot be exported: umap-learn's ``transform`` of new images depends on
the other images in the same call, and the fitted model holds numba and pynndescent
objects that only pickle can store.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.preprocessing import StandardScaler

from fewgen.errors import FewgenError
from fewgen.heads import HEADS, make_head
from fewgen.heads.base import StandardisedHead, TorchHead
from fewgen.heads.scaling import GlobalScaler
from fewgen.heads.pool import PoolMemory, PoolSpace
from fewgen.heads.semi import PoolHead

NOT_EXPORTABLE = "it works in a UMAP embedding, whose transform of new images umap-learn cannot store without pickle"


def exportable(name: str, params: dict) -> bool:
    """Whether head ``name`` with ``params`` can be saved to a model folder."""
    return name in HEADS and name != "umap" and params.get("space", "features") != "umap"


def _scaler_state(scaler, prefix: str, arrays: dict) -> dict:
    arrays[f"{prefix}mean"] = np.asarray(scaler.mean_, dtype=np.float64)
    arrays[f"{prefix}scale"] = np.atleast_1d(np.asarray(scaler.scale_, dtype=np.float64))
    return {"kind": "global" if isinstance(scaler, GlobalScaler) else "feature"}


def _scaler_from(meta: dict, prefix: str, arrays: dict):
    if meta["kind"] == "global":
        scaler = GlobalScaler()
        scaler.mean_, scaler.scale_ = arrays[f"{prefix}mean"], float(arrays[f"{prefix}scale"][0])
        return scaler
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = arrays[f"{prefix}mean"], arrays[f"{prefix}scale"]
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = len(scaler.mean_)
    return scaler


def _logreg_state(model: LogisticRegression | None, prefix: str, arrays: dict) -> dict | None:
    if model is None:
        return None
    arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"] = model.coef_, model.intercept_
    arrays[f"{prefix}classes"] = np.asarray(model.classes_, dtype=np.int64)
    return {"params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}}


def _logreg_from(meta: dict | None, prefix: str, arrays: dict) -> LogisticRegression | None:
    if meta is None:
        return None
    model = LogisticRegression(**meta["params"])
    model.coef_, model.intercept_ = arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"]
    model.classes_ = arrays[f"{prefix}classes"]
    model.n_features_in_ = model.coef_.shape[1]
    return model


def head_state(name: str, head) -> tuple[dict[str, np.ndarray], dict]:
    """A fitted head -> ``(arrays, meta)``: arrays for safetensors, meta for JSON."""
    params = {k: v for k, v in head.get_params().items() if k != "memory"}
    if not exportable(name, params):
        raise FewgenError(f"the '{name}' head cannot be saved to a model folder: {NOT_EXPORTABLE}; "
                          "choose another head with --head (logreg, selftrain or propagate also use the pool)")
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(head.classes_)}
    meta: dict = {"name": name, "params": params, "n_features_in": int(head.n_features_in_)}
    if isinstance(head, StandardisedHead):
        meta["scaler"] = _scaler_state(head.scaler_, "scaler.", arrays)
        if isinstance(head, TorchHead):
            arrays.update({f"module.{k}": v.numpy() for k, v in head.module_.state_dict().items()})
        elif name == "knn":
            arrays["knn.points"], arrays["knn.targets"] = head.model_._fit_X, head.model_._y
            meta["n_classes"] = int(head.n_classes_)
        else:  # logreg
            meta["single_class"] = bool(head.single_class_)
            meta["model"] = _logreg_state(getattr(head, "model_", None), "model.", arrays)
    elif isinstance(head, PoolHead):
        meta["scaler"] = _scaler_state(head.space_.scaler_, "scaler.", arrays)
        if name == "selftrain":
            meta["model"] = _logreg_state(head.model_, "model.", arrays)
        else:  # propagate
            arrays["pool.points"] = np.asarray(head.index_._fit_X, dtype=np.float64)
            arrays["pool.label_distributions"] = head.label_distributions_
            meta["model"] = _logreg_state(head.fallback_, "model.", arrays)
    return arrays, meta


def head_from_state(arrays: dict[str, np.ndarray], meta: dict):
    """The head :func:`head_state` described, fitted, ready to ``predict``."""
    name, params = meta["name"], dict(meta["params"])
    head = make_head(name, **params)
    head.classes_, head.n_features_in_ = arrays["classes"], meta["n_features_in"]
    scaler = _scaler_from(meta["scaler"], "scaler.", arrays)
    if isinstance(head, StandardisedHead):
        head.scaler_ = scaler
        if isinstance(head, TorchHead):
            module = head._build(meta["n_features_in"], len(head.classes_)).double()
            module.load_state_dict({k[len("module."):]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                                    if k.startswith("module.")})
            head.module_ = module.eval()
        elif name == "knn":
            points, targets = arrays["knn.points"], arrays["knn.targets"]
            head.model_ = KNeighborsClassifier(n_neighbors=min(head.n_neighbors, len(points)), metric=head.metric).fit(points, targets)
            head.n_classes_ = meta["n_classes"]
        else:
            head.single_class_ = meta["single_class"]
            head.model_ = _logreg_from(meta["model"], "model.", arrays)
        return head
    head.space_ = PoolSpace("features", head.scaling, PoolMemory())
    head.space_.scaler_ = scaler
    if name == "selftrain":
        head.model_ = _logreg_from(meta["model"], "model.", arrays)
    else:
        points = arrays["pool.points"]
        head.index_ = NearestNeighbors().fit(points)
        head.label_distributions_ = arrays["pool.label_distributions"]
        head.fallback_ = _logreg_from(meta["model"], "model.", arrays)
        head.pool_key_ = "deployed"
    return head
