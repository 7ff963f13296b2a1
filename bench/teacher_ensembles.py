"""Averages of frozen heads' probabilities across feature specs, compared on the VALIDATION draw only (test is never
read here).

For one run, each member ``HEAD@SPEC`` (a head with optional ``key=value`` settings, e.g. ``propagate:space=umap``, and
one of the ``--specs`` by position) is fitted on each draw and its pool as ``fewgen evaluate --students``
fits a teacher (``Evaluation.fit_teacher``). Prints each member's validation accuracy and that of the mean of their
probabilities (a plain ensemble, as in Dietterich 2000), per k, mean over the seeds.

usage: python bench/teacher_ensembles.py RUN [--shots 1,2,4,8,16] [--seeds 3]
       [--specs "50:up0:4x4,50+100:up0+up1+up2+mid:4x4"] [--members "propagate@0|propagate:space=umap@1"]
       [--ensembles "0+1,0+1+2"]

Members are separated by ``|`` and numbered from 0; ensembles are separated by commas, each ``+``-joined member
numbers (as ``--timesteps`` joins timesteps).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from fewgen.cli.options import alternatives, feature_specs, key_values
from fewgen.cpu import vector_flags
from fewgen.errors import FewgenError
from fewgen.teaching import class_probabilities
from spec_options import open_bench_run  # bench/, beside this script

parser = argparse.ArgumentParser()
parser.add_argument("run", type=Path)
parser.add_argument("--shots", default="1,2,4,8,16")
parser.add_argument("--seeds", type=int, default=3)
parser.add_argument("--specs", default="50:up0:4x4,50+100:up0+up1+up2+mid:4x4",
                    help="comma-separated TIMESTEPS:BLOCKS:POOL, members name them by position")
parser.add_argument("--members", default="propagate@0|propagate@1|propagate:space=umap@0|propagate:space=umap@1")
parser.add_argument("--ensembles", default="0+1,2+3,0+1+2+3")
args = parser.parse_args()
shots = tuple(int(k) for k in args.shots.split(","))
specs = [feature_specs("", t, b, p, "")[0] for t, b, p in (item.split(":") for item in args.specs.split(","))]


def member(text: str) -> tuple[dict, int]:
    """``head[:key=value;...]@spec`` -> (the teacher row as fit_teacher reads it, the spec's position)."""
    name, _, at = text.partition("@")
    head, _, settings = name.partition(":")
    pairs = key_values([item for item in settings.split(";") if item], "--members")
    return {"head": head, "tuned": {key: int(value) if value.isdigit() else value for key, value in pairs.items()}}, int(at)


try:  # refused before any work
    members = [member(text) for text in args.members.split("|")]
    ensembles = alternatives(args.ensembles, "--ensembles", int)
except FewgenError as error:
    parser.error(str(error))
print(f"cpu flags: {vector_flags()}", flush=True)
source, evaluation, backbone, checkpoint = open_bench_run(args.run, shots, args.seeds, eval_id="ensembles")
draws, y_train, images = evaluation.draws, evaluation.y_train, source.train.images
y_val = y_train[draws.val]
val_f = [np.asarray(evaluation.cache.get(backbone, checkpoint, spec, "train", draws.val, images), np.float64) for spec in specs]


def accuracy(proba: np.ndarray) -> float:
    return 100 * float((proba.argmax(1) == y_val).mean())


scores: dict[tuple[str, int], list[float]] = defaultdict(list)
for k in shots:
    for seed in range(args.seeds):
        idx, pool = draws.labeled[(k, seed)], draws.pool_of((k, seed))
        probas = []
        for teacher, at in members:
            head, _ = evaluation.fit_teacher(backbone, checkpoint, specs[at], teacher, idx, pool, seed)
            probas.append(class_probabilities(head, val_f[at], source.num_classes))
        line = []
        scored = [(f"m{i}", proba) for i, proba in enumerate(probas)]
        scored += [("+".join(f"m{i}" for i in group), np.mean([probas[i] for i in group], axis=0)) for group in ensembles]
        for name, proba in scored:
            scores[(name, k)].append(accuracy(proba))
            line.append(f"{name} {scores[(name, k)][-1]:.1f}")
        print(f"k={k} seed={seed}: " + "  ".join(line), flush=True)

print(f"validation accuracy (%), mean of {args.seeds} seeds; {source.name}")
for i, (teacher, at) in enumerate(members):
    print(f"  m{i} = {teacher['head']} {teacher['tuned']} on {specs[at].label()}")
for name in [f"m{i}" for i in range(len(members))] + ["+".join(f"m{i}" for i in g) for g in ensembles]:
    print(f"  {name:<20} " + "  ".join(f"k={k}: {np.mean(scores[(name, k)]):5.1f}" for k in shots)
          + f"   mean {np.mean([np.mean(scores[(name, k)]) for k in shots]):5.1f}")
