"""Label spreading's graph and class balance, compared on the VALIDATION draw only (test is never read here).

For one run and one feature spec (from the run's feature cache), spread every labeled draw's labels over the pool
with a few graphs, and print the mean validation accuracy per k. A validation image takes the mean label
distribution of its nearest pool images, as the ``propagate`` head does. The candidates, fixed before the run:

- ``std 10-NN``: today's head (the pool standardised per feature, a 0/1 symmetric 10-NN graph);
- ``cosine 10-NN``: the same graph in CL2N space (centred on the pool's mean, rows L2-normalised; SimpleShot,
  Wang et al. 2019), which this bench's predecessor found +0.7 at 2x2;
- ``cosine 50-NN w=s^3``: Iscen et al. 2019 ("Label Propagation for Deep Semi-supervised Learning"): a k-NN graph
  weighted by the cosine similarity to the power 3;
- each with ``+cmn``: class mass normalisation (Zhu, Ghahramani & Lafferty 2003): scale each class's column of
  the spread labels so the classes' total masses match their prior (the labeled draw's class shares), which stops
  one class from swallowing its neighbours' clusters.

usage: python bench/propagate_graphs.py RUN [--shots 1,2,4,8,16] [--seeds 5] [--timesteps 50+100]
       [--blocks up0+up1+up2+mid] [--pool 4x4]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.semi_supervised import LabelSpreading

from fewgen.data.splits import pool_targets
from fewgen.heads import PoolMemory, make_head
from fewgen.heads.pool import digest
from spec_options import add_spec_options, open_bench_run, specs_of  # bench/, beside this script

parser = argparse.ArgumentParser()
parser.add_argument("run", type=Path)
parser.add_argument("--shots", default="1,2,4,8,16")
parser.add_argument("--seeds", type=int, default=5)
add_spec_options(parser, pool="4x4")
args = parser.parse_args()
shots = tuple(int(k) for k in args.shots.split(","))

source, evaluation, backbone, checkpoint = open_bench_run(args.run, shots, args.seeds, eval_id="graphs")
draws, y_train = evaluation.draws, evaluation.y_train
y_val = y_train[draws.val]
n_classes = int(y_train.max()) + 1


def cosine_neighbours(pool: np.ndarray, queries: np.ndarray, k: int, exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar pool rows of each query: (indices ``[M, k]``, similarities ``[M, k]``), exact,
    in float32 chunks. Both are CL2N rows already."""
    P = torch.from_numpy(pool)
    index, sims = [], []
    for start in range(0, len(queries), 2048):
        s = torch.from_numpy(queries[start:start + 2048]) @ P.T  # [m, N]
        if exclude_self:
            s[torch.arange(len(s)), torch.arange(start, start + len(s))] = -np.inf
        top = torch.topk(s, k, dim=1)
        index.append(top.indices.numpy()), sims.append(top.values.numpy())
    return np.concatenate(index), np.concatenate(sims)


def graph_of(neighbours: np.ndarray, weights: np.ndarray, n: int) -> sparse.csr_matrix:
    """``W [n, n]``: the symmetric k-NN graph (an edge when either is the other's neighbour) with the given weights."""
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    W = sparse.csr_matrix((weights.ravel(), (rows, neighbours.ravel())), shape=(n, n))
    return W.maximum(W.T).tocsr()


def spread(graph, targets: np.ndarray) -> np.ndarray:
    """Label spreading (alpha 0.99, 100 iterations, as the head) -> the pool's label distributions ``[N, C]``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LabelSpreading(kernel=lambda a, b: graph, alpha=0.99, max_iter=100).fit(np.zeros((len(targets), 1)), targets)
    F = np.zeros((len(targets), n_classes))
    F[:, model.classes_[model.classes_ >= 0]] = model.label_distributions_
    return F


def class_mass_normalised(F: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Each column of ``F [N, C]`` scaled so that its share of the total mass is the class's ``prior [C]``."""
    mass = F.sum(axis=0)
    return F * np.where(mass > 0, prior / np.where(mass > 0, mass, 1), 0)


for spec in specs_of(args, "concat"):
    started = time.perf_counter()
    cache = evaluation.cache
    pool_ids = evaluation.pool
    pool = np.asarray(cache.get(backbone, checkpoint, spec, "train", pool_ids, source.train.images, mmap=True), np.float32)
    val = np.asarray(cache.get(backbone, checkpoint, spec, "train", draws.val, source.train.images), np.float32)
    print(f"{source.name} {spec.label()}: pool {pool.shape}, validation {val.shape} "
          f"({time.perf_counter() - started:.0f} s to read)", flush=True)

    memory = PoolMemory(cache.root / "pool")  # today's head: its 10-NN graph is cached beside the run's features
    mean = pool.mean(axis=0)

    def cl2n(x: np.ndarray) -> np.ndarray:
        x = x - mean
        return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    started = time.perf_counter()
    z_pool, z_val = cl2n(pool), cl2n(val)
    path = cache.root / "pool" / f"bench-cosine50-{digest(pool[:: max(1, len(pool) // 512)])}-{len(pool)}.npz"
    if path.is_file():
        saved = np.load(path)
        nn_pool, sim_pool = saved["index"], saved["sim"]
    else:
        nn_pool, sim_pool = cosine_neighbours(z_pool, z_pool, 50, exclude_self=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, index=nn_pool, sim=sim_pool)
        tmp.replace(path)
    nn_val, _ = cosine_neighbours(z_pool, z_val, 50, exclude_self=False)
    print(f"  (cosine 50-NN of the pool: {time.perf_counter() - started:.0f} s)", flush=True)
    graphs = {
        "cosine 10-NN": (graph_of(nn_pool[:, :10], np.ones((len(pool), 10)), len(pool)), nn_val[:, :10]),
        "cosine 50-NN w=s^3": (graph_of(nn_pool, np.clip(sim_pool, 0, None) ** 3, len(pool)), nn_val),
    }
    results: dict[str, list[float]] = {}
    nn_std = None
    for k in shots:
        per: dict[str, list[float]] = {}
        for seed in range(args.seeds):
            idx = draws.labeled[(k, seed)]
            targets = pool_targets(pool_ids, idx, y_train)
            prior = np.bincount(y_train[idx], minlength=n_classes) / len(idx)
            head = make_head("propagate", memory=memory).fit(pool, targets)
            F_std = np.zeros((len(pool), n_classes))
            F_std[:, head.classes_] = head.label_distributions_
            if nn_std is None:  # the validation images' 10 nearest pool images in the head's space (label-free)
                nn_std = head.index_.kneighbors(head.space_.transform(val), n_neighbors=10, return_distance=False)
            candidates = {"std 10-NN": (F_std, nn_std)}
            candidates.update({name: (spread(g, targets), nnv) for name, (g, nnv) in graphs.items()})
            for name, (F, nnv) in candidates.items():
                for balanced in (False, True):
                    G = class_mass_normalised(F, prior) if balanced else F
                    pred = np.argmax(G[nnv].mean(axis=1), axis=1)
                    per.setdefault(name + (" +cmn" if balanced else ""), []).append(100 * float((pred == y_val).mean()))
        for name, accs in per.items():
            results.setdefault(name, []).append(float(np.mean(accs)))
        print(f"  k={k} done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"{source.name} {spec.label()}: validation accuracy (%), mean of {args.seeds} seeds")
    for name, means in results.items():
        print(f"  {name:<26} " + "  ".join(f"k={k}: {m:5.1f}" for k, m in zip(shots, means))
              + f"   mean {np.mean(means):5.1f}", flush=True)
