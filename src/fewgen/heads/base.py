"""Shared scikit-learn plumbing for heads: input validation, ``classes_``, and
standardisation fitted on the labeled draw only.

Subclasses implement ``_fit_scaled(Z, y_idx, n_classes)`` and
``_proba_scaled(Z) -> [N, n_classes]`` on standardised features ``Z``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fewgen.heads.pool import labeled_mask
from fewgen.heads.scaling import make_scaler
from fewgen.heads.state import SavesState


class StandardisedHead(SavesState, ClassifierMixin, BaseEstimator):
    """Base for heads: ``fit(X [N, D], y [N])`` standardises X (``scaling``), then fits on it.

    The scaler is fitted on the labeled draw only. Rows with ``y == -1`` (unlabeled, in
    scikit-learn's semi-supervised convention) are ignored.
    """

    uses_pool = False

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        labeled = labeled_mask(y)
        X, y = X[labeled], y[labeled]
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self.scaler_ = make_scaler(self.scaling).fit(X)
        self._fit_scaled(self.scaler_.transform(X), y_idx, len(self.classes_))
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._proba_scaled(self.scaler_.transform(X))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _fit_scaled(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        raise NotImplementedError

    def _proba_scaled(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TorchHead(StandardisedHead):
    """A small torch network trained full-batch with Adam on cross-entropy, in float64.

    Float64 and a seeded, forked RNG make ``fit`` reproducible for a given
    ``random_state`` and predictions independent of batch size.
    """

    def _build(self, n_features: int, n_classes: int) -> torch.nn.Module:
        raise NotImplementedError

    def _fit_scaled(self, Z: np.ndarray, y_idx: np.ndarray, n_classes: int) -> None:
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        inputs = torch.as_tensor(Z, dtype=torch.float64)
        targets = torch.as_tensor(y_idx, dtype=torch.long)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._build(Z.shape[1], n_classes).double()
            optimizer = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(self.max_iter):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(inputs), targets)
                loss.backward()
                optimizer.step()
        self.module_ = net.eval()
        self.n_iter_ = self.max_iter
        self.loss_ = float(loss.detach())

    def _proba_scaled(self, Z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = self.module_(torch.as_tensor(Z, dtype=torch.float64))
        return torch.softmax(logits, dim=1).numpy()

    saves: ClassVar[bool] = True

    def save_state(self, arrays: dict, meta: dict) -> None:
        arrays.update({f"module.{k}": v.numpy() for k, v in self.module_.state_dict().items()})

    def load_state(self, meta: dict, arrays: dict) -> None:
        module = self._build(meta["n_features_in"], len(self.classes_)).double()
        module.load_state_dict({k[len("module."):]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                                if k.startswith("module.")})
        self.module_ = module.eval()
