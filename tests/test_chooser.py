"""One rule chooses on validation everywhere: the best mean, then the simpler head, then fewer settings, then the
first given. A tie built once must be broken the same way by every caller (evaluate's candidates, the students'
teacher, fit, select's sweep, the report's summaries)."""

from __future__ import annotations

from fewgen.chooser import Candidate, best, best_method, mean_validation, tied_with

BASE = {"dataset": "digits", "backbone": "vae", "checkpoint": "c", "spec": {"part": "stacked"},
        "head_params": {"scaling": "feature"}}


def _rows(head: str, val: float, test: float, shots: int = 4, seeds: int = 3, **extra) -> list[dict]:
    return [{**BASE, "head": head, "shots": shots, "seed": s, "val_accuracy": val, "accuracy": test, **extra}
            for s in range(seeds)]


# mlp and propagate are written first and score best on test; all three tie on validation
TIED = [*_rows("mlp", 0.8, 0.95), *_rows("propagate", 0.8, 0.97, data="pool", tuned={"space": "features"}),
        *_rows("logreg", 0.8, 0.7)]


def test_the_rule_orders_score_then_head_then_settings_then_order():
    assert best([Candidate("a", 0.7, "logreg"), Candidate("b", 0.8, "propagate")]).key == "b"
    assert best([Candidate("a", 0.8, "mlp"), Candidate("b", 0.8, "logreg")]).key == "b"
    assert best([Candidate("a", 0.8, "knn", 1), Candidate("b", 0.8, "knn", 0)]).key == "b"
    assert best([Candidate("a", 0.8, "knn"), Candidate("b", 0.8, "knn")]).key == "a"
    assert best([Candidate("a", None, "logreg"), Candidate("b", 0.1, "propagate")]).key == "b"
    assert best([Candidate("a", 0.1 + 0.2, "mlp"), Candidate("b", 0.3, "logreg")]).key == "b"  # a rounding tie
    assert best([]) is None
    winner = best(c := [Candidate("a", 0.8), Candidate("b", 0.8), Candidate("c", 0.5)])
    assert [t.key for t in tied_with(c, winner)] == ["a", "b"]
    assert mean_validation([{"val_accuracy": None}]) is None


def test_every_caller_breaks_the_same_tie_the_same_way():
    from fewgen.fitting import choose_method
    from fewgen.report.summary import best_by_validation, best_per_backbone, chosen_per_k
    from fewgen.teaching import choose_teachers
    from fewgen.timestep_select import choose

    assert best_method(TIED)[0][0]["head"] == "logreg" and best_method(TIED)[1] == 3
    assert choose_method(TIED, "vae", "c", shots=4)["head"] == "logreg"  # fit, and fit --student's teacher
    assert choose_teachers(TIED)[4]["head"] == "logreg"  # evaluate --students' teacher
    assert chosen_per_k(TIED)["vae"][4][0] == "vae[part=stacked]+logreg"  # the summaries, per k
    assert best_by_validation(TIED)["vae[part=stacked]"] == "vae[part=stacked]+logreg"
    assert best_per_backbone(TIED)["vae"] == "vae[part=stacked]+logreg"
    sweep = [{**row, "stage": "select", "spec": {"layers": ["up0"], "timestep": [t]}} for t in (10, 50) for row in TIED]
    assert choose(sweep)["head"] == "logreg" and choose(sweep)["spec"]["timestep"] == [10]  # select: then the first swept


def test_evaluate_students_and_fit_student_choose_the_same_teacher():
    """On rows where the methods tie and one wins on validation by a hair at another k, both commands agree."""
    from fewgen.fitting import choose_method
    from fewgen.teaching import choose_teachers

    rows = TIED + _rows("mlp", 0.9, 0.5, shots=8) + _rows("logreg", 0.9, 0.6, shots=8) + _rows("knn", 0.91, 0.4, shots=8)
    for k in (4, 8):
        assert choose_teachers(rows)[k]["head"] == choose_method(rows, "vae", "c", shots=k)["head"]
    assert choose_teachers(rows)[8]["head"] == "knn"


def test_a_pool_heads_candidates_tie_to_the_first_numbered():
    from fewgen.evaluate import choose_candidates

    scored = {("propagate", 0): _rows("propagate", 0.8, 0.5, tuned={"space": "features"}),
              ("propagate", 1): _rows("propagate", 0.8, 0.9, tuned={"space": "umap"})}
    assert {row["tuned"]["space"] for row in choose_candidates(scored)} == {"features"}
