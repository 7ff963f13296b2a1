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

With few labeled images (a user's folder: 5 per class), a fixed validation draw of 16 per
class cannot be held out. :meth:`Draws.make` then **cross-validates**: the labeled images are
split into stratified folds (fixed seed), and the draw of seed ``s`` is made outside fold
``s mod folds``, which is its validation set (and is left out of its pool). The mean
validation accuracy over seeds ``0..folds-1`` is then a k-fold cross-validation over every
labeled image. A draw equal to an earlier seed's (same images, same validation) is a
**repeat**: it is left out and named, so no mean counts one draw twice and no "± 0.0" is
reported for copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np
import torch

from fewgen.data.sources import UNLABELED

if TYPE_CHECKING:
    from fewgen.data.sources import Source
from fewgen.errors import FewgenError

VALIDATION_SEED = 12345
FIXED_VAL_PER_CLASS = 16  # the fixed validation draw's size, when every class has room for it and the largest draw
MAX_FOLDS = 5  # cross-validation's folds, fewer when a class has fewer labeled images


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


def validation_folds(labels, folds: int, class_names: list[str] | None = None) -> list[np.ndarray]:
    """``folds`` disjoint sorted index arrays that together hold every labeled image, each class spread evenly over
    them (a seeded order, then image i of a class to fold ``i mod folds``): stratified k-fold validation sets."""
    labels = _as_numpy(labels)
    perms = _per_class_permutations(labels, np.arange(len(labels)), VALIDATION_SEED)
    for c, idx in perms.items():
        if len(idx) < 2:
            name = class_names[c] if class_names else str(c)
            raise FewgenError(f"class '{name}' has only {len(idx)} labeled training image; validation needs at least 2 "
                              "labeled images per class (one to fit on, one to check); add labeled images to it")
    return [np.sort(np.concatenate([idx[f::folds] for idx in perms.values()])) for f in range(folds)]


@dataclass
class Draws:
    """Every distinct labeled draw, keyed by ``(shots, seed)``, and the validation set each is scored on.

    ``folds`` holds the validation sets: one fixed draw, or the cross-validation folds; draw ``key`` is scored on
    ``folds[fold_of[key]]``. ``repeats`` maps each draw left out, because it equals an earlier seed's draw and
    validation, to that seed."""

    labeled: dict[tuple[int, int], np.ndarray]
    folds: list[np.ndarray]
    fold_of: dict[tuple[int, int], int]
    repeats: dict[tuple[int, int], int]
    protocol: str  # "fixed" | "cv"
    n_train: int = 0  # the train split's size: the pools are its indices outside each fold
    selection: str | None = None  # who chose the labeled images (fewgen.chosen_draws); None: k random per class
    rounds: tuple[int, ...] = ()  # a FIRST+LATER selection's budgets, ascending: the draw at B grew from those below B

    @classmethod
    def make(cls, source: "Source", shots: Iterable[int], seeds: int | Iterable[int], val_per_class: int | str = "auto") -> "Draws":
        """The draws of every command (evaluate, select, fit, augment) on ``source``'s train split: ``shots`` x
        seeds ``0..seeds-1`` (or the seeds listed), each with its validation set (:func:`make_draws`). Everything is
        drawn up front, so a bad ``--shots`` fails before any work."""
        return make_draws(source.require_labels(), tuple(shots), seeds, val_per_class, source.class_names)

    def rounds_of(self, shots: int) -> list[int]:
        """The budgets draw ``shots`` was grown through, ``shots`` last (its round is their count); ``[]`` unless a
        FIRST+LATER selection made the draws. Part of a row's identity: B = 40 grown from 10, 20 is not B = 40 grown
        from 10."""
        return [budget for budget in self.rounds if budget <= shots]

    def pool_of(self, key: tuple[int, int]) -> np.ndarray:
        """Sorted train indices of draw ``key``'s unlabeled pool: the train split minus its validation set."""
        return self.pools[self.fold_of[key]]

    @property
    def pools(self) -> list[np.ndarray]:
        """Each fold's pool, ``pools[f]``: the train split minus ``folds[f]`` (computed once)."""
        if "_pools" not in self.__dict__:
            self.__dict__["_pools"] = [np.setdiff1d(np.arange(self.n_train), fold) for fold in self.folds]
        return self.__dict__["_pools"]

    @property
    def union(self) -> np.ndarray:
        """Sorted train indices of every labeled draw."""
        return np.unique(np.concatenate(list(self.labeled.values())))

    @property
    def val(self) -> np.ndarray:
        """The one validation set of a fixed protocol."""
        if len(self.folds) != 1:
            raise FewgenError("these draws are cross-validated: each has its own validation fold (Draws.val_of)")
        return self.folds[0]

    def val_of(self, key: tuple[int, int]) -> np.ndarray:
        """Validation train indices of draw ``key``."""
        return self.folds[self.fold_of[key]]

    def by_fold(self) -> list[tuple[tuple[int, int], np.ndarray]]:
        """The draws ordered by validation fold (then shots, seed): each fold's pool is built once."""
        return sorted(self.labeled.items(), key=lambda item: (self.fold_of[item[0]], item[0]))

    def describe(self) -> str:
        """What the validation is, and which draws repeat: a line or two for the user."""
        n = sum(len(f) for f in self.folds)
        if self.protocol == "fixed":
            text = f"validation: a fixed draw of {n} labeled images, held out of every labeled draw and of the pool"
        else:
            text = (f"validation: {len(self.folds)}-fold cross-validation over the {n} labeled images (too few for a fixed "
                    f"draw of {FIXED_VAL_PER_CLASS} per class beside the largest --shots): seed s is drawn outside fold "
                    f"s mod {len(self.folds)} and scored on it")
        for shots in sorted({k for k, _ in self.repeats}):
            seeds = [f"{seed} (= seed {first})" for (k, seed), first in sorted(self.repeats.items()) if k == shots]
            text += (f"\nk={shots}: seeds {', '.join(seeds)} would repeat an earlier draw with the same validation; "
                     "they are left out, so the mean and CI count each distinct draw once")
        return text


def make_draws(labels, shots: tuple[int, ...], seeds: int | Iterable[int], val_per_class: int | str = "auto",
               class_names: list[str] | None = None) -> Draws:
    """Every draw of ``shots`` x seeds ``0..seeds-1`` (or the seeds listed) and its validation set.

    ``val_per_class``: an int N is a fixed validation draw of N per class (0: none); ``"cv"`` cross-validates;
    ``"auto"`` is a fixed draw of :data:`FIXED_VAL_PER_CLASS` when every class has at least that many labeled images
    plus the largest shots, else cross-validation with ``min(MAX_FOLDS, smallest class)`` folds."""
    labels = _as_numpy(labels)
    counts = np.bincount(labels[labels != UNLABELED])
    counts = counts[counts > 0]
    if val_per_class == "auto":
        val_per_class = FIXED_VAL_PER_CLASS if counts.min() >= FIXED_VAL_PER_CLASS + max(shots) else "cv"
    if val_per_class == "cv":
        folds = validation_folds(labels, min(MAX_FOLDS, int(counts.min())), class_names)
    elif isinstance(val_per_class, int) and not isinstance(val_per_class, bool) and val_per_class >= 0:
        folds = [validation_draw(labels, val_per_class, class_names)]
    else:
        raise FewgenError(f"--val-per-class must be auto, cv or a whole number of images per class, got '{val_per_class}'")
    labeled, fold_of, repeats = {}, {}, {}
    for k in shots:
        seen: dict[tuple, int] = {}
        for seed in range(seeds) if isinstance(seeds, int) else seeds:
            fold = seed % len(folds)
            draw = labeled_draw(labels, k, seed, exclude=folds[fold], class_names=class_names)
            first = seen.setdefault((fold, draw.tobytes()), seed)
            if first != seed:
                repeats[(k, seed)] = first
            else:
                labeled[(k, seed)], fold_of[(k, seed)] = draw, fold
    return Draws(labeled, folds, fold_of, repeats, "fixed" if val_per_class != "cv" else "cv", len(labels))
