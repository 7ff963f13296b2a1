"""Shared fixtures: the embedded digits source and a tiny pretrained VAE run."""

from __future__ import annotations

import pytest
import torch

from fewgen.data import load_source

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    return load_source("digits")


@pytest.fixture(autouse=True)
def seeded_torch():
    """Each test starts from the same global RNG state, so a result never depends on which tests ran before it."""
    torch.manual_seed(0)
