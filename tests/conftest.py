"""Shared fixtures: the embedded digits source, and a tiny DDPM pretrained on it (one per test module, which may
write to it)."""

from __future__ import annotations

import pytest
import torch

from fewgen.cli import main
from fewgen.data import load_source

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    return load_source("digits")


@pytest.fixture(autouse=True)
def seeded_torch():
    """Each test starts from the same global RNG state, so a result never depends on which tests ran before it."""
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "ddpm"
    assert main(["pretrain", "--run", str(run), "--data", "digits", "--backbone", "ddpm", "-o", "preset=tiny",
                 "--epochs", "1", "--no-progress"]) == 0
    return run
