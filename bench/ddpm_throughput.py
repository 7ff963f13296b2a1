"""Feature-extraction throughput of a pretrained ddpm run on its own train images (images/s).

usage: python bench/ddpm_throughput.py RUN [N=2048] [BATCH=256]
Measures the default spec (every up block, one timestep) at the run's auto precision, after one warm-up batch.
"""

import sys
import time
from pathlib import Path

import torch

from fewgen.backbones import load_backbone
from fewgen.data import load_source
from fewgen.features import extract_features
from fewgen.rundir import read_run_config

run = Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 256
backbone = load_backbone(run / "backbone", "ddpm")
images = load_source(read_run_config(run)["dataset"]).train.images[:n]
spec = backbone.default_specs()[0]
extract_features(backbone, images[:batch], spec, batch)  # warm-up
started = time.perf_counter()
features = extract_features(backbone, images, spec, batch)
seconds = time.perf_counter() - started
print(f"ddpm {backbone.config.preset} {tuple(images.shape[1:])} precision={backbone.feature_precision()} "
      f"threads={torch.get_num_threads()} batch={batch}: {n / seconds:.0f} images/s ({n} images, dim {features.shape[1]})")
