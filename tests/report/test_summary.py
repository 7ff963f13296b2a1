"""Summaries equal the means of the rows; the head is chosen on validation, never test; the plot is written."""

import numpy as np

from fewgen.report.plots import plot_accuracy_vs_labels
from fewgen.report.summary import best_by_validation, format_table, summarise


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
