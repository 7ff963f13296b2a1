"""The students' teacher: per k, the method best on validation (never on test), or the one --teacher names."""

from __future__ import annotations

from fewgen.teaching import choose_teachers


def _row(head: str, shots: int, seed: int, val: float, test: float, tuned: dict | None = None) -> dict:
    return {"head": head, "shots": shots, "seed": seed, "spec": {"part": "stacked"}, "val_accuracy": val,
            "accuracy": test, "tuned": tuned or {}}


ROWS = [  # at k = 1 logreg is best on validation and mlp on test; at k = 4 the other way round
    *(_row("logreg", 1, s, 0.9, 0.5) for s in range(2)), *(_row("mlp", 1, s, 0.6, 0.95) for s in range(2)),
    *(_row("logreg", 4, s, 0.5, 0.99) for s in range(2)), *(_row("mlp", 4, s, 0.8, 0.4) for s in range(2)),
]


def test_the_teacher_is_chosen_per_k_on_validation_never_on_test():
    chosen = choose_teachers(ROWS)
    assert {k: row["head"] for k, row in chosen.items()} == {1: "logreg", 4: "mlp"}


def test_a_named_teacher_is_the_teacher_at_every_k():
    assert {k: row["head"] for k, row in choose_teachers(ROWS, "logreg").items()} == {1: "logreg", 4: "logreg"}
    assert {k: row["head"] for k, row in choose_teachers(ROWS, "mlp").items()} == {1: "mlp", 4: "mlp"}


def test_a_pool_heads_candidates_are_teachers_of_their_own():
    rows = [_row("propagate", 2, s, 0.7, 0.7, {"space": "features"}) for s in range(2)]
    rows += [_row("propagate", 2, s, 0.75, 0.6, {"space": "umap"}) for s in range(2)]
    assert choose_teachers(rows)[2]["tuned"] == {"space": "umap"}
