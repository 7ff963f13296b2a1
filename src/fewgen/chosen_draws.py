"""The benchmark protocol for chosen labels: draws of B labels in all, made by a selection, beside today's k per class.

An oracle reveals the dataset's labels of the chosen images, and everything downstream (heads, pool heads, students,
baselines) runs on them unchanged: a :class:`~fewgen.data.splits.Draws` keyed by ``(B, seed)``, whose rows say
``selection`` and count ``shots`` as labels in all.

Selections: ``random`` (B images drawn uniformly from the pool: the honest no-knowledge baseline), ``balanced`` (B/C
random images per class: today's draw of k = B/C, which needs the labels to make, an oracle), and the strategies of
:mod:`fewgen.choosing` (``typiclust``, ``probcover``) chosen cold in one go. A ``first+later`` selection (for example
``typiclust+clue``) simulates rounds: the smallest budget chosen cold by ``first``, then each next budget grown from the
last by ``later``, which reads the labels revealed so far; its rows record ``rounds``, the budgets a draw grew through.

The validation images (the fixed draw of :data:`~fewgen.data.splits.FIXED_VAL_PER_CLASS` per class, or ``N``) are
left out of the pool before anything is chosen, so they can never be chosen; a strategy reads the pool's features only,
never a test image.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from fewgen.choosing import STRATEGIES, UNLABELED, choose, embed
from fewgen.data.splits import FIXED_VAL_PER_CLASS, Draws, labeled_draw, validation_draw
from fewgen.errors import FewgenError

ORACLE = ("random", "balanced")  # selections that read no features


def check_selection(selection: str) -> None:
    """One sentence for an unknown selection (``random``, ``balanced``, a strategy, or ``first+later``)."""
    known = (*ORACLE, *(name for name in STRATEGIES if name != "random"))
    parts = selection.split("+")
    if len(parts) > 2 or any(part not in known for part in parts) or parts[0] == "balanced" and len(parts) > 1:
        raise FewgenError(f"unknown --selection '{selection}'; use random, balanced, one of {', '.join(known[2:])}, or "
                          "FIRST+LATER for rounds (for example typiclust+clue)")


def needs_features(selection: str) -> bool:
    return selection not in ORACLE


def chosen_draws(labels: np.ndarray, class_names: list[str], budgets: tuple[int, ...], seeds: int, selection: str,
                 features_of: Callable[[np.ndarray], np.ndarray] | None, val_per_class: int | str = "auto") -> Draws:
    """Every draw of ``budgets`` x seeds ``0..seeds-1`` made by ``selection`` on a fully labeled train split
    (``labels int64 [N]``), with one fixed validation draw held out of every pool. ``features_of(pool)`` gives the
    pool's features ``[P, D]`` (read once, only by a selection that needs them)."""
    check_selection(selection)
    if (labels == UNLABELED).any():
        raise FewgenError("--budgets needs a dataset whose train images are all labeled (an oracle reveals the labels "
                          "of the chosen images); on your own folder, 'fewgen suggest' chooses and you label")
    if val_per_class == "cv":
        raise FewgenError("--budgets scores every selection on one fixed validation draw; give --val-per-class N or auto")
    val = validation_draw(labels, FIXED_VAL_PER_CLASS if val_per_class == "auto" else int(val_per_class), class_names)
    pool = np.setdiff1d(np.arange(len(labels)), val)
    for budget in budgets:
        if not 1 <= budget <= len(pool):
            raise FewgenError(f"--budgets must be between 1 and the {len(pool)} images of the pool, got {budget}")
        if selection == "balanced" and budget % len(class_names):
            raise FewgenError(f"--selection balanced draws B/C images per class: budget {budget} is not a multiple of "
                              f"the {len(class_names)} classes; give multiples of {len(class_names)}")
    features = features_of(pool) if needs_features(selection) else None
    labeled = {}
    for seed in range(seeds):
        space = embed(features, seed) if features is not None else None
        for budget, idx in zip(sorted(budgets), _draws(labels, class_names, pool, val, sorted(budgets), selection,
                                                       seed, space)):
            labeled[(budget, seed)] = np.sort(idx)
    rounds = tuple(sorted(budgets)) if "+" in selection else ()
    return Draws(labeled, [val], {key: 0 for key in labeled}, {}, "fixed", len(labels), selection=selection,
                 rounds=rounds)


def _draws(labels, class_names, pool, val, budgets, selection, seed, space) -> list[np.ndarray]:
    """The train indices of one seed's draw at each budget (ascending)."""
    if selection == "balanced":
        return [labeled_draw(labels, budget // len(class_names), seed, exclude=val, class_names=class_names)
                for budget in budgets]
    first, _, later = selection.partition("+")
    hidden = np.full(len(pool), UNLABELED)
    if not later:
        return [pool[choose(None, hidden, budget, first, seed, len(class_names), space=space, clusters=False).indices]
                for budget in budgets]
    draws, revealed = [], hidden.copy()
    for budget in budgets:
        grow = budget - int((revealed != UNLABELED).sum())
        strategy = first if not draws else later
        if grow > 0:
            picked = choose(None, revealed, grow, strategy, seed, len(class_names), space=space, clusters=False).indices
            revealed[picked] = labels[pool[picked]]  # the oracle reveals the chosen images' labels, and only theirs
        draws.append(pool[np.flatnonzero(revealed != UNLABELED)])
    return draws
