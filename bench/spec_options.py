"""The DDPM feature spec options that the validation-only benches share (frozen_reading.py, student_variants.py):
``--timesteps`` (several specs, comma-separated), ``--blocks``, ``--pool``, parsed by fewgen's own CLI parser."""

from __future__ import annotations

import argparse

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
