"""Summaries equal the means of the rows; the head is chosen on validation, never test; the plot is written."""

import numpy as np

from fewgen.report.plots import plot_accuracy_vs_labels
from fewgen.report.summary import (best_by_validation, best_per_backbone, crossover, format_crossover, format_paired, format_table,
                                   paired_differences, summarise, time_to_accuracy)


def row(backbone, head, shots, seed, acc, val, params=None):
    return {"backbone": backbone, "head": head, "shots": shots, "seed": seed, "accuracy": acc, "val_accuracy": val,
            "spec": {"part": "stacked"} if backbone == "vae" else {}, "head_params": params or {}}


ROWS = [
    # mlp: better on test, worse on validation; logreg: the reverse
    *[row("vae", "mlp", k, s, 0.9 + 0.01 * s, 0.5) for k in (1, 2) for s in range(3)],
    *[row("vae", "logreg", k, s, 0.6 + 0.01 * s, 0.8) for k in (1, 2) for s in range(3)],
    *[row("resnet18", "resnet18", k, s, 0.4, 0.4) for k in (1, 2) for s in range(3)],
    *[row("pixels", "logreg", k, s, 0.3, 0.3, {"scaling": "global"}) for k in (1, 2) for s in range(3)],
]


def test_summary_is_the_mean_of_the_rows():
    table = summarise(ROWS)
    assert set(table) == {"vae[part=stacked]+mlp", "vae[part=stacked]+logreg", "resnet18", "pixels+logreg(scaling=global)"}
    mean, half, n = table["vae[part=stacked]+mlp"][2]
    assert n == 3 and np.isclose(mean, np.mean([0.90, 0.91, 0.92])) and half > 0


def test_head_is_chosen_on_validation_not_test():
    assert best_by_validation(ROWS)["vae[part=stacked]"] == "vae[part=stacked]+logreg"
    assert "vae[part=stacked] → logreg" in format_table(ROWS)


