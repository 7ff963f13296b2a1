"""Variants of a student, compared on the VALIDATION draw only (test is never read here).

For one run, one feature spec and one teacher head (refitted on each draw and its pool by ``Evaluation.fit_teacher``,
as for ``fewgen evaluate --students``, and here also scored on validation), train each variant of the student on each draw and print its validation
accuracy beside the teacher's and beside the average of the two's probabilities (teacher + student), and the share
of pool images whose target was the student's own confident pseudo-label rather than the teacher's, in its last epoch. A variant is
``;``-separated ``KEY=VALUE`` settings of the student, as ``-S`` takes them (steps, threshold, lambda_u, rounds,
temperature: the teacher's targets sharpened by MixMatch's temperature, ...), plus ``network=small|encoder`` and
``flip=0`` (no horizontal flips in the weak and strong views, where the dataset would allow them).

usage: python bench/student_variants.py RUN [--shots 8,16] [--seeds 2] [--timesteps 50+100]
       [--blocks up0+up1+up2+mid] [--pool 4x4] [--teacher propagate] [--variants "steps=1000|steps=1000;temperature=0.5"]

Variants are separated by ``|``. Prints one line per draw and variant as it finishes, then the means.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from fewgen.cli.options import student_config
from fewgen.configs import StudentConfig
from fewgen.cpu import vector_flags
from fewgen.errors import FewgenError
from fewgen.teaching import class_probabilities
from fewgen.students.student import Student
from spec_options import add_spec_options, open_bench_run, specs_of  # bench/, beside this script

parser = argparse.ArgumentParser()
parser.add_argument("run", type=Path)
parser.add_argument("--shots", default="8,16")
parser.add_argument("--seeds", type=int, default=2)
add_spec_options(parser, pool="4x4")
parser.add_argument("--teacher", default="propagate")
parser.add_argument("--variants", default="steps=1000")
args = parser.parse_args()
shots = tuple(int(k) for k in args.shots.split(","))


def parse(variant: str) -> tuple[StudentConfig, str, bool]:
    """(the student's settings, as ``-S`` parses them, the network, and whether its views may flip) of
    ``key=value;...``."""
    own = {"network": "small", "flip": "1"}
    settings = []
    for item in filter(None, variant.split(";")):
        key, _, value = item.partition("=")
        if key in own:
            own[key] = value
        else:
            settings.append(item)
    if own["flip"] not in ("0", "1"):
        raise FewgenError(f"--variants' flip must be 0 or 1, got {own['flip']!r}")
    config = student_config(settings)
    config.check(lambda key: f"--variants' {key}", args.seeds)  # steps=0 and the like
    return config, own["network"], own["flip"] == "1"


variants = args.variants.split("|")
try:
    parsed = {variant: parse(variant) for variant in variants}  # refused before any work
except FewgenError as error:
    parser.error(str(error))
specs = specs_of(args)
if len(specs) != 1:
    parser.error("--timesteps takes one spec here (50+100), not several")
spec = specs[0]

print(f"cpu flags: {vector_flags()}", flush=True)
source, evaluation, backbone, checkpoint = open_bench_run(args.run, shots, args.seeds, eval_id="variants")
draws, y_train, images = evaluation.draws, evaluation.y_train, source.train.images
val_images, y_val = images[draws.val], y_train[draws.val]
val_f = np.asarray(evaluation.cache.get(backbone, checkpoint, spec, "train", draws.val, images), np.float64)


def teacher_on(k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the pool's train indices, the teacher's probabilities for the pool [P, K] and for validation [V, K]): the
    teacher fitted as ``fewgen evaluate --students`` fits it (``Evaluation.fit_teacher``), at the head's defaults."""
    idx, pool = draws.labeled[(k, seed)], draws.pool_of((k, seed))
    head, pool_f = evaluation.fit_teacher(backbone, checkpoint, spec, {"head": args.teacher}, idx, pool, seed)
    return pool, class_probabilities(head, pool_f, source.num_classes), class_probabilities(head, val_f, source.num_classes)


def accuracy(proba: np.ndarray) -> float:
    return 100 * float((proba.argmax(1) == y_val).mean())


scores: dict[tuple[str, int, str], list[float]] = defaultdict(list)
for k in shots:
    for seed in range(args.seeds):
        pool, teacher_pool, teacher_val = teacher_on(k, seed)
        confidence = teacher_pool.max(1)
        print(f"k={k} seed={seed}: teacher {args.teacher} val {accuracy(teacher_val):.1f}; its pool targets' max "
              f"probability: median {np.median(confidence):.2f}, share >= 0.95 {np.mean(confidence >= 0.95):.2f}", flush=True)
        scores[("teacher", k, "")].append(accuracy(teacher_val))
        idx = draws.labeled[(k, seed)]
        for variant in variants:
            config, network, flip = parsed[variant]
            started = time.perf_counter()
            student = Student(config, flip and source.hflip_preserves_label, seed, network, backbone, spec).teach(teacher_pool)
            student.fit(images[idx], y_train[idx], images[pool])
            student_val = student.predict_proba(val_images)
            mixed = (student_val + teacher_val) / 2
            scores[(variant, k, "student")].append(accuracy(student_val))
            scores[(variant, k, "mixed")].append(accuracy(mixed))
            last_epoch = student.summaries_[-1]["history"][-1]  # the Trainer's means over the last pass over the pool
            print(f"  {variant:<40} student val {accuracy(student_val):5.1f}   teacher+student {accuracy(mixed):5.1f}   "
                  f"own pseudo-labels {last_epoch['own']:.2f} of the pool in the last epoch   "
                  f"{time.perf_counter() - started:.0f} s", flush=True)

print(f"validation accuracy (%), mean of {args.seeds} seeds; {source.name} {spec.label()}, teacher {args.teacher}")
print(f"  {'teacher':<50} " + "  ".join(f"k={k}: {np.mean(scores[('teacher', k, '')]):5.1f}" for k in shots))
for variant in variants:
    for kind in ("student", "mixed"):
        print(f"  {variant + ' ' + kind:<50} " + "  ".join(f"k={k}: {np.mean(scores[(variant, k, kind)]):5.1f}" for k in shots))
