"""The DDPM's time-to-accuracy curve (issue 15), on validation only, then the final select and evaluate.

The DDPM pretrains in chunks. The first chunk runs `fewgen pretrain --epochs E1`, and each later one runs
`fewgen pretrain --epochs Ei --resume`. The constant schedule lets `--resume` extend a run exactly. After
each chunk, `fewgen select` scores (blocks, t, logreg) on the validation draw. Each chunk prints its
cumulative pretraining seconds, training images/s, the best validation accuracy and the time the select
step took. The test split is never read until the final `fewgen evaluate`, at the end, with the last
chunk's selection. On a bare GPU machine:

    python bench/time_to_accuracy.py --data fashion-mnist --preset base --epochs 2,4,6 --precision bf16 \
        --compile --channels-last --run runs/gpu-ddpm --shots 1,2,4,8,16 --seeds 5

Recipes (issue 24) at equal wall-clock: the same command with `-o prediction=v -o loss_weight=min_snr ...` (each a
`fewgen backbones` option), a run folder each, and `--select-shots 4,16` for the curve at k = 4 and 16; `--no-final`
stops after the validation curve, so that the recipe is chosen before any test image is read; `--extend
--epochs 4,6,8` continues such a run's curve. `fewgen report RUN1
RUN2 ...` draws the curves of several runs on one plot (each run's config records its chunks: `pretrain_chunks`).

On the CPU it runs with tiny settings, as a smoke test of the protocol:
`python bench/time_to_accuracy.py --data digits --preset tiny --epochs 1,2 --select-shots 2 --seeds 2`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fewgen.cpu import vector_flags


def fewgen(*argv: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fewgen", *argv], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"fewgen {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/time-to-accuracy"))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--preset", default="base")
    parser.add_argument("--epochs", default="2,4,6", help="cumulative epochs after each chunk")
    parser.add_argument("--batch-size", default="128")
    parser.add_argument("--lr", default="2e-4")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--timesteps", default="25,50,100,200")
    parser.add_argument("--blocks", default="up0+up1+up2+mid,up1")
    parser.add_argument("--select-shots", default="16")
    parser.add_argument("--shots", default="1,2,4,8,16")
    parser.add_argument("--seeds", default="5")
    parser.add_argument("-o", "--option", action="append", default=[], help="a ddpm recipe option KEY=VALUE (repeatable)")
    parser.add_argument("--no-final", action="store_true", help="stop after the validation curve (no test split read)")
    parser.add_argument("--extend", action="store_true", help="the run exists: every chunk resumes it (a longer curve)")
    args = parser.parse_args()
    print("cpu flags:", vector_flags() or "none of avx2/avx512", flush=True)
    extra = ["--compile"] * args.compile + ["--channels-last"] * args.channels_last
    options = [part for pair in args.option for part in ("-o", pair)]
    print("recipe:", " ".join(args.option) or "the defaults")
    print("| epochs | pretrain s (cumulative) | train images/s | k | best validation accuracy | chosen | select s |")
    print("|---|---|---|---|---|---|---|", flush=True)
    for i, epochs in enumerate(args.epochs.split(",")):
        fewgen("pretrain", "--run", str(args.run), "--data", args.data, "--backbone", "ddpm", "-o", f"preset={args.preset}",
               *options, "--epochs", epochs, "--batch-size", args.batch_size, "--lr", args.lr,
               "--precision", args.precision, "--no-progress", *extra, *(["--resume"] if i or args.extend else []))
        config = json.loads((args.run / "config.json").read_text())
        history = config["pretrain"]  # this invocation's summary
        pretrain_seconds = config["pretrain_chunks"][-1]["seconds"]  # training time summed over the chunks so far
        images = (history["steps"] - (history.get("resumed_from_step") or 0)) * int(args.batch_size)
        for shots in args.select_shots.split(","):  # the last one's selection stays in selection.json
            select_s, _ = fewgen("select", str(args.run), "--timesteps", args.timesteps, "--blocks", args.blocks,
                                 "--heads", "logreg", "--shots", shots, "--seeds", args.seeds, "--spatial-pool", "2x2", "--no-progress")
            chosen = json.loads((args.run / "selection.json").read_text())
            label = f"{'+'.join(chosen['spec']['layers'])} t={chosen['spec']['timestep'][0]}"
            print(f"| {epochs} | {pretrain_seconds:.0f} | {images / history['seconds']:.0f} | {shots} | "
                  f"{100 * chosen['val_accuracy']:.1f} ± {100 * chosen['val_ci']:.1f} | {label} | {select_s:.0f} |", flush=True)
    if args.no_final:
        return
    evaluate_s, out = fewgen("evaluate", str(args.run), "--shots", args.shots, "--seeds", args.seeds,  # select's spec
                             "--heads", "logreg,selftrain,propagate", "--baselines", "pixels", "--no-progress")
    print(f"\nevaluate with the last selection ({evaluate_s:.0f} s):\n{out}")


if __name__ == "__main__":
    main()
