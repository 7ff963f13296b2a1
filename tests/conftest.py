"""Shared fixtures: the embedded digits source and a tiny pretrained VAE run."""

from __future__ import annotations

import pytest
import torch

from fewgen.data import load_source

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    return load_source("digits")
