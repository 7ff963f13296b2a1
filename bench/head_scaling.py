"""Choose how heads standardise features, on the VALIDATION draw only (never test).

For raw pixels and each of the run's backbone feature specs, fit logreg with
``scaling=feature`` (per-feature StandardScaler) and ``scaling=global`` (centre,
one common scale) on every labeled draw, and print the mean validation accuracy.

usage: python bench/head_scaling.py RUN [SHOTS=1,2,4,16] [SEEDS=5]
"""

import sys
from pathlib import Path

import numpy as np

from fewgen.backbones import checkpoint_hash, load_backbone
from fewgen.backbones.pixels import PixelsBackbone
from fewgen.backbones.base import FeatureSpec
from fewgen.data import load_source
from fewgen.evaluate import EvalConfig, Evaluation
from fewgen.heads import make_head
from fewgen.rundir import read_run_config

run = Path(sys.argv[1])
shots = tuple(int(k) for k in (sys.argv[2] if len(sys.argv) > 2 else "1,2,4,16").split(","))
seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
source = load_source(read_run_config(run)["dataset"])
evaluation = Evaluation(run, source, EvalConfig(shots=shots, seeds=seeds, progress=False), eval_id="head-scaling")
backbone = load_backbone(run / "backbone")
candidates = [("pixels", PixelsBackbone(image_shape=source.image_shape), "-", FeatureSpec())]
candidates += [(f"{backbone.name}[{s.label()}]", backbone, checkpoint_hash(run / "backbone"), s) for s in backbone.default_specs()]
draws = evaluation.draws
y_val = evaluation.y_train[draws.val]
print(f"{source.name}: logreg validation accuracy (%), {seeds} seeds, {len(draws.val)} validation images")
for name, model, checkpoint, spec in candidates:
    union = evaluation.cache.get(model, checkpoint, spec, "train", draws.union, source.train.images)
    val = evaluation.cache.get(model, checkpoint, spec, "train", draws.val, source.train.images)
    for scaling in ("feature", "global"):
        means = []
        for k in shots:
            accs = []
            for seed in range(seeds):
                idx = draws.labeled[(k, seed)]
                head = make_head("logreg", random_state=seed, scaling=scaling)
                head.fit(union[np.searchsorted(draws.union, idx)], evaluation.y_train[idx])
                accs.append((head.predict(val) == y_val).mean())
            means.append(f"k={k}: {100 * np.mean(accs):5.1f}")
        print(f"  {name:<22} scaling={scaling:<8} " + "  ".join(means))
