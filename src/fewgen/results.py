"""Result rows: what a row of ``RUN/results.jsonl`` holds, how a method is named, and how rows are read.

Writers (evaluate, select, augment, the baselines) build every row with :func:`make_row`, which knows each field
(:data:`FIELDS`), and readers (fit, the report) meet them here, so that the report needs nothing else from the
pipeline to read what runs wrote. Fields a row may lack (rows written by older versions, or by ``select``) are read
through the accessors below, each with its documented default.
"""

from __future__ import annotations

import json
from pathlib import Path

from fewgen import __version__
from fewgen.baselines import BASELINES as REGISTERED_BASELINES
from fewgen.configs import StudentConfig
from fewgen.errors import FewgenError
from fewgen.feature_spec import FeatureSpec

BASELINES = tuple(REGISTERED_BASELINES)  # the baselines' names (their rows' backbone and head), from the registry
HEAD_DEFAULTS = {"scaling": "feature"}  # head settings a method's name leaves out
STUDENT_DEFAULTS = StudentConfig().spec()  # a student's budget that its method's name leaves out
DATA_USES = ("labeled", "pool", "test")  # what a row's head fitted on: the draw, plus the pool, plus the test images
# The order that breaks ties on validation: the simpler head wins. Linear models first (logreg, the convex default,
# then the SGD linear probe), then k-NN (no training, but it keeps every row), the MLP (nonlinear), the attention head
# (a transformer over tokens), and last the heads that also learn from the unlabeled pool (more moving parts, and a
# model folder that holds the pool).
SIMPLEST_FIRST = ("logreg", "linear", "knn", "mlp", "attention", "umap", "selftrain", "propagate")


REQUIRED = ("dataset", "backbone", "checkpoint", "spec", "head", "shots", "seed", "val_accuracy", "n_val", "eval_id")
FIELDS = {  # every field a row may hold
    "stage": "the command that wrote the row: select for the timestep sweep; evaluate rows leave it out",
    "dataset": "the data source's name", "backbone": "the backbone (a baseline's rows: the baseline's name)",
    "checkpoint": "the backbone's checkpoint hash ('-' for a baseline)",
    "spec": "the FeatureSpec as a dict (a baseline's rows: its budget, Config.spec())",
    "head": "the head (a baseline's rows: the baseline's name again)", "head_params": "head settings given by the user",
    "shots": "labeled images per class in the draw (with a selection: labeled images in all, the budget B)",
    "seed": "the draw's seed",
    "selection": "who chose the labeled images (fewgen.chosen_draws: random, balanced, a strategy); absent: k random "
                 "images per class", "classes_seen": "how many classes the labeled images cover",
    "rounds": "with a FIRST+LATER selection, the budgets the draw grew through, its own last (its round is their count)",
    "data_id": "a folder's train files and labels, as a digest (draw_rows.data_id); absent for a built-in dataset",
    "accuracy": "test accuracy (None in select rows: the sweep never reads the test split)",
    "macro_f1": "test macro-F1", "n_test": "test images",
    "val_accuracy": "accuracy on the draw's validation images, the only score selection reads (None without any)",
    "n_val": "validation images", "validation": "fixed (one validation draw) or cv (folds)",
    "val_fold": "the draw's validation fold (0 for the fixed draw)",
    "data": "what the head fitted on (DATA_USES)", "transductive": "whether it saw the test images, unlabeled",
    "tuned": "the pool head's candidate setting chosen on validation", "candidates": "how many candidates it had",
    "fit_seconds": "seconds to fit", "predict_seconds": "seconds to predict the test split",
    "extract_seconds": "feature extraction for the spec, once per evaluation (0 when cached)",
    "label_free_seconds": "UMAP and neighbour-graph fits this fit triggered",
    "glo_seconds": "seconds fitting the cGLO (augment rows)",
    "teacher": "a student's teacher: the method (on the row's spec) whose pool probabilities it learned from",
    "student": "a student's budget (its StudentConfig.spec())", "teacher_seconds": "seconds fitting the teacher", "feature_precision": "arithmetic of the features",
    "eval_id": "the evaluation that wrote the row", "fewgen_version": "the version that wrote the row",
}


def make_row(**fields) -> dict:
    """A result row from keyword fields (:data:`FIELDS`), plus the fewgen version. A field it does not know, a
    missing one of :data:`REQUIRED`, or a ``data`` outside :data:`DATA_USES` is a bug of the writer: ValueError."""
    unknown = sorted(set(fields) - set(FIELDS))
    missing = [name for name in REQUIRED if name not in fields]
    if unknown or missing:
        raise ValueError(f"result row: unknown fields {unknown}, missing fields {missing}")
    if fields.get("data", "labeled") not in DATA_USES:
        raise ValueError(f"result row: data must be one of {DATA_USES}, got {fields['data']!r}")
    return {**fields, "fewgen_version": __version__}


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


def method_base(row: dict) -> str:
    """What a method reads: the backbone and its spec, e.g. ``vae[part=stacked]`` or ``pixels``; a classifier
    trained end to end (a baseline, whose head is its backbone) is ``resnet18``."""
    if row["head"] == row["backbone"]:
        return row["backbone"]
    spec = FeatureSpec.from_dict(row["spec"]).label()
    return f"{row['backbone']}{'' if spec == 'default' else f'[{spec}]'}"


def head_label(row: dict) -> str:
    """The head and the settings that are not its defaults, e.g. ``logreg(scaling=global)``, or a student's budget
    that is not :class:`StudentConfig`'s, e.g. ``student-small(steps=1000)`` (so students of two budgets are two
    methods, compared on validation like two heads); ``""`` for a classifier trained end to end."""
    if row["head"] == row["backbone"]:
        return ""
    settings = {**head_params(row), **row.get("student", {})}
    defaults = {**HEAD_DEFAULTS, **STUDENT_DEFAULTS}
    shown = [f"{k}={v}" for k, v in sorted(settings.items()) if k not in defaults or defaults[k] != v]
    params = ",".join(shown + (["transductive"] if data_use(row) == "test" else []))
    return f"{row['head']}{f'({params})' if params else ''}"


def method_name(row: dict) -> str:
    """A display name, :func:`method_base` + :func:`head_label`: ``vae[part=stacked]+mlp``,
    ``pixels+logreg(scaling=global)``, or ``resnet18``; on labels chosen by a selection, ``@`` and its name
    (``vae[part=stacked]+mlp@typiclust``), so that each selection is a method of its own."""
    head = head_label(row)
    name = f"{method_base(row)}+{head}" if head else method_base(row)
    return f"{name}@{row['selection']}" if row.get("selection") else name


def on_shared_draws(by_method: dict[str, dict]) -> dict[str, list]:
    """``{method: {draw: value}}`` -> ``{method: [value, ...]}`` on the draws every method ran, so that a method
    run on 5 seeds is not weighed against one run on 3; where they share none, each keeps its own draws. The
    summaries' per-k choice and ``fit``'s choice compare methods through this."""
    shared = set.intersection(*(set(by_draw) for by_draw in by_method.values())) if by_method else set()
    return {method: [by_draw[draw] for draw in by_draw if draw in shared] or list(by_draw.values())
            for method, by_draw in by_method.items()}


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
