"""One-off costs of the pool heads on a run (issue 12): extracting the pool's features, fitting UMAP on them,
embedding the test split, and the neighbour graphs; then one draw of each head, all from a cold in-memory
cache (nothing read from RUN/features/pool). Prints seconds per step and the machine's CPU flags.

usage: python bench/pool_costs.py RUN [--part stacked] [--scaling feature]
"""

import argparse
import time
from pathlib import Path

from fewgen.backbones.base import FeatureSpec
from fewgen.cpu import vector_flags
from fewgen.data.splits import Draws
from fewgen.features import extract_features
from fewgen.heads import PoolMemory, make_head
from fewgen.heads.pool import PoolSpace
from fewgen.rundir import open_run
from fewgen.data.splits import pool_targets, unlabeled_pool

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("run", type=Path)
parser.add_argument("--part", default=None)
parser.add_argument("--scaling", default="feature")
args = parser.parse_args()
print("cpu flags:", vector_flags() or "none of avx2/avx512")
backbone, checkpoint, source = open_run(args.run, None, None, "auto")
spec = FeatureSpec(part=args.part) if args.part else backbone.default_specs()[0]
draws = Draws.make(source, (1,), 1)
pool = unlabeled_pool(source.train.labels, exclude=draws.val)


def timed(label, fn):
    started = time.perf_counter()
    value = fn()
    print(f"{label}: {time.perf_counter() - started:.1f} s")
    return value


X = timed(f"extract {len(pool)} pool images ({backbone.name}, {spec.label()})",
          lambda: extract_features(backbone, source.train.images[pool], spec))
test = timed(f"extract {len(source.test)} test images", lambda: extract_features(backbone, source.test.images, spec))
print(f"feature dimension {X.shape[1]}; pool {X.shape[0]} rows")
memory = PoolMemory()
umap_space = PoolSpace("umap", args.scaling, memory)
timed("UMAP fit on the pool (10-d, 15 neighbours, seeded)", lambda: umap_space.fit(X))
timed("UMAP transform of the test split", lambda: umap_space.transform(test))
y = pool_targets(pool, draws.labeled[(1, 0)], source.train.labels)
for name, params in [("propagate", {"space": "features"}), ("propagate", {"space": "umap"}),
                     ("umap", {}), ("selftrain", {"space": "features"}), ("selftrain", {"space": "umap"})]:
    head = make_head(name, memory=memory, scaling=args.scaling, **params)
    before = memory.seconds
    timed(f"{name} {params} first draw (fit + test predict)", lambda: head.fit(X, y).predict(test))
    print(f"   of which label-free steps (graph, neighbours of the test split): {memory.seconds - before:.1f} s")
    timed(f"{name} {params} next draw (fit + test predict, cached steps)", lambda: make_head(
        name, memory=memory, scaling=args.scaling, **params).fit(X, y).predict(test))
