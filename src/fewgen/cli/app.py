"""The ``fewgen`` command line: a thin Typer app over :mod:`fewgen.commands`.

Bad input ends with one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import errno
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from fewgen.cli.fit_predict import fit, predict
from fewgen.cli.demo import demo
from fewgen.cli.suggest import suggest
from fewgen.cli.summary import summary
from fewgen.cli.options import (BaselineOptions, Baselines, DataRoot, Download, FeaturePrecision, Heads, ImageSize, Labels, PixelHead,
                                 PixelScaling, Precision, Progress, Resize, ResnetSteps, RunBackbone, Scaling, Seeds, Shots,
                                 Validation, ValPerClass, alternatives, feature_specs, ints, key_values, names,
                                 baseline_configs, student_config, validation)
from fewgen.cli.options import OldPool, StudentOptions, Students, Teacher, spatial_pool_of
from fewgen.baselines import BASELINES, DEFAULT_BASELINES
from fewgen.configs import BACKBONE_NAMES, DEFAULT_TIMESTEPS, FixMatchConfig, GLOConfig, ResNetConfig, option_help
from fewgen.errors import FewgenError, FewgenWarning, worker_sentence

# Only torch-free modules above, so that `fewgen --help` answers at once: each command imports what it runs.


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Few-shot image classification with features from generative models.")


BACKBONE_OPTIONS_HELP = "Backbone setting KEY=VALUE (repeatable); 'fewgen backbones' lists each backbone's settings, defaults and what they do."


@app.command()
def pretrain(
    run: Annotated[Path, typer.Option(help="Run folder to create (config, checkpoints, weights, results).")],
    data: Annotated[str, typer.Option(help="Dataset: digits, mnist, fashion-mnist, cifar10, cifar100, or folder:PATH.")] = "digits",
    backbone: Annotated[str, typer.Option(help=f"Generative backbone: {', '.join(BACKBONE_NAMES)}.")] = "vae",
    option: Annotated[list[str], typer.Option("--option", "-o", help=BACKBONE_OPTIONS_HELP)] = [],
    epochs: Annotated[int, typer.Option(help="Passes over the unlabeled pool.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Minibatch size.")] = 128,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    schedule: Annotated[str, typer.Option(help="Learning-rate schedule: constant or cosine (to zero at the last step).")] = "constant",
    precision: Precision = "auto",
    seed: Annotated[int, typer.Option(help="Seed for initialisation and shuffling.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from the run's last checkpoint, exactly where it stopped.")] = False,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        help="Also checkpoint every this many steps (default: at the end of each epoch only).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        help="DataLoader processes decoding image files (default: none for data in memory, up to 4 for folder: data).")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the training step (worth it on a GPU for long runs).")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Channels-last memory order for the convolutions (often faster with bf16 on a GPU).")] = False,
    image_size: ImageSize = None,
    resize: Resize = "crop",
    data_root: DataRoot = None,
    download: Download = False,
    progress: Progress = True,
) -> None:
    """Pretrain a generative backbone on the unlabeled images (the whole train split, labels ignored).

    Data parallel under 'accelerate launch -m fewgen pretrain ...' or 'torchrun --nproc-per-node N -m fewgen
    pretrain ...': --batch-size is the global batch, shared among the processes; only the main one writes."""
    from fewgen.data import SourceOptions
    from fewgen.commands import pretrain as run_pretrain
    from fewgen.train import TrainConfig

    train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, precision=precision, seed=seed,
                        progress=progress, checkpoint_every=checkpoint_every, workers=workers, compile=compile,
                        channels_last=channels_last)
    source = SourceOptions(data_root=data_root, download=download, image_size=image_size, resize=resize)
    config = run_pretrain(run, data, backbone, key_values(option), train, source, resume)
    if config is None:
        return  # not the main process: the main one reports
    summary = config["pretrain"]
    last_epoch = summary["history"][-1] if summary.get("history") else {}  # pixels: nothing to train
    logs = "".join(f", {k} {v:.4g}" for k, v in last_epoch.items() if k != "epoch")
    resumed = f" (resumed at step {summary['resumed_from_step']})" if summary.get("resumed_from_step") else ""
    size = "x".join(map(str, config["image_shape"]))
    skipped = f", {config['n_skipped']} unreadable skipped" if config.get("n_skipped") else ""
    typer.echo(f"pretrained {backbone} on {data} ({config['n_unlabeled']} images{skipped}, read as {size}) in {summary['seconds']:.1f}s{resumed}; "
               f"last epoch's means: {logs[2:] or 'none'}; saved to {run / 'backbone'}")
    drawn = [config[key] for key in ("samples", "reconstructions") if config.get(key)]
    if drawn:
        typer.echo(f"drew {' and '.join(drawn)} in {config['pictures_seconds']:.1f}s")


