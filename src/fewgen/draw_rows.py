"""Rows of what was fitted on a source's seeded draws: scored on the test split and on the draw's validation set,
as :func:`fewgen.results.make_row` builds them. What every command that trains on the draws shares (evaluate's
:class:`~fewgen.evaluate.Evaluation`, and augment)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from fewgen.data.files import ImageFiles
from fewgen.data.sources import Source
from fewgen.data.splits import Draws
from fewgen.results import make_row


def data_id(source: Source) -> str | None:
    """For a folder: a digest of its train files (path, size, mtime, in order) and their labels, which decide every
    draw and pool; None for a built-in dataset, whose train split is fixed. Rows carry it, so that after images are
    labeled (files moved, ``--labels``) a rerun computes new rows instead of taking the old ones for done."""
    images = source.train.images
    if not isinstance(images, ImageFiles):
        return None
    files = images.fingerprint(np.arange(len(images)))
    return hashlib.sha256(files.encode() + source.train.labels.numpy().astype(np.int64).tobytes()).hexdigest()[:16]


class DrawRows:
    """Scores what was fitted on a source's draws, on the test split and the draw's validation set, as result rows;
    what every command that trains on the draws shares (:class:`Evaluation`, and augment)."""

    def __init__(self, run_dir: Path, source: Source, draws: Draws, eval_id: str | None = None):
        self.run_dir = Path(run_dir)
        self.source = source
        self.test = source.require_test()
        self.draws = draws
        self.eval_id = eval_id or time.strftime("%Y%m%d-%H%M%S")
        self.y_train = source.train.labels.numpy()
        self.y_test = self.test.labels.numpy()
        self.data_id = data_id(source)

    def _row(self, backbone: str, checkpoint: str, spec: dict, head: str, shots: int, seed: int,
             pred: np.ndarray, val_pred: np.ndarray, fit_s: float, pred_s: float, head_params: dict | None = None,
             **fields) -> dict:
        """The row of one fit on draw ``(shots, seed)``, scored from its test and validation predictions; ``fields``
        add to or override the defaults (:func:`fewgen.results.make_row` knows every field)."""
        val = self.draws.val_of((shots, seed))
        return make_row(**{
            **self.probe(backbone, checkpoint, spec, head, (shots, seed), head_params=head_params or {}),
            "accuracy": float(accuracy_score(self.y_test, pred)),
            "macro_f1": float(f1_score(self.y_test, pred, average="macro")),
            "n_test": int(len(self.y_test)),
            "val_accuracy": float(accuracy_score(self.y_train[val], val_pred)) if len(val_pred) else None,
            "val_fold": self.draws.fold_of[(shots, seed)], "fit_seconds": fit_s, "predict_seconds": pred_s,
            "classes_seen": int(len(np.unique(self.y_train[self.draws.labeled[(shots, seed)]]))),
            "transductive": False, "eval_id": self.eval_id, **fields})

    def classifier_row(self, method: str, spec: dict, model: Any, idx: np.ndarray, shots: int, seed: int,
                       pool: np.ndarray | None = None, backbone: str | None = None, checkpoint: str = "-",
                       **fields) -> dict:
        """Fit a classifier trained end to end (a baseline's model, e.g. ResNet-18, or a student) on draw ``idx``
        (and, for a semi-supervised one, the pool's train indices ``pool``); its row on test and validation, whose
        backbone is ``method`` unless a student's ``backbone`` is given (``fields`` add to it, e.g. augment's
        ``glo_seconds``)."""
        images = self.source.train.images
        t0 = time.perf_counter()
        model.fit(images[torch.as_tensor(idx)], self.y_train[idx], None if pool is None else self.source.train.subset(pool).images)
        t1 = time.perf_counter()
        pred = model.predict(self.test.images)
        t2 = time.perf_counter()
        val = self.draws.val_of((shots, seed))
        val_pred = model.predict(images[torch.as_tensor(val)]) if len(val) else np.empty(0)
        return self._row(backbone or method, checkpoint, spec, method, shots, seed, pred, val_pred, t1 - t0, t2 - t1,
                         **({"data": "pool"} if pool is not None else {}), **fields)

    def probe(self, backbone: str, checkpoint: str, spec: dict, head: str, draw: tuple[int, int], **fields) -> dict:
        """The fields that identify the row of ``head`` on ``draw`` (:func:`fewgen.resume.draw_key`), known before it is
        computed: ``_row`` starts from them, so a rerun's lookup and the row written agree."""
        return {"dataset": self.source.name, "backbone": backbone, "checkpoint": checkpoint, "spec": spec, "head": head,
                "head_params": {}, "data": "labeled", "validation": self.draws.protocol,
                "n_val": int(len(self.draws.val_of(draw))), "shots": draw[0], "seed": draw[1],
                **({"selection": self.draws.selection} if self.draws.selection else {}),
                **({"rounds": self.draws.rounds_of(draw[0])} if self.draws.rounds else {}),
                **({"data_id": self.data_id} if self.data_id else {}), **fields}
