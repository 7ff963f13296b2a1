"""``fewgen summary``: the tables of a run's rows, the choice per k made on validation, paired differences to the
baselines, JSON that says the same; bad input is one sentence."""

from __future__ import annotations

import json

import numpy as np

from fewgen.cli import main
from tests.report.test_collect import make_run


def _row(backbone, head, shots, seed, test, val):
    return {"dataset": "digits", "backbone": backbone, "checkpoint": "c1" if backbone == "vae" else "-", "spec": {},
            "head": head, "head_params": {}, "shots": shots, "seed": seed, "accuracy": test, "macro_f1": test,
            "val_accuracy": val, "n_val": 40, "eval_id": "e1"}


ROWS = [  # mlp is best on validation at k=1 and logreg at k=4; on test the other way round
    *(_row("vae", "mlp", 1, s, 0.6 + 0.01 * s, 0.9) for s in range(3)), *(_row("vae", "logreg", 1, s, 0.8, 0.7) for s in range(3)),
    *(_row("vae", "mlp", 4, s, 0.95, 0.7) for s in range(3)), *(_row("vae", "logreg", 4, s, 0.85, 0.9) for s in range(3)),
    *(_row("resnet18", "resnet18", k, s, 0.5, 0.5) for k in (1, 4) for s in range(3)),
]


def test_the_summary_shows_the_choice_per_k_on_validation_and_its_paired_gain(tmp_path, capsys):
    run = make_run(tmp_path / "run", "vae", ROWS)
    assert main(["summary", str(run), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "== digits ==" in out and "vae+mlp" in out and "resnet18" in out
    assert "k=1 vae+mlp 90.0 → 61.0 (n=3); k=4 vae+logreg 90.0 → 85.0 (n=3)" in out
    assert "− resnet18: k=1 +11.0 ± " in out and "k=4 +35.0 ± 0.0*" in out
    data = json.loads((tmp_path / "s.json").read_text())["digits"]
    assert data["chosen_per_k"]["vae"]["4"]["method"] == "vae+logreg"
    assert np.isclose(data["methods"]["vae+mlp"]["accuracy"]["1"]["mean"], 0.61)
    assert data["methods"]["vae+mlp"]["accuracy"]["1"]["n"] == 3
    assert np.isclose(data["chosen_minus_references"]["vae"]["resnet18"]["4"]["mean"], 0.35)


def test_paired_prints_one_method_against_every_other(tmp_path, capsys):
    run = make_run(tmp_path / "run", "vae", ROWS)
    assert main(["summary", str(run), "--paired", "vae+mlp"]) == 0
    assert "vae+mlp: paired accuracy difference" in capsys.readouterr().out


def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    assert "is not a fewgen run folder" in capsys.readouterr().err
    empty = make_run(tmp_path / "empty", "vae", [])
    assert main(["summary", str(empty), "--json", str(tmp_path / "s.json")]) == 2
    assert "no evaluation rows in" in capsys.readouterr().err and not (tmp_path / "s.json").exists()
    run = make_run(tmp_path / "run", "vae", ROWS)
    assert main(["summary", str(run), "--paired", "vae+knn"]) == 2
    err = capsys.readouterr().err
    assert "--paired vae+knn is not a method of these runs" in err and err.count("\n") == 1
