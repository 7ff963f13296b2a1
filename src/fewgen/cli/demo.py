"""``fewgen demo``: the main job on the embedded digits, within 5 minutes on a 2-core CPU (registered on the app in
:mod:`fewgen.cli.app`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from fewgen.cli.options import Progress, ResnetSteps, Seeds
from fewgen.configs import ResNetConfig

DEMO_HEADS = ("mlp", "logreg", "umap", "selftrain", "propagate")  # the paper's head, logreg, and the pool heads
DEMO_BUDGET = 20  # the demo's suggestion: which 20 digits to label first
DEMO_RESNET_STEPS, DEMO_RESNET_SEEDS = 100, 2  # ResNet-18 was 8 of the demo's 10 minutes on a 2-core box without AVX-512


def demo(
    run: Annotated[Optional[Path], typer.Option(help="Run folder. Default: runs/demo-<date>-<time>.")] = None,
    epochs: Annotated[int, typer.Option(help="VAE pretraining epochs on digits.")] = 60,
    seeds: Seeds = 5,
    resnet_steps: ResnetSteps = DEMO_RESNET_STEPS,
    resnet_seeds: Annotated[int, typer.Option(help="ResNet-18 on the draws of seeds 0..N-1 only: it is most of the demo's time.")] = DEMO_RESNET_SEEDS,
    progress: Progress = True,
) -> None:
    """The main job: on digits, pretrain the VAE, evaluate k = 1, 2, 5, 10 with heads on the labeled images and heads
    that also learn from the unlabeled pool, against pixels+logreg and ResNet-18, and write the report."""
    from fewgen.backbones import FeatureSpec
    from fewgen.data import SourceOptions
    from fewgen.evaluate import EvalConfig
    from fewgen.report.html import build_report
    from fewgen.report.summary import format_table
    from fewgen.commands import evaluate as run_evaluate
    from fewgen.commands import pretrain as run_pretrain
    from fewgen.commands import suggest as run_suggest
    from fewgen.train import TrainConfig

    started = time.perf_counter()
    run = run or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    train = TrainConfig(epochs=epochs, batch_size=64, lr=2e-3, progress=progress)
    config = run_pretrain(run, "digits", "vae", {}, train, SourceOptions())
    typer.echo(f"pretrained the VAE on {config['n_unlabeled']} unlabeled digits in {config['pretrain']['seconds']:.1f}s")
    cfg = EvalConfig(shots=(1, 2, 5, 10), seeds=seeds, heads=DEMO_HEADS, progress=progress,
                     baseline_configs={"resnet18": ResNetConfig(steps=resnet_steps, seeds=resnet_seeds)})
    rows = run_evaluate(run, cfg, [FeatureSpec(part="stacked")])  # the paper's best VAE part (and ours on Fashion-MNIST)
    typer.echo(format_table(rows))
    typer.echo(f"\nresnet18 budget: {resnet_steps} AdamW steps on the draws of seeds 0..{resnet_seeds - 1} only "
               f"({resnet_seeds} of {seeds} seeds), to keep the demo short; 'fewgen evaluate' runs it on every seed.")
    typer.echo(f"students (networks taught by the head chosen on validation, learning from the labels and the pool) are not "
               f"run here, to keep the demo within 5 minutes on a 2-core CPU; each takes 2-3.5 minutes per draw on 28x28 images (1000 steps, "
               f"on a 2-core CPU with bf16; 2-4 times that without): "
               f"'fewgen evaluate {run} --shots 1,2,5,10 --seeds 2 --baselines \"\" --students small,encoder'")
    suggested = run_suggest(run, DEMO_BUDGET)
    typer.echo(f"\nwhich {DEMO_BUDGET} digits to label first, chosen by {suggested['strategy']} on the VAE's features (labels "
               f"hidden): {run / 'suggestions' / suggested['sheet']}; 'fewgen evaluate {run} --budgets 10,20,50 --selection "
               "random,balanced,typiclust' measures what such labels are worth")
    page = build_report([run], run / "report")
    typer.echo(f"\nresults: {run / 'results.jsonl'}\nplot:    {run / 'accuracy_vs_labels.png'}\n"
               f"samples: {run / 'samples.png'}\nreport:  {page}\ndone in {time.perf_counter() - started:.0f}s")
