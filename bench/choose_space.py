"""Which space to choose in (issue 40): TypiClust in the standardised, PCA-whitened features (what `suggest` and
`evaluate --budgets` use) against TypiClust in the pool's 10-d UMAP embedding of the same features, scored by the same
two heads on the same seeds: logreg on the chosen images, and label spreading over the pool (features space).

usage: python bench/choose_space.py RUN [--budgets 10,20,40,80,160] [--seeds 5]
Reads the run's default features from its cache (RUN/features; run `fewgen evaluate` first, or they are extracted).
The pool is the train split minus the fixed validation draw; an oracle reveals the chosen images' labels. One UMAP
fit (seed 0, 15 neighbours, min_dist 0) serves every seed. Prints validation and test accuracy (mean ± 95% CI) per
space, head and B, and the paired test difference umap − whitened.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from fewgen.choosing import UNLABELED, choose, embed
from fewgen.cpu import vector_flags
from fewgen.data.splits import FIXED_VAL_PER_CLASS, pool_targets, validation_draw
from fewgen.features import FeatureCache
from fewgen.heads import PoolMemory, make_head
from fewgen.heads.pool import PoolSpace
from fewgen.rundir import open_run
from fewgen.stats import mean_ci

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("run", type=Path)
parser.add_argument("--budgets", default="10,20,40,80,160")
parser.add_argument("--seeds", type=int, default=5)
args = parser.parse_args()
budgets = [int(b) for b in args.budgets.split(",")]
backbone, checkpoint, source = open_run(args.run, None, None, "auto")
spec = backbone.default_specs()[0]
labels = source.train.labels.numpy()
val = validation_draw(labels, FIXED_VAL_PER_CLASS, source.class_names)
pool = np.setdiff1d(np.arange(len(labels)), val)
cache = FeatureCache(args.run)
X = np.asarray(cache.get(backbone, checkpoint, spec, "train", pool, source.train.images, mmap=True))
X_val = cache.get(backbone, checkpoint, spec, "train", val, source.train.images)
X_test = cache.get(backbone, checkpoint, spec, "test", np.arange(len(source.test)), source.test.images)
y_test = source.test.labels.numpy()
print(f"{args.run}: {backbone.name} {spec.label()}, pool {len(pool)}, test {len(y_test)}; cpu flags: {vector_flags()}")
started = time.perf_counter()
umap_space = PoolSpace("umap", "feature", PoolMemory()).fit(X)
print(f"UMAP of the pool: {time.perf_counter() - started:.0f} s")
memory = PoolMemory()
scores = {}  # (space, head, B) -> [(val, test)] per seed
for seed in range(args.seeds):
    spaces = {"whitened": embed(X, seed), "umap": umap_space}
    for name, space in spaces.items():
        for budget in budgets:
            picked = choose(None, np.full(len(pool), UNLABELED), budget, "typiclust", seed, len(source.class_names),
                            space=space, clusters=False).indices
            y_pool = pool_targets(pool, pool[picked], labels)
            heads = {"logreg": lambda: make_head("logreg", random_state=seed).fit(X[picked], labels[pool[picked]]),
                     "propagate": lambda: make_head("propagate", random_state=seed, memory=memory).fit(X, y_pool)}
            for head, fit in heads.items():
                model = fit()
                scores.setdefault((name, head, budget), []).append(
                    (float((model.predict(X_val) == labels[val]).mean()), float((model.predict(X_test) == y_test).mean())))
    print(f"seed {seed} done")

print(f"{'space':9} {'head':10} {'B':>4} {'val':>6} {'test':>14} {'umap - whitened (test, paired)':>32}")
for (name, head, budget), values in sorted(scores.items(), key=lambda item: (item[0][1], item[0][2], item[0][0])):
    test_mean, test_ci = mean_ci([100 * t for _, t in values])
    line = f"{name:9} {head:10} {budget:4d} {100 * np.mean([v for v, _ in values]):6.1f} {test_mean:7.1f} ± {test_ci:4.1f}"
    if name == "umap":
        diff = mean_ci([100 * (u - w) for (_, u), (_, w) in zip(values, scores[("whitened", head, budget)])])
        line += f" {diff[0]:+24.1f} ± {diff[1]:.1f}"
    print(line)