@app.command()
def backbones() -> None:
    """List the backbones, with each --option KEY, its default and what it does."""
    from fewgen.backbones import BACKBONES

    for name, cls in sorted(BACKBONES.items()):
        summary = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        typer.echo(f"{name}: {summary[0].replace('``', '') if summary else ''}")
        for key, default, text in option_help(cls.Config):
            typer.echo(f"  -o {key}={default}  {text}")
    typer.echo("glo: the conditional GLO (Azuri & Weinshall), fitted on each labeled draw by 'fewgen augment' "
               "for generative augmentation, not a feature backbone.")
    for key, default, text in option_help(GLOConfig):
        typer.echo(f"  -o {key}={default}  {text}")


@app.command("baselines")
def list_baselines() -> None:
    """List the baselines 'evaluate' runs on the heads' draws, with each --baseline-option NAME.KEY, its default and what it does."""
    for entry in BASELINES.values():
        default = " (run by default)" if entry.default else ""
        typer.echo(f"{entry.name}: {entry.summary}{default}{'; learns from the unlabeled pool' if entry.uses_pool else ''}")
        for key, value, text in option_help(entry.model_class().Config) if entry.where else ():
            typer.echo(f"  -B {entry.name}.{key}={value}  {text}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder made by 'fewgen pretrain'.")],
    shots: Annotated[Optional[str], typer.Option(help="Labeled images per class, comma-separated. Default: 1,2,5,10.")] = None,
    budgets: Annotated[Optional[str], typer.Option(help="Instead of --shots: labeled images in all (B), comma-separated, chosen by each --selection; the oracle reveals the dataset's labels of the chosen images.")] = None,
    selection: Annotated[str, typer.Option(help="With --budgets, who chooses the labeled images, comma-separated: random (B images), balanced (B/C per class, an oracle), typiclust, probcover (chosen cold on the run's features), or FIRST+LATER rounds such as typiclust+clue.")] = "random,balanced,typiclust",
    seeds: Seeds = 5,
    heads: Heads = "mlp,logreg,knn,propagate",
    parts: Annotated[str, typer.Option(help="vae, vqvae: feature parts to read, comma-separated (encoder, decoder, stacked). Empty: all three.")] = "",
    timesteps: Annotated[str, typer.Option(help="ddpm: timestep(s); commas give separate specs, + concatenates (50,350 or 50+350). Empty: the run's 'select' choice, else the ddpm's default spec, up0 at t = 50 pooled 4x4 (chosen on Fashion-MNIST's validation draw); with --blocks alone, 100.")] = "",
    blocks: Annotated[str, typer.Option(help="ddpm: UNet blocks (up0 = lowest resolution ... upN, mid); commas separate specs, + joins blocks. Empty: the run's default spec (see --timesteps); with --timesteps alone, every up block.")] = "",
    spatial_pool: Annotated[str, typer.Option(help="ddpm, vqvae: how a block's feature map is pooled: mean (global average) or KxK adaptive average pooling, e.g. 2x2. Empty: the run's default spec's (the ddpm's 4x4) unless --timesteps, --blocks or --parts is given, then mean.")] = "",
    old_pool: OldPool = None,
    weights: Annotated[str, typer.Option(help="ddpm: ema or raw weights. Empty: ema.")] = "",
    noise_draws: Annotated[int, typer.Option(help="ddpm: average each block over N seeded noise draws at each timestep (Li et al. 2025); N times the extraction cost.")] = 1,
    combine: Annotated[str, typer.Option(help="ddpm: how +-joined timesteps join: concat (one block of features each) or mean (averaged, as wide as one).")] = "concat",
    precision: FeaturePrecision = "auto",
    baselines: Baselines = ",".join(DEFAULT_BASELINES),
    baseline_option: BaselineOptions = [],
    pixel_head: PixelHead = "logreg",
    scaling: Scaling = "feature",
    pixel_scaling: PixelScaling = "global",
    val_per_class: Validation = "auto",
    resnet_steps: Annotated[Optional[int], typer.Option(help=f"ResNet-18 baseline budget: AdamW steps (fixed in advance, never tuned on test), the same as -B resnet18.steps=N. Default: {ResNetConfig.steps}.")] = None,
    resnet_seeds: Annotated[Optional[int], typer.Option(help="Run ResNet-18 on the draws of seeds 0..N-1 only (it is the costly baseline), the same as -B resnet18.seeds=N. Default: every seed.")] = None,
    fixmatch_steps: Annotated[Optional[int], typer.Option(help=f"FixMatch budget: AdamW steps, each of 32 labeled and 7x32 unlabeled images (fixed in advance, never tuned on test), the same as -B fixmatch.steps=N. Default: {FixMatchConfig.steps}.")] = None,
    transductive: Annotated[bool, typer.Option("--transductive", help="Pool heads (umap, selftrain, propagate) also see the test images, unlabeled; their rows say data=test and are marked transductive.")] = False,
    students: Students = "",
    teacher: Teacher = "auto",
    student_option: StudentOptions = [],
    redo: Annotated[bool, typer.Option("--redo", help="Compute again the rows results.jsonl already holds. By default an evaluation run again (after a kill, or with more seeds or shots) skips them and computes only the rest.")] = False,
    backbone: RunBackbone = None,
    labels: Labels = None,
    data_root: DataRoot = None,
    download: Download = False,
    progress: Progress = True,
) -> None:
    """Fit heads on k labeled images per class (shots x seeds), run the students and the baselines on the same draws,
    and report. Each draw's row is written as it finishes; run again, the command continues where it stopped."""
    from fewgen.data import SourceOptions
    from fewgen.evaluate import EvalConfig
    from fewgen.report.summary import format_table
    from fewgen.commands import evaluate as run_evaluate

    if student_option and not names(students):
        raise FewgenError("--student-option is given, and no --students to train with it; add --students small (or "
                          "encoder), or drop --student-option")
    shortcuts = {("resnet18", "steps"): resnet_steps, ("resnet18", "seeds"): resnet_seeds, ("fixmatch", "steps"): fixmatch_steps}
    if shots is not None and budgets is not None:
        raise FewgenError("--shots (labels per class) and --budgets (labels in all, chosen) are two protocols; give one")
    chosen = {"budgets": ints(budgets, "--budgets"), "selections": names(selection)} if budgets is not None else {}
    cfg = EvalConfig(shots=ints(shots or "1,2,5,10", "--shots"), seeds=seeds, **chosen, heads=names(heads), baselines=names(baselines),
                     pixel_head=pixel_head, scaling=scaling, pixel_scaling=pixel_scaling, val_per_class=validation(val_per_class),
                     baseline_configs=baseline_configs(baseline_option, shortcuts), transductive=transductive,
                     students=names(students), teacher=teacher, student_config=student_config(student_option),
                     redo=redo, progress=progress)
    specs = feature_specs(parts, timesteps, blocks, spatial_pool_of(spatial_pool, old_pool), weights, noise_draws, combine)
    rows = run_evaluate(run, cfg, specs, backbone, SourceOptions(data_root=data_root, download=download, labels=labels), precision,
                        announce=lambda text: typer.echo(text, err=True))
    typer.echo(format_table(rows))
    typer.echo(f"\n{len(rows)} rows in {run / 'results.jsonl'}; plot: {run / 'accuracy_vs_labels.png'}")


