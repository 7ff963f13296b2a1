"""Result rows: what a row of ``RUN/results.jsonl`` holds, how a method is named, and how rows are read.

Writers (evaluate, select, augment, the baselines) and readers (fit, the report) meet here, so that the report
needs nothing else from the pipeline to read what runs wrote. Fields a row may lack (rows written by older
versions) are read through the accessors below, each with its documented default.
"""

from __future__ import annotations

import json
from pathlib import Path

from fewgen.baselines import BASELINES as REGISTERED_BASELINES
from fewgen.errors import FewgenError
from fewgen.feature_spec import FeatureSpec

BASELINES = tuple(REGISTERED_BASELINES)  # the baselines' names (their rows' backbone and head), from the registry
HEAD_DEFAULTS = {"scaling": "feature"}  # head settings a method's name leaves out
DATA_USES = ("labeled", "pool", "test")  # what a row's head fitted on: the draw, plus the pool, plus the test images
# The order that breaks ties on validation: the simpler head wins. Linear models first (logreg, the convex default,
# then the SGD linear probe), then k-NN (no training, but it keeps every row), the MLP (nonlinear), and last the heads
# that also learn from the unlabeled pool (more moving parts, and a model folder that holds the pool).
SIMPLEST_FIRST = ("logreg", "linear", "knn", "mlp", "umap", "selftrain", "propagate")


def simplicity(head: str) -> int:
    """A head's rank in :data:`SIMPLEST_FIRST` (0 = simplest); a head missing from it ranks after every listed one."""
    return SIMPLEST_FIRST.index(head) if head in SIMPLEST_FIRST else len(SIMPLEST_FIRST)


def stage(row: dict) -> str:
    """Which command wrote the row: ``evaluate`` (the default), or ``select`` for the timestep sweep's rows."""
    return row.get("stage", "evaluate")


def data_use(row: dict) -> str:
    """What the row's head was fitted on (:data:`DATA_USES`); rows older than the tag used the labeled draw only."""
    return row.get("data", "labeled")


def head_params(row: dict) -> dict:
    """The head's settings given on the command line (e.g. scaling)."""
    return row.get("head_params", {})


def tuned(row: dict) -> dict:
    """The candidate setting chosen on validation for the row's head (e.g. ``{"space": "umap"}``), or ``{}``."""
    return row.get("tuned", {})


def method_name(row: dict) -> str:
    """A display name: ``vae[part=stacked]+mlp``, ``pixels+logreg(scaling=global)`` or ``resnet18``."""
    if row["head"] == row["backbone"]:
        return row["backbone"]
    spec = FeatureSpec.from_dict(row["spec"]).label()
    shown = [f"{k}={v}" for k, v in sorted(head_params(row).items()) if HEAD_DEFAULTS.get(k) != v]
    params = ",".join(shown + (["transductive"] if data_use(row) == "test" else []))
    return f"{row['backbone']}{'' if spec == 'default' else f'[{spec}]'}+{row['head']}{f'({params})' if params else ''}"


def read_rows(path: Path) -> list[dict]:
    """The rows of a results.jsonl file; a damaged line is named (file and line number)."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise FewgenError(f"{path} line {number} is not valid JSON; fix or delete that line") from None
    return rows
