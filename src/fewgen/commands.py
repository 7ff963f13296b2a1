"""The commands on a run folder, as a library (the CLI and :mod:`fewgen.api` call them): pretrain a backbone into it,
evaluate it, sweep its timesteps (select), and train with augmentations (augment). Each holds the run's lock while
it writes; what a run folder holds is described once, in :mod:`fewgen.rundir`."""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
from accelerate.utils import set_seed

from fewgen import __version__
from fewgen.atomic import DiskFull, write_json, write_text
from fewgen.backbones import checkpoint_hash, get_backbone_class
from fewgen.backbones.base import FeatureSpec, config_from_options
from fewgen.backbones.torch_backbone import TorchBackbone
from fewgen.cpu import vector_flags
from fewgen.data import SourceOptions, load_source
from fewgen.errors import FewgenError, FewgenWarning
from fewgen.evaluate import EvalConfig, Evaluation
from fewgen.heads import check_tokens
from fewgen.teaching import check_students_backbone
from fewgen.report.plots import plot_accuracy_vs_labels
from fewgen.report.summary import format_table
from fewgen.suggest import chosen_labels_note, suggest_round
from fewgen.timestep_select import SelectConfig, read_selection, run_selection
from fewgen.rundir import (BACKBONE_DIR, CONFIG_FILE, open_run, read_run_config, run_lock, save_sample_grid,
                           source_options_record)
from fewgen.train import TrainConfig, is_main_process


def machine() -> dict:
    """Where a run ran, for its config.json: versions, platform, CPU count and the vector flags that decide its speed
    and precision (:mod:`fewgen.cpu`), and the GPU's name if any."""
    cuda = torch.cuda.is_available()
    return {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "cpu_flags": vector_flags(), "cuda": cuda,
            "gpu": torch.cuda.get_device_name(0) if cuda else None}


def pretrain_chunks(config: dict) -> list[dict]:
    """The run's pretraining so far, one entry per ``fewgen pretrain`` invocation (the first, then each ``--resume``):
    the checkpoint it left, its total steps and epochs, and the training seconds summed over the invocations up to it,
    which is the time axis of the report's time-to-accuracy curve. A run written before this record began counts its
    last invocation only. The part of a killed invocation before the kill is not counted: its time is lost with it."""
    if "pretrain_chunks" in config:
        return list(config["pretrain_chunks"])
    last = config.get("pretrain")
    if not last or not config.get("checkpoint"):
        return []
    return [{"checkpoint": config["checkpoint"], "steps": last["steps"], "epochs": last.get("epochs"), "seconds": last["seconds"]}]


