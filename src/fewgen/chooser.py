"""The one rule that chooses on validation: a method (spec, head, settings), a head's candidate, a teacher, a
timestep and block set, or a labeling strategy. Every choice in fewgen goes through :func:`best`.

The candidate with the highest mean validation accuracy wins; test accuracy is never an input. Validation holds
few images at small k, so exact ties are common; they go, in this order, to

1. the simpler head (:data:`~fewgen.results.SIMPLEST_FIRST`: linear models before kNN, MLPs, attention, then the
   heads that also learn from the unlabeled pool);
2. the candidate with fewer settings tuned on validation (a pool head's ``tuned`` candidate);
3. the candidate given first (the order the caller states: the order the methods were evaluated, the candidates
   numbered, the timesteps swept).

Scores are compared rounded to 9 decimals, so that two means of the same accuracies summed in another order tie.
A missing score (an evaluation without a validation draw) ranks below every score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable

import numpy as np

from fewgen.results import SIMPLEST_FIRST, on_shared_draws, simplicity

TIE_BREAK = (f"the simpler head won (order: {', '.join(SIMPLEST_FIRST)}; then fewer settings, then the first "
             "evaluated)")


@dataclass(frozen=True)
class Candidate:
    """One thing to choose among: its ``key`` (what the caller gets back), its mean validation ``score`` (None when
    it has none), the ``head`` it fits (None when the choice is not between heads) and how many ``settings`` it
    carries."""

    key: Hashable
    score: float | None
    head: str | None = None
    settings: int = 0

    def rank(self) -> tuple:
        """Smaller is better: the score first, then the tie-break of the module docstring."""
        score = -math.inf if self.score is None or math.isnan(self.score) else round(float(self.score), 9)
        return (-score, simplicity(self.head) if self.head is not None else 0, self.settings)


def best(candidates: Iterable[Candidate]) -> Candidate | None:
    """The candidate the rule chooses (the first of equal rank: the stated order), or None when there is none."""
    return min(candidates, key=Candidate.rank, default=None)


def tied_with(candidates: Iterable[Candidate], winner: Candidate) -> list[Candidate]:
    """The candidates whose score equals the winner's (the winner among them): how many the tie-break decided."""
    return [c for c in candidates if c.rank()[0] == winner.rank()[0]]


def mean_validation(rows: Iterable[dict]) -> float | None:
    """Mean ``val_accuracy`` of ``rows`` (one per draw), None when none of them has one."""
    scores = [row["val_accuracy"] for row in rows if row.get("val_accuracy") is not None]
    return float(np.mean(scores)) if scores else None


def method_key(row: dict) -> str:
    """What a result row's method is: its (spec, head, head parameters, tuned settings), as a key."""
    return json.dumps([row["spec"], row["head"], row.get("head_params", {}), row.get("tuned", {})], sort_keys=True)


def by_method(rows: Iterable[dict]) -> dict[str, dict[int, dict]]:
    """``{method: {seed: row}}`` in the order the methods were first written, one row per draw: a later row of the
    same draw (the evaluation run again) replaces the earlier one, so a draw counts once."""
    groups: dict[str, dict[int, dict]] = {}
    for row in rows:
        groups.setdefault(method_key(row), {})[row["seed"]] = row
    return groups


def best_method(rows: list[dict], eligible: Callable[[dict], bool] = lambda row: True) -> tuple[list[dict], int] | None:
    """Of the methods in ``rows`` (one k, one dataset and checkpoint), the eligible one the rule chooses, as its rows,
    and how many eligible methods tied with it on the score; None when none is eligible. The methods are compared on
    the draws (seeds) that all of them ran, eligible or not (:func:`~fewgen.results.on_shared_draws`), so that a
    method run on 5 seeds is not weighed against one run on 3."""
    every = on_shared_draws(by_method(rows))
    candidates = [Candidate(key, mean_validation(group), group[0]["head"], len(group[0].get("tuned", {})))
                  for key, group in every.items() if eligible(group[0])]
    winner = best(candidates)
    if winner is None:
        return None
    return every[winner.key], len(tied_with(candidates, winner))
