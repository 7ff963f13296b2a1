"""``fewgen pretrain`` as users launch it: killed with SIGKILL and resumed, and data parallel under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.test_train import torchrun

ROOT = Path(__file__).resolve().parents[1]
TINY_DDPM = ["pretrain", "--data", "digits", "--backbone", "ddpm", "-o", "preset=tiny", "--batch-size", "16",
             "--schedule", "cosine", "--no-progress"]


def fewgen(*args: str) -> subprocess.Popen:
    """``python -m fewgen ARGS`` in a new process (one thread, so runs repeat bit for bit)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "fewgen", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return out


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after the first step checkpoint, then --resume: the weights equal an uninterrupted run's, bit for bit,
    and the resumed process trained only the steps that were left (it did not start again from scratch)."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    budget = ["--epochs", "4", "--checkpoint-every", "30"]
    finish(fewgen(*TINY_DDPM, *budget, "--run", str(straight)))
    process = fewgen(*TINY_DDPM, *budget, "--run", str(killed))
    latest = killed / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 240
    while not latest.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "backbone").exists()
    stopped_at = int(json.loads(latest.read_text())["folder"].split("_")[1])
    steps = json.loads((straight / "config.json").read_text())["pretrain"]["steps"]
    assert 0 < stopped_at < steps and stopped_at % 81  # mid-epoch: 1297 // 16 = 81 steps per epoch

    out = finish(fewgen(*TINY_DDPM, *budget, "--run", str(killed), "--resume"))
    summary = json.loads((killed / "config.json").read_text())["pretrain"]
    assert summary["resumed_from_step"] >= stopped_at and summary["steps"] == steps and f"resumed at step {summary['resumed_from_step']}" in out
    weights = "backbone/model.safetensors"
    assert (killed / weights).read_bytes() == (straight / weights).read_bytes()


def test_resume_refuses_to_stretch_a_cosine_schedule(tmp_path):
    run = tmp_path / "r"
    finish(fewgen(*TINY_DDPM, "--epochs", "1", "--run", str(run)))
    process = fewgen(*TINY_DDPM, "--epochs", "2", "--run", str(run), "--resume")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2
    assert err.strip() == ("error: --resume: the cosine schedule was laid out for 81 steps (--epochs 1) and would now be 162; "
                           "resume with --epochs 1, or train a new --run (the constant schedule can be extended)")


def test_two_processes_pretrain_and_only_the_main_one_writes(tmp_path):
    run = tmp_path / "r"
    done = torchrun("cli", str(tmp_path), *TINY_DDPM, "--epochs", "1", "--run", str(run))
    assert done.stdout.count("pretrained ddpm") == 1
    config = json.loads((run / "config.json").read_text())
    assert config["pretrain"]["processes"] == 2 and config["pretrain"]["steps"] == 1297 // 16 and config["status"] == "pretrained"
    writes = [json.loads((tmp_path / f"writes-{rank}.json").read_text()) for rank in (0, 1)]
    assert writes[1] == []
    written = {str(Path(p).relative_to(run)) for p in writes[0]}
    assert {"config.json", "backbone/model.safetensors", "samples.png", "checkpoints/latest.json"} <= written


def test_pretrain_from_a_diffusers_unet_with_no_epochs_keeps_its_features(tmp_path, digits):
    from fewgen.backbones import FeatureSpec, load_backbone
    from fewgen.cli import main

    source, started = tmp_path / "source", tmp_path / "started"
    assert main([*TINY_DDPM, "--epochs", "1", "--run", str(source)]) == 0
    assert main(["pretrain", "--data", "digits", "--backbone", "ddpm", "-o", f"from_pretrained={source / 'backbone' / 'diffusers'}",
                 "--epochs", "0", "--run", str(started), "--no-progress"]) == 0
    assert json.loads((started / "config.json").read_text())["pretrain"]["steps"] == 0
    x, spec = digits.test.images[:8], FeatureSpec(layers=("up0", "mid"), timestep=(50,))
    features = []
    for run in (source, started):
        backbone = load_backbone(run / "backbone")
        backbone.precision = "fp32"
        features.append(backbone.features(x, spec))
    assert torch.equal(*features)
