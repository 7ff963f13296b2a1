"""Feature-extraction throughput of a pretrained ddpm run on its own train images (images/s).

usage: python bench/ddpm_throughput.py RUN [N=2048] [BATCH=256]
Measures the default spec (up0 at t = 50, 4x4 cells) at the run's auto precision, after one warm-up batch, twice:
as fewgen reads it (the UNet's forward pass ends after the last block the spec reads) and through the whole UNet
(the pass before that change), and checks that the two give the same features.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

from fewgen.backbones import load_backbone, unet_blocks
from fewgen.cpu import vector_flags
from fewgen.data import load_source
from fewgen.features import extract_features
from fewgen.rundir import read_run_config

run = Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 256
backbone = load_backbone(run / "backbone", "ddpm")
images = load_source(read_run_config(run)["dataset"]).train.images[:n]
spec = backbone.default_specs()[0]
print(f"cpu flags: {vector_flags()}")
read = {}
for label, early in (("to the last block read", True), ("whole UNet", False)):
    unet_blocks.END_PASS_EARLY = early
    extract_features(backbone, images[:batch], spec, batch)  # warm-up
    started = time.perf_counter()
    read[label] = extract_features(backbone, images, spec, batch)
    seconds = time.perf_counter() - started
    print(f"ddpm {backbone.config.preset} {tuple(images.shape[1:])} {spec.label()} precision={backbone.feature_precision()} "
          f"threads={torch.get_num_threads()} batch={batch}, {label}: {n / seconds:.0f} images/s ({n} images, "
          f"dim {read[label].shape[1]})")
print("same features:", bool(np.array_equal(*map(np.asarray, read.values()))))