def test_plot_is_written(tmp_path):
    path = plot_accuracy_vs_labels(ROWS, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _row(backbone, head, shots, seed, acc, val, spec=None):
    return {"backbone": backbone, "head": head, "shots": shots, "seed": seed, "accuracy": acc, "val_accuracy": val,
            "spec": spec or {}, "macro_f1": acc}


def test_best_per_backbone_only_lets_methods_run_at_every_k_compete():
    rows = [_row("vae", "logreg", k, s, 0.5, 0.6) for k in (1, 2, 4) for s in range(2)]
    rows += [_row("vae", "linear", k, s, 0.9, 0.9) for k in (4,) for s in range(2)]  # only the easiest k
    rows += [_row("resnet18", "resnet18", k, s, 0.4, 0.4) for k in (1, 2, 4) for s in range(2)]
    assert best_per_backbone(rows) == {"vae": "vae+logreg", "resnet18": "resnet18"}


def test_crossover_is_the_winning_streak_from_the_smallest_k():
    accuracy = {"vae": {1: 0.6, 2: 0.6, 4: 0.5, 8: 0.9}, "resnet18": {1: 0.3, 2: 0.5, 4: 0.55, 8: 0.8}}
    rows = [_row(b, "logreg" if b == "vae" else b, k, s, acc, acc) for b, by_k in accuracy.items()
            for k, acc in by_k.items() for s in range(2)]
    assert crossover(rows) == {"vae+logreg": (2, [1, 2, 8], [1, 2, 4, 8])}
    assert "every k up to 2; wins at k=1,2,8 of 1,2,4,8" in format_crossover(rows)
    assert crossover([r for r in rows if r["backbone"] == "vae"]) == {}


def test_augmented_classifiers_have_no_head_to_choose():
    rows = [_row(f"resnet18+{aug}", f"resnet18+{aug}", 1, s, 0.5, 0.5) for aug in ("none", "cglo") for s in range(2)]
    assert best_by_validation(rows) == {}
    assert "head chosen" not in format_table(rows)


def test_paired_differences_use_only_shared_draws_and_cancel_the_draw_spread():
    # the draw's difficulty moves both methods alike; cglo is 0.02 ahead on every draw
    difficulty = {0: 0.3, 1: 0.6, 2: 0.45}
    rows = [_row("resnet18+cglo", "resnet18+cglo", 1, s, d + 0.02, 0) for s, d in difficulty.items()]
    rows += [_row("resnet18", "resnet18", 1, s, d, 0) for s, d in difficulty.items()]
    rows += [_row("resnet18", "resnet18", 2, 0, 0.9, 0), _row("resnet18", "resnet18", 1, 7, 0.0, 0)]  # not shared
    mean, half, n = paired_differences(rows, "resnet18+cglo", "resnet18")[1]
    assert n == 3 and np.isclose(mean, 0.02) and half < 1e-9
    assert set(paired_differences(rows, "resnet18+cglo", "resnet18")) == {1}
    assert summarise(rows)["resnet18+cglo"][1][1] > 0.1  # the unpaired CI is wide
    text = format_paired(rows, "resnet18+cglo", ["resnet18", "resnet18+cglo"])
    assert "− resnet18 " in text and "+2.0 ±  0.0*" in text and "− resnet18+cglo" not in text


def test_a_paired_difference_whose_ci_spans_zero_is_not_marked():
    rows = [_row("a", "a", 1, s, acc, 0) for s, acc in enumerate((0.5, 0.6, 0.4))]
    rows += [_row("b", "b", 1, s, 0.5, 0) for s in range(3)]
    assert "*" not in format_paired(rows, "a", ["b"]).splitlines()[-1]


def test_best_per_backbone_reads_validation_never_test():
    """mlp is better on test, logreg on validation: the report's chosen method (which feeds the crossover and the
    validation -> test gap) must be logreg."""
    assert best_per_backbone(ROWS)["vae"] == "vae[part=stacked]+logreg"
    reversed_rows = [{**r, "accuracy": r["val_accuracy"], "val_accuracy": r["accuracy"]} for r in ROWS]
    assert best_per_backbone(reversed_rows)["vae"] == "vae[part=stacked]+mlp"


def test_ties_on_validation_go_to_the_simpler_head():
    rows = [row("vae", head, 4, s, acc, 0.8) for head, acc in (("knn", 0.9), ("mlp", 0.95), ("logreg", 0.7)) for s in range(2)]
    assert best_by_validation(rows)["vae[part=stacked]"] == "vae[part=stacked]+logreg"
    assert best_per_backbone(rows)["vae"] == "vae[part=stacked]+logreg"
    from fewgen.report.summary import chosen_per_k

    assert chosen_per_k(rows)["vae"][4][0] == "vae[part=stacked]+logreg"  # the per-k choice breaks ties the same way


def test_selects_sweep_rows_stay_out_of_every_summary():
    """A sweep row of 'fewgen select' (validation only, another spec) is best on validation by far: no summary,
    choice or table reads it."""
    from fewgen.report.summary import chosen_per_k

    sweep = [{**row("vae", "mlp", k, s, None, 0.99), "stage": "select", "spec": {"layers": ["up0"]}}
             for k in (1, 2) for s in range(3)]
    rows = ROWS + sweep
    assert summarise(rows, "val_accuracy") == summarise(ROWS, "val_accuracy")
    assert best_by_validation(rows) == best_by_validation(ROWS) and best_per_backbone(rows) == best_per_backbone(ROWS)
    assert chosen_per_k(rows) == chosen_per_k(ROWS) and format_table(rows) == format_table(ROWS)


def test_one_draw_has_no_confidence_interval():
    """A method run on a single distinct draw is shown as such, never as '± 0.0'."""
    table = format_table([row("vae", "logreg", 4, 0, 0.8, 0.8)] + [row("vae", "logreg", 1, s, 0.5 + s / 10, 0.5) for s in (0, 1)])
    assert "80.0 (n=1)" in table and "± 0.0" not in table and "55.0 ±" in table


def test_the_choice_between_heads_and_students_is_made_per_k_on_validation_only():
    from fewgen.report.summary import chosen_per_k

    rows = [*[row("vae", "logreg", k, s, 0.6, 0.8 if k == 1 else 0.5) for k in (1, 16) for s in range(3)],
            *[row("vae", "student-small", k, s, 0.99 if k == 1 else 0.7, 0.6 if k == 1 else 0.9) for k in (1, 16) for s in range(3)],
            *[row("resnet18", "resnet18", k, s, 1.0, 1.0) for k in (1, 16) for s in range(3)]]  # a baseline never competes
    chosen = chosen_per_k(rows)
    assert set(chosen) == {"vae"}
    assert chosen["vae"][1][0] == "vae[part=stacked]+logreg"  # its test accuracy is lower, its validation higher
    assert chosen["vae"][16][0] == "vae[part=stacked]+student-small"
    assert np.isclose(chosen["vae"][16][2], 0.7) and np.isclose(chosen["vae"][1][1], 0.8)
    table = format_table(rows)
    assert "chosen per k on validation among the heads and students" in table and "k=16 vae[part=stacked]+student-small 90.0 → 70.0" in table
    assert "chosen per k on validation among the heads, on the draws" in format_table(ROWS)  # printed without students too


def test_the_per_k_choice_compares_methods_on_the_draws_they_share():
    """propagate ran on seeds 0-4, the average on 0-2; on those 3 propagate is better on validation, though its
    5-seed mean (pulled down by seeds 3 and 4) is below the average's."""
    from fewgen.report.summary import chosen_per_k

    propagate = [0.80, 0.80, 0.80, 0.50, 0.50]
    rows = [*[row("vae", "propagate", 4, s, 0.7, v) for s, v in enumerate(propagate)],
            *[row("vae", "student-small+teacher", 4, s, 0.6, 0.75) for s in range(3)]]
    method, val, test, n = chosen_per_k(rows)["vae"][4]
    assert method == "vae[part=stacked]+propagate" and n == 3
    assert np.isclose(val, 0.80) and np.isclose(test, 0.7)
    assert "(n=3)" in format_table(rows)


def test_a_draw_run_twice_counts_once():
    """An evaluation run again on the same draws writes its rows again: the later row replaces the earlier one, and
    the mean and its CI count each draw once."""
    first = [row("vae", "logreg", 4, s, 0.5, 0.5) for s in range(2)]
    again = [row("vae", "logreg", 4, s, 0.7 + 0.1 * s, 0.5) for s in range(2)]
    mean, _, n = summarise(first + again)["vae[part=stacked]+logreg"][4]
    assert n == 2 and np.isclose(mean, 0.75)
    other_checkpoint = [{**r, "checkpoint": "b"} for r in first]  # another model on the same draws: its own rows
    assert summarise(first + other_checkpoint)["vae[part=stacked]+logreg"][4][2] == 4


def test_time_to_accuracy_is_the_best_validation_spec_of_each_chunk_per_k():
    def select(checkpoint, t, shots, values):
        return [{"stage": "select", "checkpoint": checkpoint, "spec": {"layers": ["up0"], "timestep": [t]}, "head": "logreg",
                 "shots": shots, "seed": seed, "accuracy": None, "val_accuracy": v} for seed, v in enumerate(values)]

    rows = [*select("a", 50, 4, [0.5, 0.6]), *select("a", 100, 4, [0.7, 0.7]), *select("a", 50, 16, [0.8, 0.8]),
            *select("b", 50, 4, [0.9, 0.9]), *select("old", 50, 4, [1.0, 1.0]),  # "old": no chunk left that checkpoint
            {**select("b", 100, 4, [1.0])[0], "stage": "evaluate"}]  # evaluate rows are not validation sweeps
    chunks = [{"checkpoint": "a", "epochs": 1, "seconds": 60.0}, {"checkpoint": "b", "epochs": 2, "seconds": 180.0}]
    curves = time_to_accuracy(chunks, rows)
    assert list(curves) == [4, 16]
    assert [(minutes, epochs, round(mean, 6), n) for minutes, epochs, mean, _, n in curves[4]] == [(1.0, 1, 0.7, 2), (3.0, 2, 0.9, 2)]
    assert [(minutes, round(mean, 6)) for minutes, _, mean, _, _ in curves[16]] == [(1.0, 0.8)]
