"""Accuracy per label chosen: each selection's validation-chosen method per budget B on a run evaluated with
``fewgen evaluate --budgets ... --selection ...``, with the classes its draws cover and its paired differences to the
random and balanced draws on the same seeds.

usage: python bench/chosen_labels.py RUN [BACKBONE]
For each selection and B, the method (spec and head) with the best mean validation accuracy among the backbone's
methods on that selection's draws (fewgen.report.summary.chosen_per_k: validation only, ties to the simpler head);
"val" is its mean validation accuracy (what a default may be chosen on); its test accuracy is mean ± 95% CI over the seeds, and "- random" / "- balanced" are the paired differences of
the chosen methods' test accuracies on the seeds both ran (mean ± 95% CI).
"""

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from fewgen.cpu import vector_flags
from fewgen.report.summary import chosen_per_k
from fewgen.results import method_name, read_rows
from fewgen.stats import mean_ci

run = Path(sys.argv[1])
rows = [r for r in read_rows(run / "results.jsonl") if r.get("selection")]
backbone = sys.argv[2] if len(sys.argv) > 2 else next(r["backbone"] for r in rows if r["head"] != r["backbone"])
by_method = defaultdict(dict)  # (method, B) -> {seed: row}; a later row of a draw (--redo) replaces the earlier
for row in rows:
    if row.get("accuracy") is not None and row.get("stage", "evaluate") == "evaluate":
        by_method[(method_name(row), row["shots"])][row["seed"]] = row
chosen = {group.split("@", 1)[1]: by_k for group, by_k in chosen_per_k(rows).items() if group.split("@")[0] == backbone}
per_seed = {(selection, k): {seed: row["accuracy"] for seed, row in by_method[(method, k)].items()}
            for selection, by_k in chosen.items() for k, (method, *_) in by_k.items()}
budgets = sorted({k for by_k in chosen.values() for k in by_k})


def paired(selection: str, reference: str, k: int) -> str:
    ours, theirs = per_seed.get((selection, k), {}), per_seed.get((reference, k), {})
    seeds = sorted(set(ours) & set(theirs))
    if selection == reference or not seeds:
        return ""
    mean, half = mean_ci([ours[s] - theirs[s] for s in seeds])
    return f"{100 * mean:+.1f} ± {100 * half:.1f}"


print(f"{run}: {backbone}, test accuracy (%) of each selection's validation-chosen method; cpu flags: {vector_flags()}")
print(f"{'selection':<18} {'B':>4}  {'val':>5}  {'test':>12}  {'classes':>7}  {'- random':>12}  {'- balanced':>12}  chosen method")
for selection, by_k in chosen.items():
    for k in budgets:
        if k not in by_k:
            continue
        method, val = by_k[k][0], by_k[k][1]
        accuracies = list(per_seed[(selection, k)].values())
        mean, half = mean_ci(accuracies)
        seen = np.mean([r.get("classes_seen", np.nan) for r in by_method[(method, k)].values()])
        print(f"{selection:<18} {k:>4}  {100 * val:5.1f}  {100 * mean:5.1f} ± {100 * half:4.1f}  {seen:7.1f}  {paired(selection, 'random', k):>12}  "
              f"{paired(selection, 'balanced', k):>12}  {method} (n={len(accuracies)})")
