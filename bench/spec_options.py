"""What the validation-only benches share (frozen_reading.py, student_variants.py, propagate_graphs.py): the DDPM
feature spec options ``--timesteps`` (several specs, comma-separated), ``--blocks``, ``--pool``, parsed by fewgen's own
CLI parser, and a run opened as ``fewgen evaluate`` opens it (its draws, feature cache and backbone)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewgen.cli.options import feature_specs
from fewgen.feature_spec import FeatureSpec


def add_spec_options(parser: argparse.ArgumentParser, pool: str) -> None:
    """``--timesteps 50+100[,25+50...]``, ``--blocks up0+up1+up2+mid`` and ``--pool`` (default ``pool``)."""
    parser.add_argument("--timesteps", default="50+100", help="+ joins timesteps; commas separate specs to score in turn")
    parser.add_argument("--blocks", default="up0+up1+up2+mid")
    parser.add_argument("--pool", default=pool)


def specs_of(args: argparse.Namespace, combine: str = "concat") -> list[FeatureSpec]:
    """One spec per comma-separated ``--timesteps`` entry, as ``fewgen evaluate`` would read the same options."""
    return feature_specs("", args.timesteps, args.blocks, args.pool, "", combine=combine)


def open_bench_run(run: Path, shots: tuple[int, ...], seeds: int, eval_id: str):
    """``(source, evaluation, backbone, checkpoint)`` of a run folder: evaluate's draws for ``shots`` x ``seeds`` and
    its feature cache (``evaluation.cache``), the saved backbone and its checkpoint hash."""
    from fewgen.backbones import checkpoint_hash, load_backbone
    from fewgen.data import load_source
    from fewgen.evaluate import EvalConfig, Evaluation
    from fewgen.rundir import read_run_config

    source = load_source(read_run_config(run)["dataset"])
    evaluation = Evaluation(run, source, EvalConfig(shots=shots, seeds=seeds, progress=False), eval_id=eval_id)
    return source, evaluation, load_backbone(run / "backbone"), checkpoint_hash(run / "backbone")
