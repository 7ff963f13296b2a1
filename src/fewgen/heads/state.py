"""The pieces a head's ``save_state`` / ``load_state`` are made of: a scaler and a scikit-learn logistic
regression as plain arrays and JSON, and back, rebuilt from the attributes their ``predict`` reads (``mean_``,
``scale_``, ``coef_``, ``intercept_``), so that no pickle is ever needed."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from fewgen.heads.scaling import GlobalScaler


class SavesState:
    """What every head declares about saving. heads/export.py writes the common part (classes, settings, the
    scaler); a head that can be saved sets ``saves = True`` and implements ``save_state`` / ``load_state``, and
    ``exportable`` refuses any other."""

    saves: ClassVar[bool] = False

    @classmethod
    def can_save(cls, params: dict) -> bool:
        """Whether a head of this class with settings ``params`` can be saved to a model folder."""
        return cls.saves

    def save_state(self, arrays: dict, meta: dict) -> None:
        """Put this head's own fitted state into ``arrays`` (for safetensors) and ``meta`` (for JSON)."""
        raise NotImplementedError

    def load_state(self, meta: dict, arrays: dict) -> None:
        """Set the fitted state :meth:`save_state` wrote (``classes_``, ``n_features_in_`` and the scaler are set)."""
        raise NotImplementedError


def scaler_state(scaler, prefix: str, arrays: dict) -> dict:
    """Put a fitted scaler's ``mean``/``scale`` into ``arrays`` under ``prefix``; returns its JSON part."""
    arrays[f"{prefix}mean"] = np.asarray(scaler.mean_, dtype=np.float64)
    arrays[f"{prefix}scale"] = np.atleast_1d(np.asarray(scaler.scale_, dtype=np.float64))
    return {"kind": "global" if isinstance(scaler, GlobalScaler) else "feature"}


def scaler_from(meta: dict, prefix: str, arrays: dict):
    """The scaler :func:`scaler_state` described."""
    if meta["kind"] == "global":
        scaler = GlobalScaler()
        scaler.mean_, scaler.scale_ = arrays[f"{prefix}mean"], float(arrays[f"{prefix}scale"][0])
        return scaler
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = arrays[f"{prefix}mean"], arrays[f"{prefix}scale"]
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = len(scaler.mean_)
    return scaler


def logreg_state(model: LogisticRegression | None, prefix: str, arrays: dict) -> dict | None:
    """Put a fitted logistic regression (or None: one class) into ``arrays``; returns its JSON part."""
    if model is None:
        return None
    arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"] = model.coef_, model.intercept_
    arrays[f"{prefix}classes"] = np.asarray(model.classes_, dtype=np.int64)
    return {"params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))}}


def logreg_from(meta: dict | None, prefix: str, arrays: dict) -> LogisticRegression | None:
    """The logistic regression :func:`logreg_state` described."""
    if meta is None:
        return None
    model = LogisticRegression(**meta["params"])
    model.coef_, model.intercept_ = arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"]
    model.classes_ = arrays[f"{prefix}classes"]
    model.n_features_in_ = model.coef_.shape[1]
    return model
