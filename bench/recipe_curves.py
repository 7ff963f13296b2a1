"""Diffusion recipes compared at equal CPU time, on validation only (issue 24): the curves that
`bench/time_to_accuracy.py` leaves in each run folder, as a table, and the paired difference of each run against the
first one after the same number of epochs.

For every run and every pretraining chunk (the run's `pretrain_chunks`), per k: the minutes of training so far, and
the best validation accuracy that `fewgen select` found on that chunk's checkpoint (the best (blocks, t) by mean over
the seeds), with its 95% CI. The paired difference takes, per seed, each run's accuracy at its own best (blocks, t)
and averages the differences over the seeds (the validation draws are the same in every run). No test image is read.

usage: python bench/recipe_curves.py RUN [RUN ...]    (the first run is the reference)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fewgen.report.collect import read_runs
from fewgen.report.summary import sweep_table
from fewgen.results import stage
from fewgen.stats import ci_excludes_zero, mean_ci

RECIPE = ("prediction", "loss_weight", "timestep_sampling", "beta_schedule")  # the ddpm options a recipe sets


def best_per_seed(rows: list[dict], checkpoint: str, shots: int) -> tuple[tuple, dict[int, float]]:
    """The best (blocks, t, head) by mean validation accuracy on ``checkpoint`` at ``shots``, and its score per seed."""
    group = [r for r in rows if stage(r) == "select" and r["checkpoint"] == checkpoint and r["shots"] == shots]
    if not group:
        return (), {}
    key = max(sweep_table(group).items(), key=lambda item: item[1][0])[0]
    return key, {r["seed"]: r["val_accuracy"] for r in group
                 if (tuple(r["spec"]["layers"]), r["spec"]["timestep"][0], r["head"]) == key}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    runs = read_runs(parser.parse_args().runs)
    shots = sorted({r["shots"] for run in runs for r in run.chunk_rows})
    print(f"| run | {'/'.join(RECIPE)} | epochs | training minutes | k | best validation accuracy | blocks, t |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        recipe = "/".join(str(run.config["backbone_config"].get(key)) for key in RECIPE)
        for chunk in run.chunks:
            for k in shots:
                key, scores = best_per_seed(run.chunk_rows, chunk["checkpoint"], k)
                if scores:
                    mean, half = mean_ci(list(scores.values()))
                    print(f"| {run.name} | {recipe} | {chunk['epochs']} | {chunk['seconds'] / 60:.0f} | {k} | "
                          f"{100 * mean:.1f} ± {100 * half:.1f} | {'+'.join(key[0])}, t={key[1]} |")
    reference = runs[0]
    print(f"\npaired differences on the validation draws, each run minus {reference.name} after the same epochs (points):")
    print("| run | epochs | k | difference | seeds |")
    print("|---|---|---|---|---|")
    for run in runs[1:]:
        ours = {chunk["epochs"]: chunk["checkpoint"] for chunk in run.chunks}
        for chunk in reference.chunks:
            for k in shots:
                if chunk["epochs"] not in ours:
                    continue
                _, base = best_per_seed(reference.chunk_rows, chunk["checkpoint"], k)
                _, other = best_per_seed(run.chunk_rows, ours[chunk["epochs"]], k)
                seeds = sorted(set(base) & set(other))
                if not seeds:
                    continue
                mean, half = mean_ci([other[s] - base[s] for s in seeds])
                star = "*" if ci_excludes_zero(mean, half, len(seeds)) else ""
                print(f"| {run.name} | {chunk['epochs']} | {k} | {100 * mean:+.1f} ± {100 * half:.1f}{star} | {len(seeds)} |")


if __name__ == "__main__":
    main()
