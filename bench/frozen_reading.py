"""How a head reads frozen features, compared on the VALIDATION draw only (test is never read here).

For one run and each feature spec (from the run's feature cache; a miss extracts the draws and the validation
images, and the pool when a pool variant runs), fit variants of the labeled-only and pool heads on every labeled draw and print the mean validation
accuracy per k:

- ``logreg``: standardised on the labeled draw (today's head), at each ``--C``;
- ``logreg pool-std``: standardised with the unlabeled pool's per-feature mean and deviation (label-free);
- ``centroid CL2N``: SimpleShot's nearest class mean after centring on the pool's mean and L2 normalisation
  (Wang et al. 2019);
- ``propagate``: label spreading on the 10-NN graph of the pool in the standardised features (today's head)
  and in CL2N (cosine) space;
- ``flip`` (not run unless named in ``--only``): logreg on the mean of the features of each image and of its
  horizontal mirror (each block's cells mirrored back, so that a cell reads the same part of the object), and
  logreg trained on both views as two examples; the mirrors' features are extracted here, never cached.

usage: python bench/frozen_reading.py RUN [--shots 1,2,4,8,16] [--seeds 5] [--timesteps 50+100]
       [--blocks up0+up1+up2+mid] [--pool 2x2] [--combine concat|mean] [--only logreg,pool-std,centroid,propagate,flip]
       [--C 1,0.1,0.01]

--timesteps takes several specs, comma-separated (50+100,25+50): each is read and scored in turn.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
import torch

from fewgen.data.splits import pool_targets
from fewgen.feature_spec import FeatureSpec
from fewgen.features import extract_features
from fewgen.heads import PoolMemory, make_head
from fewgen.heads.propagate import _symmetric_connectivity
from spec_options import add_spec_options, open_bench_run, specs_of  # bench/, beside this script

parser = argparse.ArgumentParser()
parser.add_argument("run", type=Path)
parser.add_argument("--shots", default="1,2,4,8,16")
parser.add_argument("--seeds", type=int, default=5)
add_spec_options(parser, pool="2x2")
parser.add_argument("--combine", default="concat", choices=("concat", "mean"), help="how +-joined timesteps join")
parser.add_argument("--only", default="logreg,pool-std,centroid,propagate")
parser.add_argument("--C", default="1,0.1,0.01", help="logreg's inverse regularisation strengths")
args = parser.parse_args()
shots = tuple(int(k) for k in args.shots.split(","))
only = set(args.only.split(","))

source, evaluation, backbone, checkpoint = open_bench_run(args.run, shots, args.seeds, eval_id="reading")
draws, y_train = evaluation.draws, evaluation.y_train
y_val = y_train[draws.val]


def features(spec: FeatureSpec):
    """(the labeled draws' union, validation, and the pool when a pool variant runs) of ``spec``, from the cache."""
    union = evaluation.cache.get(backbone, checkpoint, spec, "train", draws.union, source.train.images)
    val = np.asarray(evaluation.cache.get(backbone, checkpoint, spec, "train", draws.val, source.train.images), np.float64)
    pool = np.asarray(evaluation.cache.get(backbone, checkpoint, spec, "train", evaluation.pool, source.train.images,
                                           mmap=True), np.float64) if only & {"pool-std", "centroid", "propagate"} else None
    return union, val, pool


def cl2n(x: np.ndarray) -> np.ndarray:
    """Centre on the pool's mean, then scale each row to unit length (SimpleShot's CL2N)."""
    x = x - pool_mean
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def labeled(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = draws.labeled[(k, seed)]
    return np.asarray(union[np.searchsorted(draws.union, idx)], np.float64), y_train[idx]


def logreg(C: float):
    """Today's ``logreg`` head (standardised on the labeled draw) at ``C``."""
    return lambda x, y: make_head("logreg", C=C).fit(x, y).predict(val)


def pool_standardised_logreg(C: float):
    """Logistic regression on the features standardised with the unlabeled pool's mean and deviation."""
    def score(x, y):
        model = LogisticRegression(C=C, max_iter=1000).fit(pool_scaler.transform(x), y)
        return model.predict(pool_scaler.transform(val))
    return score


def centroid(x, y):
    z, classes = cl2n(x), np.unique(y)
    means = np.stack([z[y == c].mean(axis=0) for c in classes])
    return classes[np.argmax(cl2n(val) @ means.T, axis=1)]


def propagate_head():
    """Today's ``propagate`` head (features space: the pool standardised, its 10-NN graph), on the pool."""
    memory = PoolMemory()  # one graph for every draw
    return lambda x, y, k, seed: make_head("propagate", memory=memory).fit(
        pool, pool_targets(evaluation.pool, draws.labeled[(k, seed)], y_train)).predict(val)


def cosine_spreading():
    """Label spreading on the 10-NN graph of the pool in CL2N (cosine) space; a new image takes the mean label
    distribution of its 10 nearest pool images, as the ``propagate`` head does."""
    started = time.perf_counter()
    z_pool = cl2n(pool)
    index = NearestNeighbors().fit(z_pool)
    graph = _symmetric_connectivity(index.kneighbors(n_neighbors=10, return_distance=False), len(z_pool))
    val_neighbours = index.kneighbors(cl2n(val), n_neighbors=10, return_distance=False)
    print(f"  (cl2n graph: {time.perf_counter() - started:.0f} s)", flush=True)

    def score(x, y, k, seed):
        targets = pool_targets(evaluation.pool, draws.labeled[(k, seed)], y_train)
        model = LabelSpreading(kernel=lambda a, b: graph, alpha=0.99, max_iter=100).fit(z_pool, targets)
        proba = model.label_distributions_[val_neighbours].mean(axis=1)
        return model.classes_[np.argmax(proba, axis=1)]
    return score


def mirrored(idx: np.ndarray) -> np.ndarray:
    """``[len(idx), D]``: the features of the horizontally mirrored train images ``idx``, each block's cells mirrored
    back (the layout is the backbone's ``token_layout``: ``(channels, cells)`` per block and timestep)."""
    x = torch.as_tensor(np.asarray(source.train.images[torch.as_tensor(idx)])).flip(-1)
    f = np.asarray(extract_features(backbone, x, spec), np.float64)
    parts, start = [], 0
    for channels, cells in backbone.token_layout(spec):
        side, width = int(round(cells ** 0.5)), channels * cells
        parts.append(f[:, start:start + width].reshape(len(f), channels, side, side)[..., ::-1].reshape(len(f), width))
        start += width
    return np.concatenate(parts, axis=1)


def flip_mean(x, y, k, seed):
    z = (x + union_mirrored[np.searchsorted(draws.union, draws.labeled[(k, seed)])]) / 2
    return make_head("logreg").fit(z, y).predict((val + val_mirrored) / 2)


def flip_augmented(x, y, k, seed):
    z = np.concatenate([x, union_mirrored[np.searchsorted(draws.union, draws.labeled[(k, seed)])]])
    return make_head("logreg").fit(z, np.concatenate([y, y])).predict(val)


def report(name: str, predict, needs_draw: bool = False) -> None:
    means = []
    for k in shots:
        accs = []
        for seed in range(args.seeds):
            x, y = labeled(k, seed)
            pred = predict(x, y, k, seed) if needs_draw else predict(x, y)
            accs.append((pred == y_val).mean())
        means.append(100 * np.mean(accs))
    print(f"  {name:<28} " + "  ".join(f"k={k}: {m:5.1f}" for k, m in zip(shots, means))
          + f"   mean {np.mean(means):5.1f}", flush=True)


for spec in specs_of(args, args.combine):
    union, val, pool = features(spec)
    print(f"{source.name} {spec.label()}: validation accuracy (%), mean of {args.seeds} seeds", flush=True)
    if pool is not None:  # label-free statistics of the pool, for the variants that use them
        pool_scaler, pool_mean = StandardScaler().fit(pool), pool.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if "logreg" in only:
            for C in args.C.split(","):
                report(f"logreg C={C}", logreg(float(C)))
        if "pool-std" in only:
            for C in args.C.split(","):
                report(f"logreg pool-std C={C}", pool_standardised_logreg(float(C)))
        if "centroid" in only:
            report("centroid CL2N", centroid)
        if "propagate" in only:
            report("propagate std", propagate_head(), needs_draw=True)
            report("propagate cl2n", cosine_spreading(), needs_draw=True)
        if "flip" in only:
            union_mirrored, val_mirrored = mirrored(draws.union), mirrored(draws.val)
            report("logreg flip-mean", flip_mean, needs_draw=True)
            report("logreg flip-augmented", flip_augmented, needs_draw=True)
