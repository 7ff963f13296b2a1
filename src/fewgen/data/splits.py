"""Seeded few-shot splits of a source's train split.

- The **unlabeled pool** is the train split without labels, minus the validation
  draw: validation images stay out-of-sample for heads that learn from the pool,
  exactly like test images (otherwise selection would favour the heads that saw them).
- The **validation draw** takes ``val_per_class`` labeled images per class with
  a fixed seed; it is what any tuning reads.
- A **labeled draw** takes ``shots`` images per class from the labeled train
  images that are *not* in the validation draw, so every labeled draw is
  disjoint from validation. Draws are nested: for one seed, the k=1 draw is
  inside the k=2 draw, and so on (a fixed per-class permutation, truncated).
- The **test split** is the source's official one and is never drawn from.
"""

from __future__ import annotations

import numpy as np
import torch

from fewgen.data.sources import UNLABELED
from fewgen.errors import FewgenError

VALIDATION_SEED = 12345


def _per_class_permutations(labels: np.ndarray, candidates: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    """For each class, the candidate indices of that class in a seeded random order."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels[labels != UNLABELED])
    return {int(c): rng.permutation(candidates[labels[candidates] == c]) for c in classes}


def _as_numpy(labels) -> np.ndarray:
    return labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)


def validation_draw(labels, val_per_class: int, class_names: list[str] | None = None) -> np.ndarray:
    """Indices ``[val_per_class * C]`` of the validation draw (fixed seed), sorted."""
    labels = _as_numpy(labels)
    if val_per_class <= 0:
        return np.empty(0, dtype=np.int64)
    perms = _per_class_permutations(labels, np.arange(len(labels)), VALIDATION_SEED)
    for c, idx in perms.items():
        if len(idx) < val_per_class:
            name = class_names[c] if class_names else str(c)
            raise FewgenError(
                f"class '{name}' has only {len(idx)} labeled training images, fewer than --val-per-class {val_per_class}; lower it"
            )
    return np.sort(np.concatenate([idx[:val_per_class] for idx in perms.values()]))


def labeled_draw(
    labels, shots: int, seed: int, exclude: np.ndarray | None = None, class_names: list[str] | None = None
) -> np.ndarray:
    """Indices ``[shots * C]`` of ``shots`` labeled images per class, seeded, avoiding ``exclude``.

    Raises :class:`FewgenError` naming the class when a class has fewer than
    ``shots`` images available.
    """
    if shots < 1:
        raise FewgenError(f"--shots must be at least 1, got {shots}")
    labels = _as_numpy(labels)
    candidates = np.setdiff1d(np.arange(len(labels)), exclude if exclude is not None else [])
    perms = _per_class_permutations(labels, candidates, seed)
    for c, idx in perms.items():
        if len(idx) < shots:
            name = class_names[c] if class_names else str(c)
            held = "" if exclude is None or len(exclude) == 0 else " (outside the validation draw)"
            raise FewgenError(
                f"class '{name}' has only {len(idx)} labeled training images{held}, fewer than --shots {shots}; use --shots {len(idx)} or fewer"
            )
    return np.sort(np.concatenate([idx[:shots] for idx in perms.values()]))


def unlabeled_pool(labels, exclude: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the unlabeled pool: every train image not in ``exclude`` (the validation draw)."""
    return np.setdiff1d(np.arange(len(_as_numpy(labels))), exclude if exclude is not None else [])


def pool_targets(pool: np.ndarray, idx: np.ndarray, labels, n_extra: int = 0) -> np.ndarray:
    """Targets ``[len(pool) + n_extra]`` for a head fitted on the pool (scikit-learn's semi-supervised
    convention): -1 everywhere but the labeled draw ``idx`` (train indices, all inside the sorted ``pool``),
    which keeps its ``labels``; ``n_extra`` unlabeled rows follow (the test split, in transductive mode)."""
    y = np.full(len(pool) + n_extra, UNLABELED, dtype=np.int64)
    y[np.searchsorted(pool, idx)] = _as_numpy(labels)[idx]
    return y
