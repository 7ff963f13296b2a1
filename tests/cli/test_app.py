"""The CLI end to end on digits, and bad input: one sentence, exit code 2, nothing half-written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fewgen.cli import main

FAST_EVAL = ["--shots", "1,2", "--seeds", "2", "--val-per-class", "4", "--no-progress"]
RESNET_BUDGET = ["--resnet-steps", "3"]  # only where resnet18 runs: a budget for a baseline not run is refused


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "vae"
    code = main(["pretrain", "--run", str(run), "--data", "digits", "--backbone", "vae", "--epochs", "1",
                 "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"])
    assert code == 0
    return run


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_pretrain_writes_a_run_folder(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["backbone"] == "vae" and config["dataset"] == "digits" and config["status"] == "pretrained"
    assert config["backbone_config"] == {"channels": 8, "latent_dim": 4, "beta": 1.0}
    assert (tiny_run / "backbone" / "model.safetensors").is_file() and (tiny_run / "samples.png").is_file()
    assert (tiny_run / "checkpoints" / "latest.json").is_file()
    assert config["machine"]["cpus"] >= 1 and config["machine"]["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def test_evaluate_end_to_end(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run), "--heads", "mlp,knn", "--parts", "stacked", *FAST_EVAL, *RESNET_BUDGET]) == 0
    out = capsys.readouterr().out
    assert "vae[part=stacked]+mlp" in out and "resnet18" in out and "pixels+logreg" in out
    rows = [json.loads(line) for line in (tiny_run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * (2 + 1 + 1)  # shots x seeds x (2 heads + pixels + resnet)
    required = {"dataset", "backbone", "checkpoint", "spec", "head", "shots", "seed", "accuracy", "macro_f1",
                "n_test", "fit_seconds", "predict_seconds", "val_accuracy"}
    assert all(required <= set(row) for row in rows)
    assert all(row["n_test"] == 500 and 0 <= row["accuracy"] <= 1 for row in rows)
    assert {r["checkpoint"] for r in rows if r["backbone"] == "vae"} == {json.loads((tiny_run / "config.json").read_text())["checkpoint"]}
    assert (tiny_run / "accuracy_vs_labels.png").stat().st_size > 1000
    # the feature cache is reused on a second evaluation
    cached = files_under(tiny_run / "features")
    assert main(["evaluate", str(tiny_run), "--heads", "knn", "--parts", "stacked", "--baselines", "", *FAST_EVAL]) == 0
    assert files_under(tiny_run / "features") == cached


@pytest.mark.parametrize("backbone, options, parts", [
    ("vqvae", ["channels=8", "codebook_size=16", "code_dim=4"], ["--parts", "encoder"]),
    ("alae", ["channels=4", "latent_dim=8", "mapping_layers=2"], []),
])
def test_new_backbones_pretrain_and_evaluate(tmp_path, capsys, backbone, options, parts):
    """pretrain writes samples, reconstructions beside originals, and per-epoch logs; evaluate reads the features."""
    run = tmp_path / backbone
    argv = ["pretrain", "--run", str(run), "--backbone", backbone, "--epochs", "2", "--no-progress"]
    assert main(argv + [a for kv in options for a in ("-o", kv)]) == 0
    out = capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert [row["epoch"] for row in config["pretrain"]["history"]] == [1, 2]
    if backbone == "vqvae":
        assert "perplexity" in out and config["pretrain"]["history"][-1]["perplexity"] > 1
    for name in ("samples.png", "reconstructions.png"):
        assert config[name.split(".")[0]] == name
        grid = np.asarray(Image.open(run / name))
        assert grid.std() > 0  # not blank
    assert main(["evaluate", str(run), "--heads", "logreg,umap,selftrain,propagate", "--baselines", "", *parts,
                 *FAST_EVAL]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 4 and {r["backbone"] for r in rows} == {backbone}
    assert {r["head"]: r["data"] for r in rows} == {"logreg": "labeled", "umap": "pool", "selftrain": "pool", "propagate": "pool"}


def test_backbones_command_explains_every_option(capsys):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    for text in ("vqvae: A VQ-VAE", "-o codebook_size=256  number of codes K", "alae: A GAN", "-o r1_gamma=10.0",
                 "glo: the conditional GLO", "-o code_dim=128"):
        assert text in out


def test_the_glo_is_not_pretrained_but_points_to_augment(tmp_path, capsys):
    assert main(["pretrain", "--run", str(tmp_path / "run"), "--backbone", "glo"]) == 2
    assert "fitted on each labeled draw by 'fewgen augment'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_help_lists_every_option_with_its_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--shots", "--seeds", "--heads", "--baselines", "--val-per-class", "--resnet-steps"):
        assert option in text
    assert "default: 1,2,5,10" in text.replace("[", "").replace("]", "").lower()


def expect_error(capsys, argv: list[str], fragment: str) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_unknown_dataset(tmp_path, capsys):
    expect_error(capsys, ["pretrain", "--run", str(tmp_path / "r"), "--data", "imagenet"], "unknown dataset 'imagenet'")
    assert not (tmp_path / "r").exists()


def test_missing_data_root(tmp_path, capsys):
    expect_error(capsys, ["pretrain", "--run", str(tmp_path / "r"), "--data", "mnist", "--data-root", str(tmp_path / "nope")],
                 "does not exist")
    assert not (tmp_path / "r").exists()


def test_shots_larger_than_a_class(tiny_run, capsys):
    before = files_under(tiny_run)
    expect_error(capsys, ["evaluate", str(tiny_run), "--shots", "500", "--no-progress"], "fewer than --shots 500")
    assert files_under(tiny_run) == before


def test_checkpoint_from_another_backbone(tiny_run, capsys):
    before = files_under(tiny_run)
    expect_error(capsys, ["evaluate", str(tiny_run), "--backbone", "pixels", "--no-progress"], "saved by backbone 'vae'")
    assert files_under(tiny_run) == before


def test_run_folder_is_never_overwritten(tiny_run, capsys):
    expect_error(capsys, ["pretrain", "--run", str(tiny_run), "--epochs", "1"], "already holds a pretrained backbone")


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "imgs" / "labeled").mkdir(parents=True)
    expect_error(capsys, ["pretrain", "--run", str(tmp_path / "r"), "--data", f"folder:{tmp_path / 'imgs'}"], "is empty")
    assert not (tmp_path / "r").exists()


def test_truncated_image(tmp_path, capsys):
    folder = tmp_path / "imgs" / "labeled" / "a"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "ok.png")
    (folder.parent / "b").mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder.parent / "b" / "ok.png")
    data = (folder / "ok.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    expect_error(capsys, ["pretrain", "--run", str(tmp_path / "r"), "--data", f"folder:{tmp_path / 'imgs'}"], "cut.png")
    assert not (tmp_path / "r").exists()


def test_folder_source_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, n in (("labeled", 6), ("test", 3)):
        for c, level in (("dark", 40), ("bright", 200)):
            (tmp_path / "imgs" / split / c).mkdir(parents=True)
            for i in range(n):
                noise = rng.integers(-30, 30, (10, 10))
                Image.fromarray((level + noise).astype(np.uint8)).save(tmp_path / "imgs" / split / c / f"{i}.png")
    run = tmp_path / "r"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{tmp_path / 'imgs'}", "--epochs", "1", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--shots", "2", "--seeds", "1", "--val-per-class", "2", "--heads", "knn",
                 "--baselines", "pixels", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert {r["n_test"] for r in rows} == {6}


def test_the_same_seed_pretrains_the_same_weights(tiny_run, tmp_path):
    """--seed covers the initial weights as well as the shuffling: a rerun gives the same checkpoint."""
    argv = ["--data", "digits", "--backbone", "vae", "--epochs", "1", "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]
    assert main(["pretrain", "--run", str(tmp_path / "again"), *argv]) == 0
    assert main(["pretrain", "--run", str(tmp_path / "other"), "--seed", "1", *argv]) == 0
    checkpoint = {name: json.loads((folder / "config.json").read_text())["checkpoint"]
                  for name, folder in [("first", tiny_run), ("again", tmp_path / "again"), ("other", tmp_path / "other")]}
    assert checkpoint["again"] == checkpoint["first"] != checkpoint["other"]


def test_resume_with_other_backbone_options(tiny_run, capsys):
    expect_error(capsys, ["pretrain", "--run", str(tiny_run), "--resume", "-o", "channels=16", "--no-progress"],
                 "pass the same --option values")


def test_resume_continues_a_run(tmp_path, capsys):
    run = tmp_path / "r"
    base = ["pretrain", "--run", str(run), "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]
    assert main([*base, "--epochs", "1"]) == 0
    shutil.rmtree(run / "backbone")  # as if killed after the first epoch's checkpoint
    capsys.readouterr()
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["pretrain"]["steps"] == 2 * (1297 // 128) and config["status"] == "pretrained"
    assert config["pretrain"]["resumed_from_step"] == 1297 // 128  # from the checkpoint, not a fresh start of 2 epochs
    assert f"(resumed at step {1297 // 128})" in capsys.readouterr().out
    first, second = config["pretrain_chunks"]  # the killed invocation's record survived its own rewrite of config.json
    assert (first["steps"], second["steps"], second["checkpoint"]) == (1297 // 128, 2 * (1297 // 128), config["checkpoint"])
    assert second["seconds"] == first["seconds"] + config["pretrain"]["seconds"]  # training time summed over the chunks


def test_unknown_option_is_a_usage_error(capsys):
    assert main(["evaluate", "somewhere", "--bogus"]) == 2
    captured = capsys.readouterr()
    assert "--bogus" in captured.err and "Traceback" not in captured.err


def test_bad_part_fails_before_any_row_is_written(tiny_run, capsys):
    before = files_under(tiny_run)
    expect_error(capsys, ["evaluate", str(tiny_run), "--parts", "stacked,middle", *FAST_EVAL], "not 'middle'")
    assert files_under(tiny_run) == before


def test_ctrl_c_exits_130_not_0(tmp_path, monkeypatch, capsys):
    import fewgen.commands

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fewgen.commands, "pretrain", interrupted)
    assert main(["pretrain", "--run", str(tmp_path / "run"), "--epochs", "1"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_zero_epochs_on_a_network_warns_that_it_is_untrained(tmp_path, capsys):
    tiny = ["--backbone", "vae", "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]
    assert main(["pretrain", "--run", str(tmp_path / "vae"), *tiny, "--epochs", "0"]) == 0
    assert "--epochs 0: the vae is saved untrained" in capsys.readouterr().err
    assert main(["pretrain", "--run", str(tmp_path / "pixels"), "--backbone", "pixels", "--epochs", "0"]) == 0
    assert "untrained" not in capsys.readouterr().err  # raw pixels have nothing to train


def test_a_redirected_log_gets_no_progress_bars(tmp_path):
    """Progress bars once wrote carriage-return updates into redirected logs (33 KB for 5 epochs)."""
    log = tmp_path / "log.txt"
    with log.open("w") as stream:
        done = subprocess.run([sys.executable, "-m", "fewgen", "pretrain", "--run", str(tmp_path / "run"), "--backbone", "vae",
                               "-o", "channels=8", "-o", "latent_dim=4", "--epochs", "2"], stdout=stream, stderr=stream)
    assert done.returncode == 0
    text = log.read_text()
    assert "\r" not in text and "pretrained vae" in text and len(text) < 2000


def test_pixels_run_with_pool_heads(tmp_path, capsys):
    """A raw-pixels run needs no training, and every pool head works on it (rows say what each head saw)."""
    run = tmp_path / "pixels"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--epochs", "0", "--no-progress"]) == 0
    assert "pretrained pixels" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--heads", "logreg,propagate,selftrain", "--scaling", "global", "--baselines", "",
                 "--shots", "1", "--seeds", "2", "--val-per-class", "4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "pixels+propagate(scaling=global)  pool" in out and "pixels+logreg(scaling=global)     labeled" in out
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert {r["head"]: r["data"] for r in rows} == {"logreg": "labeled", "propagate": "pool", "selftrain": "pool"}
    assert all(r["candidates"] == (1 if r["head"] == "logreg" else 2) for r in rows)


def test_unknown_head_is_one_sentence(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run), "--heads", "logreg,umapp", "--parts", "stacked", *FAST_EVAL]) == 2
    err = capsys.readouterr().err
    assert "unknown head 'umapp'" in err and "umap" in err and "Traceback" not in err


def test_pool_smaller_than_umaps_neighbourhood_is_one_sentence(tmp_path, capsys):
    folder = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split, n in (("labeled", 6), ("test", 2)):
        for c in ("a", "b"):
            (folder / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / split / c / f"{i}.png")
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "pixels", "--epochs", "0",
                 "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--heads", "umap", "--baselines", "", "--shots", "1", "--seeds", "1",
                 "--val-per-class", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "too few for UMAP with n_neighbors=15" in err and "Traceback" not in err
    assert not (run / "results.jsonl").exists()  # nothing half-written


def test_resnet_seeds_beyond_seeds_is_one_sentence(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run), "--heads", "logreg", "--parts", "stacked", "--resnet-seeds", "3", *FAST_EVAL]) == 2
    assert "--resnet-seeds must lie in 1..--seeds (2), or be 0 for every seed; got 3" in capsys.readouterr().err


def test_training_and_head_options_take_effect(tmp_path, capsys):
    """pretrain --schedule/--lr/--batch-size/--precision and evaluate --scaling/--pixel-head/--pixel-scaling reach
    what they configure (each checked in what the run wrote, not only accepted)."""
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "1", "--batch-size", "100", "--lr", "0.004",
                 "--schedule", "cosine", "--precision", "fp32", "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert {k: config["train"][k] for k in ("batch_size", "lr", "schedule", "precision")} == \
        {"batch_size": 100, "lr": 0.004, "schedule": "cosine", "precision": "fp32"}
    assert config["pretrain"]["steps"] == config["n_unlabeled"] // 100  # full batches of 100
    state = json.loads(next((run / "checkpoints").glob("step_*/state.json")).read_text())
    assert state["schedule"] == "cosine" and state["batch_size"] == 100
    assert main(["evaluate", str(run), "--parts", "stacked", "--heads", "logreg", "--scaling", "global", "--baselines", "pixels",
                 "--pixel-head", "knn", "--pixel-scaling", "feature", *FAST_EVAL]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert {(r["backbone"], r["head"], r["head_params"]["scaling"]) for r in rows} == {("vae", "logreg", "global"),
                                                                                      ("pixels", "knn", "feature")}


def test_ddpm_weights_option_and_the_stored_data_root(tmp_path, capsys, monkeypatch):
    """evaluate --weights raw reads the raw UNet; a run made with --data-root finds its data again without it."""
    from tests.data.test_torchvision_sources import fabricate_idx

    fabricate_idx(tmp_path / "data" / "MNIST" / "raw", n_train=40, n_test=20)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", "mnist", "--data-root", str(tmp_path / "data"), "--backbone", "ddpm",
                 "-o", "preset=tiny", "--epochs", "1", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--timesteps", "10", "--blocks", "up0", "--weights", "raw", "--heads", "logreg",
                 "--baselines", "", "--shots", "1", "--seeds", "1", "--val-per-class", "1", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [r["spec"]["weights"] for r in rows] == ["raw"] and rows[0]["n_test"] == 20


def test_students_run_on_every_draw_beside_the_heads(tiny_run, capsys):
    """Each student has a row per draw (data = pool, the teacher named), and so has its average with the teacher, and
    both appear in the table; the encoder student fine-tunes the run's own VAE."""
    capsys.readouterr()
    assert main(["evaluate", str(tiny_run), "--shots", "1,2", "--seeds", "2", "--val-per-class", "4", "--parts", "stacked",
                 "--heads", "logreg", "--baselines", "", "--students", "small,encoder", "-S", "steps=2",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "vae[part=stacked]+student-small" in out and "vae[part=stacked]+student-encoder" in out
    assert "vae[part=stacked]+student-small+teacher" in out
    rows = [json.loads(line) for line in (tiny_run / "results.jsonl").read_text().splitlines()]
    students = [row for row in rows if row["head"].startswith("student-")]
    assert sorted({row["head"] for row in students}) == ["student-encoder", "student-encoder+teacher", "student-small",
                                                          "student-small+teacher"]
    assert len(students) == 2 * 2 * 2 * 2  # 2 students (and their averages) x 2 k x 2 seeds
    assert {row["data"] for row in students} == {"pool"} and {row["teacher"] for row in students} == {"vae[part=stacked]+logreg"}
    assert all(row["student"]["steps"] == 2 and row["fit_seconds"] > 0 for row in students)


def test_the_attention_head_reads_the_ddpms_tokens_and_is_saved_by_fit(tmp_path, capsys):
    """evaluate --heads attention on 2x2 cells of two blocks at two timesteps, then fit --head attention: the model
    folder holds the token layout and predicts as the fitted head does."""
    from tests.data.test_torchvision_sources import fabricate_idx
    from fewgen.classifier import load_classifier
    from fewgen.fitting import fit_classifier

    fabricate_idx(tmp_path / "data" / "MNIST" / "raw", n_train=200, n_test=20)  # fit keeps 16 a class for its estimate
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", "mnist", "--data-root", str(tmp_path / "data"), "--backbone", "ddpm",
                 "-o", "preset=tiny", "--epochs", "1", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--timesteps", "10+50", "--blocks", "up0+mid", "--spatial-pool", "2x2", "--heads",
                 "attention", "--baselines", "", "--shots", "1", "--seeds", "1", "--val-per-class", "1", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [(r["head"], r["n_test"]) for r in rows] == [("attention", 20)]
    fitted = fit_classifier(run, tmp_path / "model", shots=1, head="attention")
    assert fitted.head.layout == [[16, 4], [16, 4], [16, 4], [16, 4]]  # (channels, cells) per block and timestep
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    loaded = load_classifier(tmp_path / "model")
    assert np.array_equal(loaded.predict_proba(images), fitted.predict_proba(images))
    one_by_one = np.concatenate([loaded.predict_proba(images[i : i + 1]) for i in range(len(images))])
    assert np.array_equal(one_by_one, loaded.predict_proba(images))  # asked once, in fixed batches: the same answers


def test_convergence_warnings_inside_heads_are_counted_in_one_line(tmp_path, capsys, monkeypatch):
    """scikit-learn's ConvergenceWarning, raised inside a head's fit, is not printed in full each time: one line
    at the end says how many fits it concerned."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from fewgen.heads.logreg import LogRegHead

    real_fit = LogRegHead.fit

    def warning_fit(self, X, y):
        warnings.warn_explicit("lbfgs failed to converge", ConvergenceWarning, "sklearn/linear_model/_logistic.py", 1,
                               module="sklearn.linear_model._logistic")
        return real_fit(self, X, y)

    monkeypatch.setattr(LogRegHead, "fit", warning_fit)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--shots", "1", "--seeds", "2", "--heads", "logreg", "--baselines", "",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "lbfgs failed to converge" not in err and "ConvergenceWarning" in err
    assert err.count("solver stopped before converging in 2 head fits") == 1