@app.command("select")
def select_command(
    run: Annotated[Path, typer.Argument(help="Run folder holding a pretrained ddpm.")],
    timesteps: Annotated[str, typer.Option(help="Timesteps to sweep, comma-separated (0 = the clean image).")] = ",".join(map(str, DEFAULT_TIMESTEPS)),
    blocks: Annotated[str, typer.Option(help="Block subsets to sweep: commas separate subsets, + joins blocks (up0,up0+up1+up2+mid). Empty: each up block, all up blocks, all up blocks + mid.")] = "",
    shots: Annotated[int, typer.Option(help="Labeled images per class in each seeded draw the heads are fitted on.")] = 16,
    seeds: Seeds = 5,
    heads: Annotated[str, typer.Option(help="Heads to score, comma-separated; the best (blocks, t, head) on validation wins. Pool heads (umap, selftrain, propagate) are fitted on the pool's features at each timestep: one pool extraction per t.")] = "mlp,logreg",
    val_per_class: ValPerClass = 16,
    spatial_pool: Annotated[str, typer.Option(help="How a block's feature map is pooled: mean (global average) or KxK adaptive average pooling, e.g. 2x2. The default 4x4 beat mean in 59 of 60 (blocks, t <= 200, head) cells on Fashion-MNIST's validation draw, by 5.5 points on average (docs/DECISIONS.md).")] = "4x4",
    old_pool: OldPool = None,
    weights: Annotated[str, typer.Option(help="ema or raw weights. Empty: ema.")] = "",
    precision: FeaturePrecision = "auto",
    backbone: RunBackbone = None,
    labels: Labels = None,
    data_root: DataRoot = None,
    download: Download = False,
    progress: Progress = True,
) -> None:
    """Choose the diffusion timestep and blocks on the validation draw only (never the test split); 'evaluate' then uses the choice."""
    from fewgen.backbones import FeatureSpec
    from fewgen.data import SourceOptions
    from fewgen.commands import select as run_select
    from fewgen.timestep_select import SelectConfig

    cfg = SelectConfig(timesteps=ints(timesteps, "--timesteps"), blocks=tuple(alternatives(blocks, "--blocks")) or None,
                       shots=shots, seeds=seeds, heads=names(heads), val_per_class=val_per_class, pool=spatial_pool_of(spatial_pool, old_pool),
                       weights=weights or None, progress=progress)
    chosen = run_select(run, cfg, backbone, SourceOptions(data_root=data_root, download=download, labels=labels), precision)
    spec = FeatureSpec.from_dict(chosen["spec"])
    typer.echo(f"chosen on validation: {spec.label()} with {chosen['head']} "
               f"({validation_score(chosen['val_accuracy'], chosen['val_ci'], chosen['n_seeds'])})\n"
               f"stored in {run / 'selection.json'}; sweep plot: {run / 'timestep_sweep.png'}")


