"""How heads standardise features: per feature (scikit-learn's ``StandardScaler``) or with one global scale."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler

SCALINGS = ("feature", "global")


class GlobalScaler(TransformerMixin, BaseEstimator):
    """Centre each feature, then divide every feature by one number: the root of the mean variance.

    With a handful of labeled images, per-feature variances of raw pixels are
    estimated from a few values and blow up near-constant pixels; one common
    scale keeps their relative sizes (chosen on the validation draw, see
    docs/DECISIONS.md).
    """

    def fit(self, X, y=None):
        self.mean_ = X.mean(axis=0)
        scale = float(np.sqrt(X.var(axis=0).mean()))
        self.scale_ = scale if scale > 0 else 1.0
        return self

    def transform(self, X):
        return (X - self.mean_) / self.scale_


def make_scaler(scaling: str):
    """``feature``: per-feature standardisation (StandardScaler); ``global``: :class:`GlobalScaler`."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    return StandardScaler() if scaling == "feature" else GlobalScaler()
