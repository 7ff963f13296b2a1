"""The reliability list: each bad input or accident gets one clear sentence, exit code 2 where it applies, and
nothing lost or half-written. (Also on the list, tested where their code lives: an unreadable or truncated image,
an empty folder, a class with fewer than k images, an unknown dataset and a checkpoint of another backbone in
tests/cli/test_app.py and tests/data/test_folder.py; a model folder from another fewgen version in
tests/test_fitting.py; a NaN loss in tests/test_train.py; SIGKILL mid-run in tests/test_commands.py, mid-write in
tests/test_atomic.py.)"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fewgen.backbones import BACKBONES
from fewgen.cli import main

TINY_OPTIONS = {"pixels": [], "vae": ["channels=8", "latent_dim=4"], "ddpm": ["preset=tiny"],
                "vqvae": ["channels=8", "codebook_size=16", "code_dim=4"], "alae": ["latent_dim=8", "channels=4", "mapping_layers=2"]}


def small_folder(root: Path, side: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("labeled", 4), ("test", 2)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    (root / "unlabeled").mkdir()
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(root / "unlabeled" / f"{i}.png")
    return root


def one_sentence(capsys, code: int, expected: int = 2) -> str:
    err = capsys.readouterr().err.strip()
    assert code == expected, err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_every_command_on_every_backbone_works_or_says_one_sentence(tmp_path, capsys):
    """The CLI over the registry with tiny settings: a traceback a user can reach is a defect."""
    data = f"folder:{small_folder(tmp_path / 'data')}"
    assert set(TINY_OPTIONS) == set(BACKBONES)
    for name, options in TINY_OPTIONS.items():
        run, model = tmp_path / name, tmp_path / f"{name}-model"
        commands = [
            ["pretrain", "--run", str(run), "--data", data, "--backbone", name, "--epochs", "1", "--batch-size", "8",
             "--no-progress", *[a for kv in options for a in ("-o", kv)]],
            ["evaluate", str(run), "--shots", "1", "--seeds", "1", "--heads", "logreg,propagate", "--baselines", "pixels",
             "--val-per-class", "1", "--no-progress"],
            ["select", str(run), "--timesteps", "10", "--blocks", "up0", "--shots", "1", "--seeds", "1", "--val-per-class", "1",
             "--no-progress"],
            ["fit", str(run), "--out", str(model)],
            ["predict", str(model), str(tmp_path / "data" / "test")],
            ["report", str(run), "--no-umap"],
        ]
        for argv in commands:
            code = main(argv)
            captured = capsys.readouterr()
            assert "Traceback" not in captured.err, (argv, captured.err)
            if code != 0:
                assert code == 2 and captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1, \
                    (argv, code, captured.err)
                assert argv[0] == "select" and name != "ddpm", (argv, captured.err)  # only select is backbone-specific
        assert json.loads((run / "config.json").read_text())["status"] == "pretrained"


@pytest.mark.parametrize("option, value, wanted", [
    ("--epochs", "-1", "--epochs must be 0 or more"),
    ("--batch-size", "0", "--batch-size must be at least 1"),
    ("--lr", "0", "--lr must be a positive number"),
    ("--lr", "-0.1", "--lr must be a positive number"),
    ("--checkpoint-every", "0", "--checkpoint-every must be at least 1"),
    ("--image-size", "0", "(--image-size) must be a whole number of pixels between 8 and 256"),
    ("--image-size", "5000", "(--image-size) must be a whole number of pixels between 8 and 256"),
])
def test_out_of_range_numbers_are_refused_before_anything_is_written(tmp_path, capsys, option, value, wanted):
    run = tmp_path / "run"
    err = one_sentence(capsys, main(["pretrain", "--run", str(run), "--epochs", "1", option, value, "--no-progress"]))
    assert wanted in err and not run.exists()


def test_two_commands_writing_one_run_folder(tmp_path, capsys):
    """A second command on a run folder that another is writing is refused in one sentence (an flock, which the
    kernel releases when the holder dies)."""
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from fewgen.rundir import run_lock\n"
                               "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = files_under(run)
        err = one_sentence(capsys, main(["evaluate", str(run), "--shots", "1", "--seeds", "1", "--baselines", "",
                                         "--heads", "logreg", "--no-progress"]))
        assert "is writing" in err and f"pid {holder.pid}" in err and files_under(run) == before
        model = tmp_path / "model"
        err = one_sentence(capsys, main(["fit", str(run), "--out", str(model), "--shots", "2"]))  # fit writes the cache too
        assert "is writing" in err and files_under(run) == before and not model.exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["evaluate", str(run), "--shots", "1", "--seeds", "1", "--baselines", "", "--heads", "logreg",
                 "--no-progress"]) == 0  # the lock died with its holder


def test_a_full_disk_is_one_sentence_and_keeps_what_was_written(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    before = files_under(run)
    import fewgen.atomic

    real_replace = os.replace

    def full(source, target):
        if str(target).endswith("summary.txt"):
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real_replace(source, target)

    monkeypatch.setattr(fewgen.atomic.os, "replace", full)
    err = one_sentence(capsys, main(["evaluate", str(run), "--shots", "1", "--seeds", "1", "--baselines", "",
                                     "--heads", "logreg", "--no-progress"]))
    assert "no space left" in err.lower() and "summary.txt" in err
    after = files_under(run)
    assert all(after[name] == content for name, content in before.items() if name != "results.jsonl")
    assert not [name for name in after if name.endswith(".tmp")]  # no half-written file left behind


def test_a_wrong_image_size_is_one_sentence(tmp_path, capsys):
    """The folder changed after pretraining (its images are now in colour): evaluate says so in one sentence instead
    of a shape error deep inside torch, and writes nothing. Their size is kept: pretrain records the side it read."""
    data = small_folder(tmp_path / "data", side=8)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{data}", "--backbone", "vae", "--epochs", "1",
                 "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]) == 0
    capsys.readouterr()
    for labeled in (data / "labeled").rglob("*.png"):
        Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(labeled)
    before = files_under(run)
    err = one_sentence(capsys, main(["evaluate", str(run), "--shots", "1", "--seeds", "1", "--val-per-class", "1",
                                     "--baselines", "", "--heads", "logreg", "--no-progress"]))
    assert "now reads as 3x8x8 images" in err and "trained on 1x8x8" in err and files_under(run) == before


@pytest.mark.parametrize("option, value, wanted", [
    ("--seeds", "0", "--seeds must be at least 1"),
    ("--resnet-steps", "0", "--resnet-steps must be at least 1"),
    ("--fixmatch-steps", "-3", "--fixmatch-steps must be at least 1"),
    ("--baseline-option", "fixmatch.mu=x", "option --baseline-option fixmatch.mu=x is not a valid int"),
    ("--baseline-option", "resnet18.depth=50", "unknown option '--baseline-option resnet18.depth'"),
    ("--baseline-option", "resnet18=50", "--baseline-option takes NAME.KEY=VALUE"),
    ("--baseline-option", "meanteacher.steps=5", "unknown baseline 'meanteacher' in --baseline-option"),
    ("--baselines", "meanteacher", "unknown baseline 'meanteacher'"),
])
def test_out_of_range_evaluate_settings_are_refused_before_any_row(tmp_path, capsys, option, value, wanted):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    capsys.readouterr()
    before = files_under(run)
    err = one_sentence(capsys, main(["evaluate", str(run), "--heads", "logreg", option, value, "--no-progress"]))
    assert wanted in err and files_under(run) == before


@pytest.mark.parametrize("args, wanted", [
    (["--students", "tiny"], "unknown student 'tiny' in --students"),
    (["--students", "encoder"], "the encoder student fine-tunes the backbone's own feature path, and the pixels backbone has none"),
    (["--students", "small", "-S", "steps=0"], "--student-option steps must be at least 1, got 0"),
    (["--students", "small", "-S", "depth=3"], "unknown option '--student-option depth'"),
    (["--students", "small", "--teacher", "mlp"], "--teacher mlp is not among --heads (logreg)"),
    (["--students", "small", "--transductive"], "--students learn from the pool, never from the test images"),
    (["--baselines", "fixmatch", "-B", "fixmatch.network=vit"], "--baseline-option fixmatch.network must be one of resnet18, small"),
])
def test_bad_student_settings_are_one_sentence_before_any_row(tmp_path, capsys, args, wanted):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    capsys.readouterr()
    before = files_under(run)
    err = one_sentence(capsys, main(["evaluate", str(run), "--heads", "logreg", *args, "--no-progress"]))
    assert wanted in err and files_under(run) == before


def _no_space_in_safetensors(monkeypatch, when) -> None:
    """safetensors' writer fails as it does on a full disk (a half-written file, then SafetensorError) for the paths
    that ``when(path)`` picks."""
    import fewgen.atomic
    from safetensors import SafetensorError

    real = fewgen.atomic.save_file

    def full(tensors, path, metadata=None):
        if when(Path(path)):
            Path(path).write_bytes(b"half")
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                                  '"No space left on device" })')
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(fewgen.atomic, "save_file", full)


def test_pretrain_on_a_full_disk_keeps_its_last_checkpoint_and_resumes(tmp_path, capsys, monkeypatch):
    """The second epoch's checkpoint meets a full disk: one sentence naming it, with the space it needs; no empty or
    half-written checkpoint folder; the first epoch's checkpoint is kept, and --resume (as the sentence says)
    finishes the run."""
    run = tmp_path / "run"
    checkpoints = []

    def second_checkpoint(path: Path) -> bool:
        folder = path.parent.name.lstrip(".").split(".")[0]  # written in .step_N.XXXX.tmp/, renamed to step_N/
        if folder.startswith("step_") and folder not in checkpoints:
            checkpoints.append(folder)
        return len(checkpoints) >= 2

    _no_space_in_safetensors(monkeypatch, second_checkpoint)
    args = ["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "2", "-o", "channels=8",
            "-o", "latent_dim=4", "--no-progress"]
    err = one_sentence(capsys, main(args))
    assert "no space left on the disk of" in err and "MB needed" in err and "MB free" in err
    assert "step_" in err and "--resume" in err and err.count("free some space") == 1
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == ["latest.json", checkpoints[0]], kept  # no empty step folder, no temporary folder
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    assert (run / "backbone").is_dir() and json.loads((run / "config.json").read_text())["status"] == "pretrained"


def test_fit_on_a_full_disk_is_one_sentence_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """Copying the backbone into the model folder fails as shutil.copytree does on a full disk; and a disk that is
    already too small is refused before any fitting."""
    import shutil

    import fewgen.atomic
    import fewgen.classifier

    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "1", "-o", "channels=8",
                 "-o", "latent_dim=4", "--no-progress"]) == 0
    capsys.readouterr()

    def full(source, target, **kwargs):
        raise shutil.Error([(str(source), str(target), "[Errno 28] No space left on device")])

    monkeypatch.setattr(fewgen.classifier.shutil, "copytree", full)
    err = one_sentence(capsys, main(["fit", str(run), "--out", str(tmp_path / "model"), "--shots", "2"]))
    assert f"no space left on the disk of {tmp_path / 'model'}" in err and "the features are cached" in err
    assert sorted(os.listdir(tmp_path)) == ["run"]  # nothing half-written beside it
    monkeypatch.undo()
    monkeypatch.setattr(fewgen.atomic.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    err = one_sentence(capsys, main(["fit", str(run), "--out", str(tmp_path / "model"), "--shots", "2"]))
    assert "MB needed, 0.0 MB free" in err and sorted(os.listdir(tmp_path)) == ["run"]


def test_evaluate_on_a_full_disk_keeps_whole_rows_and_continues(tmp_path, capsys, monkeypatch):
    """The disk fills while the third row is appended (half of it written): one sentence naming results.jsonl;
    the file ends with the second whole row, and the same command, run again, continues from there."""
    import fewgen.atomic

    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    args = ["evaluate", str(run), "--shots", "1,2", "--seeds", "2", "--baselines", "", "--heads", "logreg", "--no-progress"]
    real_write, writes = os.write, []

    def filling(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("results.jsonl"):
            writes.append(data)
            if len(writes) == 3:
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(fewgen.atomic.os, "write", filling)
    capsys.readouterr()
    err = one_sentence(capsys, main(args))
    assert f"no space left on the disk of {run / 'results.jsonl'}" in err
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]  # whole rows only
    assert [(row["shots"], row["seed"]) for row in rows] == [(1, 0), (1, 1)]
    monkeypatch.undo()
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert sorted((row["shots"], row["seed"]) for row in rows) == [(1, 0), (1, 1), (2, 0), (2, 1)]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("vae") / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "1", "-o", "channels=8",
                 "-o", "latent_dim=4", "--no-progress"]) == 0
    return run


@pytest.mark.parametrize("args, wanted", [
    (["-S", "steps=5"], "--student-option is given, and no --students to train with it"),
    (["-B", "fixmatch.steps=5"], "settings are given for the fixmatch baseline"),
    (["--fixmatch-steps", "5"], "settings are given for the fixmatch baseline"),
    (["--baselines", "mixmatch", "-B", "mixmatch.lambda_u=-1"], "--baseline-option mixmatch.lambda_u must be at least 0"),
    (["--baselines", "fixmatch", "-B", "fixmatch.lr=0"], "--baseline-option fixmatch.lr must be above 0"),
    (["--baselines", "fixmatch", "-B", "fixmatch.precision=fp16"], "--baseline-option fixmatch.precision must be one of"),
    (["--students", "small", "-S", "lambda_u=-1"], "--student-option lambda_u must be at least 0"),
    (["--students", "small", "-S", "foo=1"], "unknown option '--student-option foo'; the settings are: steps"),
    (["--heads", "attention"], "--heads attention reads spatial tokens, and the vae backbone's features have none"),
    (["--val-per-class", "0"], "--val-per-class 0 leaves no validation draw"),
])
def test_options_that_would_do_nothing_or_cannot_work_are_refused_before_any_work(vae_run, capsys, args, wanted):
    capsys.readouterr()
    before = files_under(vae_run)
    err = one_sentence(capsys, main(["evaluate", str(vae_run), "--heads", "logreg", "--baselines", "", *args,
                                     "--no-progress"]))
    assert wanted in err and "Config" not in err and files_under(vae_run) == before


def test_a_run_folder_of_another_major_version_is_refused(vae_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "old"
    shutil.copytree(vae_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "fewgen_version": "7.0.0"}))
    for command in (["evaluate", str(run), "--no-progress"], ["fit", str(run), "--out", str(tmp_path / "m")]):
        err = one_sentence(capsys, main(command))
        assert f"run folder {run} was written by fewgen 7.0.0" in err


def test_predict_given_a_run_folder_says_how_to_make_a_model(vae_run, capsys):
    err = one_sentence(capsys, main(["predict", str(vae_run), str(vae_run / "samples.png")]))
    assert f"{vae_run} is a run folder, not a model folder; make a model from it with 'fewgen fit {vae_run} --out MODEL'" in err


def test_fit_refuses_student_options_without_a_student_and_attention_on_a_vae(vae_run, tmp_path, capsys):
    err = one_sentence(capsys, main(["fit", str(vae_run), "--out", str(tmp_path / "m"), "--shots", "2", "-S", "steps=5"]))
    assert "--student-option is given, and no --student to train with it" in err
    err = one_sentence(capsys, main(["fit", str(vae_run), "--out", str(tmp_path / "m"), "--shots", "2", "--head", "attention"]))
    assert "--head attention reads spatial tokens" in err and not (tmp_path / "m").exists()


def test_select_refuses_a_pool_larger_than_the_feature_map_and_says_n1_for_one_seed(ddpm_run, capsys):
    capsys.readouterr()
    before = files_under(ddpm_run)
    err = one_sentence(capsys, main(["select", str(ddpm_run), "--spatial-pool", "99x99", "--no-progress"]))
    assert "--spatial-pool 99x99 is larger than the" in err and files_under(ddpm_run) == before
    err = one_sentence(capsys, main(["select", str(ddpm_run), "--val-per-class", "0", "--no-progress"]))
    assert "--val-per-class must be at least 1" in err
    assert main(["select", str(ddpm_run), "--timesteps", "10", "--blocks", "up0", "--spatial-pool", "mean", "--seeds", "1",
                 "--shots", "1", "--heads", "logreg", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "(n=1)" in out and "± 0.0" not in out


def test_pretrain_says_how_long_its_pictures_took_and_keeps_the_run_when_they_cannot_be_written(tmp_path, capsys,
                                                                                               monkeypatch):
    """The sample grid and the reconstructions are drawn after the run is saved, timed, and said; a full disk
    while drawing them is a warning, not a lost pretraining."""
    import fewgen.atomic
    import fewgen.commands

    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "vae", "--epochs", "1", "-o", "channels=8",
                 "-o", "latent_dim=4", "--no-progress"]) == 0
    assert "drew samples.png and reconstructions.png in" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["pictures_seconds"] >= 0

    def full(images, path, nrow=None):  # the PNG's atomic write meets a full disk
        with fewgen.atomic.atomic_path(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(fewgen.commands, "save_sample_grid", full)
    other = tmp_path / "other"
    assert main(["pretrain", "--run", str(other), "--backbone", "vae", "--epochs", "1", "-o", "channels=8",
                 "-o", "latent_dim=4", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: samples.png was not drawn: no space left on the disk of" in err
    config = json.loads((other / "config.json").read_text())
    assert config["status"] == "pretrained" and "samples" not in config and (other / "backbone").is_dir()
