"""An evaluation keeps and resumes its work: killed mid-way (SIGKILL), it keeps every finished draw and every scored
pool-head candidate; run again, it computes only the rest and writes the rows an uninterrupted run writes; run a
third time, it computes nothing; --redo computes everything again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fewgen.evaluate as evaluate_module
from fewgen.cli import main
from fewgen.resume import draw_key

ARGS = ["--parts", "stacked", "--shots", "1,2", "--seeds", "3", "--heads", "logreg,propagate", "--baselines", "pixels", "--no-progress"]
FITS = 2 * 3 * (1 + 2) + 2 * 3  # draws x (logreg + propagate's two candidates) + the pixels baseline's logreg
KILL_AT = 8  # the 8th head fit never finishes: 7 are done (logreg and propagate candidates of the first draws)
TIMING = {"fit_seconds", "predict_seconds", "extract_seconds", "label_free_seconds", "eval_id"}


def latest(run: Path) -> dict[str, dict]:
    """The latest row of each (method, draw), without its timings."""
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    return {draw_key(row): {k: v for k, v in row.items() if k not in TIMING} for row in rows}


@pytest.fixture
def counted(monkeypatch) -> list:
    """Every head fit evaluate makes in this process."""
    calls = []
    real = evaluate_module.Evaluation._fit_head

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(evaluate_module.Evaluation, "_fit_head", staticmethod(counting))
    return calls


def _killed_evaluation(run: Path) -> subprocess.CompletedProcess:
    """``fewgen evaluate`` in a process that SIGKILLs itself when the KILL_AT-th head fit starts."""
    script = f"""
import os, signal, sys
import fewgen.evaluate as e
real, calls = e.Evaluation._fit_head, []
def dying(*args):
    calls.append(1)
    if len(calls) == {KILL_AT}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
e.Evaluation._fit_head = staticmethod(dying)
from fewgen.cli import main
sys.exit(main(["evaluate", {str(run)!r}, *{ARGS!r}]))
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)


def test_a_killed_evaluation_keeps_its_draws_and_its_rerun_computes_only_the_rest(tmp_path, counted, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "1", "-o", "channels=8",
                 "-o", "latent_dim=4", "--no-progress"]) == 0
    whole = tmp_path / "whole"
    shutil.copytree(run, whole)
    assert main(["evaluate", str(whole), *ARGS]) == 0  # the uninterrupted evaluation
    assert len(counted) == FITS
    counted.clear()

    killed = _killed_evaluation(run)
    assert killed.returncode == -9, killed.stderr
    kept = latest(run)
    assert {row["head"] for row in kept.values()} == {"logreg"} and 1 <= len(kept) < 6  # finished draws, whole rows
    journal = (run / "features" / "candidates.jsonl").read_text().splitlines()
    assert journal and all(json.loads(line)["head"] == "propagate" for line in journal)
    assert len(kept) + len(journal) == KILL_AT - 1  # every finished fit was kept

    capsys.readouterr()
    assert main(["evaluate", str(run), *ARGS]) == 0
    assert len(counted) == FITS - (KILL_AT - 1)  # only the rest
    assert f"{KILL_AT - 1 - len(journal)} of these" in capsys.readouterr().err  # the kept rows are said
    assert latest(run) == latest(whole)  # the very rows the uninterrupted evaluation wrote

    counted.clear()
    before = (run / "results.jsonl").read_text()
    assert main(["evaluate", str(run), *ARGS]) == 0
    assert counted == [] and (run / "results.jsonl").read_text() == before  # nothing left to compute or write

    assert main(["evaluate", str(run), *ARGS, "--redo"]) == 0
    assert len(counted) == FITS and latest(run) == latest(whole)


def test_more_seeds_compute_the_new_draws_and_choose_the_candidates_again(tmp_path, counted):
    """With a fourth seed, logreg fits only the new draws; propagate's candidate is chosen again over four seeds
    (its first three seeds' candidates come from the journal), as a fresh four-seed evaluation would choose it."""
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "1", "-o", "channels=8",
                 "-o", "latent_dim=4", "--no-progress"]) == 0
    fresh = tmp_path / "fresh"
    shutil.copytree(run, fresh)
    assert main(["evaluate", str(run), *ARGS]) == 0
    counted.clear()
    four = [arg if arg != "3" else "4" for arg in ARGS]
    assert main(["evaluate", str(run), *four]) == 0
    assert len(counted) == 2 * (1 + 2) + 2  # per k, seed 3's logreg and propagate candidates, and the pixels baseline
    assert main(["evaluate", str(fresh), *four]) == 0
    assert latest(run) == latest(fresh)


def test_a_folder_labeled_further_is_evaluated_again(tmp_path, capsys):
    """After an image moves from unlabeled/ to labeled/ (the suggest workflow), the draws are other images: the rerun
    computes its rows again instead of taking the old ones for done. Unchanged, a rerun computes nothing."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, n in (("labeled/a", 4), ("labeled/b", 4), ("test/a", 2), ("test/b", 2), ("unlabeled", 6)):
        (tmp_path / "photos" / part).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "photos" / part / f"{i}.png")
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{tmp_path / 'photos'}", "--backbone", "pixels",
                 "--epochs", "0", "--no-progress"]) == 0
    arguments = ["evaluate", str(run), "--shots", "1", "--seeds", "2", "--heads", "logreg", "--baselines", "",
                 "--no-progress"]
    assert main(arguments) == 0
    assert main(arguments) == 0
    assert "2 of these 2 rows were already in" in capsys.readouterr().err
    (tmp_path / "photos" / "unlabeled" / "0.png").rename(tmp_path / "photos" / "labeled" / "a" / "new.png")
    assert main(arguments) == 0
    assert "already in" not in capsys.readouterr().err
    assert len((run / "results.jsonl").read_text().splitlines()) == 4