@app.command()
def augment(
    run: Annotated[Path, typer.Option(help="Run folder for the rows (new, or an earlier 'fewgen augment' run on the same --data).")],
    data: Annotated[str, typer.Option(help="Dataset: digits, mnist, fashion-mnist, cifar10, cifar100, or folder:PATH.")] = "digits",
    shots: Shots = "1,2,5,10",
    seeds: Seeds = 5,
    augmentations: Annotated[str, typer.Option(help="Augmentations to train ResNet-18 with, comma-separated: none, standard, cutout, erasing, cglo; and mixmatch (MixMatch with ResNet-18 at the same steps, batch and lr, on the draw plus the pool; costly, so only when named).")] = "none,standard,cutout,erasing,cglo",
    option: Annotated[list[str], typer.Option("--option", "-o", help="cGLO setting KEY=VALUE (repeatable): " + "; ".join(
        f"{key}={default} ({text})" for key, default, text in option_help(GLOConfig)))] = [],
    interpolation: Annotated[str, typer.Option(help="How cGLO samples between two codes of a class: slerp (the paper) or lerp (ablation).")] = "slerp",
    no_classifier: Annotated[bool, typer.Option("--no-classifier", help="Ablation: fit the cGLO without its weak classifier (gamma=0).")] = False,
    no_noise: Annotated[bool, typer.Option("--no-noise", help="Ablation: no noise concatenated to the codes (noise_dim=0).")] = False,
    transductive: Annotated[bool, typer.Option("--transductive", help="The cGLO also reconstructs the unlabeled test images; rows are marked transductive.")] = False,
    unlabeled: Annotated[int, typer.Option(help="Unlabeled train images (outside every draw) the cGLO also reconstructs.")] = 0,
    val_per_class: ValPerClass = 16,
    resnet_steps: ResnetSteps = ResNetConfig.steps,
    precision: Precision = "auto",
    labels: Labels = None,
    data_root: DataRoot = None,
    download: Download = False,
    progress: Progress = True,
) -> None:
    """Train ResNet-18 on each labeled draw with each augmentation, cGLO's slerp samples included (Azuri & Weinshall)."""
    from fewgen.augment.run import AugmentConfig
    from fewgen.configs import config_from_options
    from fewgen.data import SourceOptions
    from fewgen.commands import augment as run_augment

    glo = config_from_options(GLOConfig, key_values(option))
    if no_classifier:
        glo.gamma = 0.0
    if no_noise:
        glo.noise_dim = 0
    cfg = AugmentConfig(shots=ints(shots, "--shots"), seeds=seeds, augmentations=names(augmentations),
                        val_per_class=val_per_class, resnet=ResNetConfig(steps=resnet_steps, precision=precision), glo=glo,
                        interpolation=interpolation, transductive=transductive, unlabeled=unlabeled, progress=progress)
    run_augment(run, data, cfg, SourceOptions(data_root=data_root, download=download, labels=labels))
    typer.echo((run / "summary.txt").read_text())  # every invocation's rows on this run, pooled
    typer.echo(f"results: {run / 'results.jsonl'}\nplot:    {run / 'accuracy_vs_labels.png'}")


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to report on (one or more; runs of several datasets are fine).")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for report.html and its PNGs. Default: RUN/report for one run; required for several.")] = None,
    umap_points: Annotated[int, typer.Option(help="Test images per UMAP projection (a seeded subset, the same for every backbone).")] = 2000,
    umap: Annotated[bool, typer.Option(help="Compute UMAP projections (cached in RUN/umap/ after the first report).")] = True,
) -> None:
    """Write one self-contained HTML page: accuracy curves, crossover points, heads, sweeps, UMAP, samples, provenance."""
    from fewgen.report.html import build_report

    if out is None:
        if len(runs) != 1:
            raise FewgenError("--out is required when reporting on several runs; name a folder for report.html")
        out = runs[0] / "report"
    if umap_points < 10:
        raise FewgenError(f"--umap-points must be at least 10, got {umap_points}")
    page = build_report(runs, out, umap_points=umap_points, umap=umap)
    typer.echo(f"report: {page}")


