"""Validation-only comparison of DDPM feature variants beyond `fewgen select`'s sweep.

usage: python bench/ddpm_variants.py RUN
For each spec below, fits the heads on the same seeded 16-per-class draws `select` uses and scores them on
the validation draw (train split). Never reads the test split and writes nothing to results.jsonl; features
go to the run's feature cache. The spec to evaluate on test is then the best one here.
"""

import sys
from pathlib import Path

from fewgen.backbones import FeatureSpec, load_backbone
from fewgen.backbones.base import checkpoint_hash
from fewgen.data import load_source
from fewgen.features import FeatureCache
from fewgen.rundir import read_run_config
from fewgen.timestep_select import SelectionDraws
from fewgen.stats import mean_ci

run = Path(sys.argv[1])
backbone = load_backbone(run / "backbone", "ddpm")
checkpoint = checkpoint_hash(run / "backbone")
source = load_source(read_run_config(run)["dataset"])
draws = SelectionDraws.make(source, shots=16, seeds=5, val_per_class=16)  # the draws `fewgen select` uses
up = ("up0", "up1", "up2")
variants = [
    FeatureSpec(layers=("up0",), timestep=(50,)),
    FeatureSpec(layers=("up0",), timestep=(50,), weights="raw"),
    FeatureSpec(layers=("up0",), timestep=(50, 100)),
    FeatureSpec(layers=("up0",), timestep=(0, 50, 100, 200)),
    FeatureSpec(layers=up, timestep=(50, 100)),
    FeatureSpec(layers=("up0",), timestep=(50,), pool="2x2"),
    FeatureSpec(layers=("up0", "up1"), timestep=(50,), pool="2x2"),
    FeatureSpec(layers=("up0",), timestep=(50, 100), pool="2x2"),
    FeatureSpec(layers=(*up, "mid"), timestep=(50, 100), pool="2x2"),
]
cache = FeatureCache(run)
print(f"{'spec':<50} {'head':<22} val accuracy (16/class, 5 seeds)")
for spec in variants:
    x = cache.get(backbone, checkpoint, spec, "train", draws.union, source.train.images)
    for head_name, params in (("mlp", {}), ("logreg", {}), ("logreg", {"scaling": "global"})):
        mean, half = mean_ci([draws.score(x, seed, head_name, **params) for seed in draws.labeled])
        label = head_name + (f"({params})" if params else "")
        print(f"{spec.label():<50} {label:<22} {100 * mean:5.1f} ± {100 * half:.1f}   (dim {x.shape[1]})", flush=True)