def originals_beside_reconstructions(model, images: torch.Tensor, per_row: int = 8) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> ``[2N, C, H, W]``: rows of ``per_row`` originals, each followed by a row of their reconstructions."""
    recon = model.reconstruct(images)
    rows = [t for i in range(0, len(images), per_row) for t in (images[i : i + per_row], recon[i : i + per_row])]
    return torch.cat(rows)


def _locked(create: bool):
    """Run the decorated command holding the run folder's lock (:func:`fewgen.rundir.run_lock`); under a
    multi-process launch only the main process, the one that writes, takes it."""
    def decorate(command):
        @functools.wraps(command)
        def locked(run_dir, *args, **kwargs):
            if not is_main_process():
                return command(run_dir, *args, **kwargs)
            with run_lock(run_dir, create):
                return command(run_dir, *args, **kwargs)

        return locked

    return decorate


@_locked(create=True)
def pretrain(run_dir: Path, dataset: str, backbone: str, options: dict[str, str], train: TrainConfig,
             source_options: SourceOptions, resume: bool = False) -> dict | None:
    """Pretrain ``backbone`` on the unlabeled pool of ``dataset`` into ``run_dir``; returns the run config.

    Under a multi-process launch every process trains and only the main one writes (config, checkpoints,
    weights, pictures); the others return None."""
    run_dir = Path(run_dir)
    train.check()
    cls = get_backbone_class(backbone)
    config = config_from_options(cls.Config, options)
    if (run_dir / BACKBONE_DIR).exists() and not resume:
        raise FewgenError(f"{run_dir} already holds a pretrained backbone; choose a new --run folder")
    chunks: list[dict] = []
    if resume:
        previous = read_run_config(run_dir)
        chunks = pretrain_chunks(previous)
        if previous["backbone"] != backbone or previous["dataset"] != dataset:
            raise FewgenError(f"--resume: {run_dir} was started with {previous['backbone']} on {previous['dataset']}; "
                              "pass the same --backbone and --data")
        if previous["backbone_config"] != dataclasses.asdict(config):
            raise FewgenError(f"--resume: {run_dir} was started with backbone options {previous['backbone_config']}; "
                              "pass the same --option values")
    source = load_source(dataset, source_options)
    set_seed(train.seed)  # the same --seed gives the same initial weights, hence the same run
    model = cls(config, source.image_shape)
    if not resume and isinstance(model, TorchBackbone) and (train.steps == 0 or (train.steps is None and train.epochs == 0)):
        warnings.warn(f"--epochs 0: the {backbone} is saved untrained, with its random initial weights, so its features "
                      "are a random network's; give --epochs N (or --steps N) to train it", FewgenWarning, stacklevel=2)
    run_config = {
        "dataset": dataset, **source_options_record(source_options, source), "backbone": backbone, "backbone_config": dataclasses.asdict(config), "train": dataclasses.asdict(train),
        "image_shape": list(source.image_shape), "n_unlabeled": len(source.train),
        "n_skipped": len(source.notes.get("skipped_unlabeled", [])),
        "command": sys.argv, "fewgen_version": __version__, "machine": machine(), "pretrain_chunks": chunks,
    }
    main = is_main_process()
    if main:
        write_json(run_dir / CONFIG_FILE, {**run_config, "status": "pretraining"})
    summary = model.fit(source.train.images, train, run_dir, resume=resume)
    if not main:
        return None
    try:
        model.save(run_dir / BACKBONE_DIR)
    except DiskFull as exc:
        shutil.rmtree(run_dir / BACKBONE_DIR, ignore_errors=True)  # nothing half-written; the checkpoint holds the weights
        if not isinstance(model, TorchBackbone):  # nothing trained, nothing to resume
            raise exc.advising("run the same 'fewgen pretrain' again") from None
        raise exc.advising("run the same 'fewgen pretrain' again with --resume: it starts from the last checkpoint, so "
                           "no training is repeated") from None
    checkpoint = checkpoint_hash(run_dir / BACKBONE_DIR)
    seconds = (chunks[-1]["seconds"] if chunks else 0.0) + summary.get("seconds", 0.0)
    chunk = {"checkpoint": checkpoint, "steps": summary.get("steps", 0), "epochs": summary.get("epochs", 0), "seconds": seconds}
    run_config.update(status="pretrained", pretrain=summary, checkpoint=checkpoint, pretrain_chunks=[*chunks, chunk])
    write_json(run_dir / CONFIG_FILE, run_config)  # the run is usable from here on, with or without its pictures
    run_config.update(save_pictures(model, source, run_dir, train.progress))
    write_json(run_dir / CONFIG_FILE, run_config)
    return run_config


def save_pictures(model, source, run_dir: Path, progress: bool = True) -> dict:
    """``samples.png`` (64 samples; the DDPM's few-step DDIM sampler) and ``reconstructions.png`` where the backbone
    can make them, each timed: the run config's ``samples``, ``reconstructions`` and ``pictures_seconds``. A
    status line on a terminal says what is being drawn. A full disk here is a warning: the backbone is saved."""
    from tqdm.auto import tqdm

    from fewgen.progress import bar_disabled

    made: dict = {}
    started = time.perf_counter()
    jobs = (("samples", lambda: model.sample(64)),
            ("reconstructions", lambda: originals_beside_reconstructions(model, source.train.images[:32])))
    with tqdm(jobs, desc="pictures", disable=bar_disabled(progress), leave=False) as bar:
        for name, make in bar:
            bar.set_postfix_str(f"{name}.png")
            try:
                save_sample_grid(make(), run_dir / f"{name}.png")
                made[name] = f"{name}.png"
            except DiskFull as exc:  # the backbone is saved and the run usable: a picture is not worth failing for
                warnings.warn(f"{name}.png was not drawn: {exc}", FewgenWarning, stacklevel=2)
            except FewgenError:
                pass  # this backbone cannot generate (or reconstruct)
    return {**made, "pictures_seconds": time.perf_counter() - started}


def default_specs(run_dir: Path, backbone, checkpoint: str) -> list[FeatureSpec]:
    """What ``evaluate`` reads when no spec is given: the spec ``fewgen select`` stored, else the backbone's defaults."""
    selected = read_selection(run_dir, checkpoint)
    return [selected] if selected is not None else backbone.default_specs()


@_locked(create=False)
def evaluate(run_dir: Path, cfg: EvalConfig, specs: list[FeatureSpec] | None = None, expected_backbone: str | None = None,
             source_options: SourceOptions | None = None, precision: str = "auto",
             announce: Callable[[str], None] | None = None) -> list[dict]:
    """Evaluate the run's backbone and the baselines on shared draws; writes rows, plot and summary. ``announce``
    gets the validation protocol and the repeated draws (:meth:`Draws.describe`) before the work starts, when
    evaluate cross-validates or leaves a draw out."""
    run_dir = Path(run_dir)
    backbone, checkpoint, source = open_run(run_dir, expected_backbone, source_options, precision)
    specs = specs or default_specs(run_dir, backbone, checkpoint)
    for spec in specs:
        backbone.check_spec(spec)  # a bad spec is the only line printed
    check_tokens(cfg.heads, backbone.name, [backbone.token_layout(spec) for spec in specs])
    check_students_backbone(cfg.students, backbone)
    cfg.check()  # before any draw is chosen
    if not cfg.heads and not cfg.baselines:
        raise FewgenError("nothing to evaluate: --heads and --baselines are both empty")
    note = chosen_labels_note(run_dir, "the validation accuracy (val_accuracy, which chooses the method)")
    if announce is not None and note and source.name.startswith("folder:"):
        announce(note)
    rows, skipped = [], 0
    for draws in _draws_to_evaluate(run_dir, cfg, backbone, checkpoint, source):
        evaluation = Evaluation(run_dir, source, cfg, draws=draws)
        if announce is not None and (evaluation.draws.protocol == "cv" or evaluation.draws.repeats):
            announce(evaluation.draws.describe())  # the fixed validation draw of 16 per class goes without saying
        rows += _evaluate_draws(evaluation, cfg, backbone, checkpoint, specs)
        skipped += evaluation.done.skipped
    if announce is not None and skipped:
        announce(f"{skipped} of these {len(rows)} rows were already in {run_dir / 'results.jsonl'} and were "
                 "not computed again (--redo computes them again)")
    per = "labels in all (B)" if cfg.budgets else "labels per class"
    plot_accuracy_vs_labels(rows, run_dir / "accuracy_vs_labels.png", title=f"{source.name}: accuracy vs {per}")
    write_text(run_dir / "summary.txt", format_table(rows) + "\n")
    return rows


def _draws_to_evaluate(run_dir: Path, cfg: EvalConfig, backbone, checkpoint: str, source) -> list:
    """``[None]`` (the draws of k random images per class), or with ``--budgets`` one set of draws per selection,
    each chosen on the run's default features (:mod:`fewgen.chosen_draws`)."""
    if not cfg.budgets:
        return [None]
    from fewgen.chosen_draws import chosen_draws
    from fewgen.features import FeatureCache

    spec = default_specs(run_dir, backbone, checkpoint)[0]
    features_of = lambda pool: FeatureCache(run_dir).get(backbone, checkpoint, spec, "train", pool, source.train.images, mmap=True)
    labels = source.require_labels()
    return [chosen_draws(labels, source.class_names, cfg.budgets, cfg.seeds, selection, features_of, cfg.val_per_class)
            for selection in cfg.selections]


def _evaluate_draws(evaluation: Evaluation, cfg: EvalConfig, backbone, checkpoint: str, specs: list) -> list[dict]:
    """The rows of the heads, the students and the baselines on one set of draws."""
    heads = cfg.heads if backbone.name != "pixels" or "pixels" not in cfg.baselines else ()
    feature_rows = evaluation.run_features(backbone, checkpoint, specs, heads) if heads else []
    # the students' teachers: the heads on the backbone's features; on a pixels run, the pixels baseline's rows are those
    pixel_rows = evaluation.run_pixels() if cfg.students and not feature_rows and "pixels" in cfg.baselines else []
    student_rows = evaluation.run_students(backbone, checkpoint, feature_rows or pixel_rows) if cfg.students else []
    return feature_rows + student_rows + pixel_rows + evaluation.run_baselines(skip=("pixels",) if pixel_rows else ())


@_locked(create=False)
def suggest(run_dir: Path, budget: int, strategy: str | None = None, seed: int = 0,
            source_options: SourceOptions | None = None, precision: str = "auto") -> dict:
    """Choose ``budget`` images of the run's unlabeled pool to label (:mod:`fewgen.suggest`) on the features
    ``evaluate`` reads by default; writes ``RUN/suggestions/round-NN.*``."""
    run_dir = Path(run_dir)
    backbone, checkpoint, source = open_run(run_dir, None, source_options, precision)
    spec = default_specs(run_dir, backbone, checkpoint)[0]
    return suggest_round(run_dir, backbone, checkpoint, source, spec, budget, strategy, seed)


@_locked(create=False)
def select(run_dir: Path, cfg: SelectConfig, expected_backbone: str | None = None,
           source_options: SourceOptions | None = None, precision: str = "auto") -> dict:
    """Sweep timesteps and blocks on the validation draw; store the choice in ``RUN/selection.json``."""
    run_dir = Path(run_dir)
    backbone, checkpoint, source = open_run(run_dir, expected_backbone, source_options, precision)
    return run_selection(run_dir, backbone, checkpoint, source, cfg)


@_locked(create=True)
def augment(run_dir: Path, dataset: str, cfg, source_options: SourceOptions) -> list[dict]:
    """Train ResNet-18 with each augmentation of ``cfg`` (an AugmentConfig) on the draws; rows to results.jsonl.

    A new run folder gets a config.json (backbone ``cglo``); an existing one must be an augment run on the
    same dataset, and the new rows are appended (e.g. an ablation after the main run).
    """
    from fewgen.augment.run import AugmentationRun

    run_dir = Path(run_dir)
    cfg.check()
    previous = {}
    if (run_dir / CONFIG_FILE).is_file():
        previous = read_run_config(run_dir)
        if previous.get("backbone") != "cglo" or previous.get("dataset") != dataset:
            raise FewgenError(f"{run_dir} holds a {previous.get('backbone')} run on {previous.get('dataset')}; "
                              "give 'fewgen augment' a new --run folder or one of its own on the same --data")
    source = load_source(dataset, source_options)
    invocation = {"command": sys.argv, "augment": dataclasses.asdict(cfg), "fewgen_version": __version__, "machine": machine()}
    run_config = {
        **previous, "dataset": dataset, **source_options_record(source_options),
        "backbone": "cglo", "image_shape": list(source.image_shape), **invocation,
        "invocations": previous.get("invocations", []) + [invocation],  # every ablation and resumption, in order
        "status": "augmenting",
    }
    write_json(run_dir / CONFIG_FILE, _with_slerp_grid(run_config, run_dir))
    rows = AugmentationRun(run_dir, source, cfg).run()
    write_json(run_dir / CONFIG_FILE, _with_slerp_grid({**run_config, "status": "augmented"}, run_dir))
    from fewgen.report.collect import pooled_rows, read_runs

    every_row = pooled_rows(read_runs([run_dir])).get(dataset, rows)  # earlier invocations too, each draw once
    plot_accuracy_vs_labels(every_row, run_dir / "accuracy_vs_labels.png", all_heads=True,
                            title=f"{source.name}: ResNet-18 accuracy with each augmentation")
    write_text(run_dir / "summary.txt", augment_summary(every_row) + "\n")
    return rows


def _with_slerp_grid(run_config: dict, run_dir: Path) -> dict:
    """``run_config`` with ``samples`` naming the slerp grid the report shows: the full model's at the largest k,
    else an ablation's (an interrupted invocation keeps the grid of an earlier one)."""
    grids = sorted(run_dir.glob("slerp_grid_k*.png"), key=lambda p: int(p.stem.split("_")[2][1:]))
    grids = [p for p in grids if p.stem.count("_") == 2] or grids  # the full model's grids first
    return {**run_config, "samples": grids[-1].name} if grids else run_config


def augment_summary(rows: list[dict]) -> str:
    """The accuracy table of an augment run, then the full cGLO (or, without it, the first ablation run)
    minus every other method, paired on the shared draws: the test of the paper's claim."""
    from fewgen.report.summary import cglo_method, format_paired, summarise

    text = format_table(rows)
    methods = list(summarise(rows))
    cglo = cglo_method(methods)
    if cglo and len(methods) > 1:
        text += "\n\n" + format_paired(rows, cglo, methods)
    return text