app.command()(fit)
app.command()(predict)
app.command()(suggest)
app.command()(summary)
app.command()(demo)


def validation_score(mean: float, half_width: float, seeds: int) -> str:
    """``81.2 ± 1.3% over 5 seeds``, or ``80.0% (n=1)`` for one seed, whose spread is unknown, never ``± 0.0``."""
    if seeds > 1:
        return f"{100 * mean:.1f} ± {100 * half_width:.1f}% over {seeds} seeds"
    return f"{100 * mean:.1f}% (n=1)"


SUMMARISED = ("ConvergenceWarning",)  # scikit-learn's, raised inside heads: nothing a user can act on, counted


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A :class:`FewgenWarning` as one line, ``warning: ...``; a warning of :data:`SUMMARISED` counted (main says
    how many, once); other warnings as Python shows them."""
    if issubclass(category, FewgenWarning):
        typer.echo(f"warning: {message}", err=True)
    elif category.__name__ in SUMMARISED:
        _counted.append(category.__name__)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning
_counted: list[str] = []


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app; a :class:`FewgenError` becomes one line on stderr and exit code 2."""
    warnings.showwarning = _show_warning
    _counted.clear()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("always", message=".*", module="sklearn")  # each fit's warning reaches the count
            return _run(argv)
    finally:
        warnings.showwarning = _python_show_warning
        if _counted:
            typer.echo(f"warning: scikit-learn's solver stopped before converging in {len(_counted)} head fits "
                       "(ConvergenceWarning); each head has a fixed iteration budget and is scored as fitted", err=True)
        _counted.clear()


def _run(argv: list[str] | None) -> int:
    try:
        # without standalone mode, typer returns an exit code instead of exiting: Ctrl-C gives 130
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            if code == 130:
                typer.echo("interrupted; files already written are kept (each write is atomic)", err=True)
            return code
    except FewgenError as exc:
        typer.echo(f"error: {worker_sentence(exc)}", err=True)  # raised in a DataLoader worker: its sentence alone
        return 2
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        typer.echo(f"error: no space left on the disk writing {exc.filename or 'a file'}; free some space and run the "
                   "command again (files already written are kept whole: each write is atomic)", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:
        # usage errors (unknown option, bad type) are click's ClickException, which newer
        # typer vendors under its own module: recognise them by their interface
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        raise
    return 0


def run() -> None:
    """The ``fewgen`` console script."""
    sys.exit(main())
