"""Pooling rows of several runs: no draw counted twice, backbones of different runs kept apart, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fewgen.cli import main
from fewgen.errors import FewgenError
from fewgen.evaluate import method_name
from fewgen.report.collect import baseline_settings_differ, pooled_rows, read_run, read_runs


def row(backbone, shots, seed, accuracy, head=None, checkpoint="c1", eval_id="e1", spec=None, n_val=160):
    head = head or ("resnet18" if backbone == "resnet18" else "mlp")
    return {"dataset": "digits", "backbone": backbone, "checkpoint": checkpoint, "spec": spec or {}, "head": head,
            "head_params": {}, "shots": shots, "seed": seed, "accuracy": accuracy, "val_accuracy": accuracy,
            "n_val": n_val, "eval_id": eval_id}


def make_run(folder: Path, backbone: str, rows: list[dict], checkpoint="c1") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"dataset": "digits", "backbone": backbone, "checkpoint": checkpoint}))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_a_re_evaluation_replaces_its_rows_and_a_baseline_draw_counts_once(tmp_path):
    a = make_run(tmp_path / "a", "vae", [row("vae", 1, 0, 0.5), row("resnet18", 1, 0, 0.3),
                                         row("vae", 1, 0, 0.6, eval_id="e2")])  # evaluated again: latest wins
    b = make_run(tmp_path / "b", "ddpm", [row("ddpm", 1, 0, 0.7, checkpoint="c2"), row("resnet18", 1, 0, 0.9),
                                          row("resnet18", 2, 0, 0.4)], checkpoint="c2")
    pooled = pooled_rows(read_runs([a, b]))["digits"]
    got = sorted((method_name(r), r["shots"], r["accuracy"], r["run"]) for r in pooled)
    assert got == [("ddpm+mlp", 1, 0.7, "b"), ("resnet18", 1, 0.3, "a"), ("resnet18", 2, 0.4, "b"), ("vae+mlp", 1, 0.6, "a")]


def test_two_runs_of_one_backbone_stay_apart(tmp_path):
    a = make_run(tmp_path / "x" / "small", "vae", [row("vae", 1, 0, 0.5)])
    b = make_run(tmp_path / "y" / "large", "vae", [row("vae", 1, 0, 0.8, checkpoint="c2")], checkpoint="c2")
    pooled = pooled_rows(read_runs([a, b]))["digits"]
    assert sorted(method_name(r) for r in pooled) == ["vae@large+mlp", "vae@small+mlp"]


def test_folders_with_one_name_get_distinct_names(tmp_path):
    runs = read_runs([make_run(tmp_path / "x" / "run", "vae", []), make_run(tmp_path / "y" / "run", "vae", [])])
    assert [r.name for r in runs] == ["run", "run-2"]


def test_baselines_from_different_settings_are_reported():
    rows = [row("resnet18", 1, 0, 0.3, spec={"steps": 200}), row("resnet18", 2, 0, 0.3, spec={"steps": 100}),
            row("pixels", 1, 0, 0.3, head="logreg")]
    assert baseline_settings_differ(rows) == ["resnet18"]


def test_a_selection_for_another_checkpoint_is_ignored(tmp_path):
    run = make_run(tmp_path / "r", "ddpm", [])
    (run / "selection.json").write_text(json.dumps({"checkpoint": "old", "spec": {}}))
    assert read_run(run).selection is None


def test_not_a_run_folder(tmp_path):
    with pytest.raises(FewgenError, match="is not a fewgen run folder"):
        read_run(tmp_path)


def test_a_damaged_results_line_is_named(tmp_path):
    run = make_run(tmp_path / "r", "vae", [row("vae", 1, 0, 0.5)])
    with open(run / "results.jsonl", "a") as f:
        f.write("{cut\n")
    with pytest.raises(FewgenError, match=r"results.jsonl line 2 is not valid JSON"):
        read_run(run)


def test_cli_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a fewgen run folder" in capsys.readouterr().err
    a, b = make_run(tmp_path / "a", "vae", []), make_run(tmp_path / "b", "vae", [])
    assert main(["report", str(a), str(b)]) == 2
    assert "--out is required" in capsys.readouterr().err
    assert main(["report", str(a), "--umap-points", "3"]) == 2
    assert "--umap-points must be at least 10" in capsys.readouterr().err


def test_a_damaged_json_file_is_named(tmp_path):
    run = make_run(tmp_path / "r", "ddpm", [])
    (run / "selection.json").write_text("{cut")
    with pytest.raises(FewgenError, match=r"selection.json is not valid JSON"):
        read_run(run)


def test_rows_of_a_checkpoint_the_folder_no_longer_holds_are_left_out(tmp_path):
    """Pretraining resumed into a folder after an evaluation: the earlier checkpoint's rows share the method names
    of the new ones, so pooling them would mix two models in one mean. Baselines (checkpoint '-') stay."""
    run = make_run(tmp_path / "r", "ddpm", [row("ddpm", 1, 0, 0.2, checkpoint="old"), row("ddpm", 1, 1, 0.2, checkpoint="old"),
                                            row("resnet18", 1, 0, 0.3, checkpoint="-"), row("ddpm", 1, 0, 0.7)])
    record = read_run(run)
    assert record.earlier_rows == 2
    pooled = pooled_rows([record])["digits"]
    assert sorted((method_name(r), r["seed"], r["accuracy"]) for r in pooled) == [("ddpm+mlp", 0, 0.7), ("resnet18", 0, 0.3)]


def test_a_folder_whose_pretraining_has_not_finished_keeps_its_rows(tmp_path):
    run = tmp_path / "r"
    make_run(run, "ddpm", [row("ddpm", 1, 0, 0.7, checkpoint="old")])
    (run / "config.json").write_text(json.dumps({"dataset": "digits", "backbone": "ddpm"}))
    assert [r["accuracy"] for r in read_run(run).rows] == [0.7] and read_run(run).earlier_rows == 0
