"""Read what run folders wrote (config, results, selection, images, feature caches) for the report.

Nothing here trains or extracts features. Rows from several runs are pooled per
dataset with two rules, so that no draw is counted twice:

- a backbone's rows: only those of the checkpoint the folder holds now (rows of
  a checkpoint that further pretraining replaced describe a model that is gone,
  and share its method names, so they are counted and left out); for each
  (checkpoint, method, shots, seed), the latest evaluation wins (re-running
  ``fewgen evaluate`` appends, it does not replace);
- a baseline's rows (``pixels``, ``resnet18``), which every run repeats on the
  same seeded draws: for each (method, shots, seed), the first run listed that
  has one wins, and within it the latest evaluation.

When two runs of one dataset share a backbone name, their methods are told
apart as ``backbone@run-folder``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fewgen.errors import FewgenError
from fewgen.results import BASELINES, head_params, method_name, read_rows, stage
from fewgen.feature_files import FeatureFiles
from fewgen.rundir import CONFIG_FILE, RESULTS_FILE, SELECTION_FILE, SUGGESTIONS_DIR


@dataclass
class RunRecord:
    """One run folder as the report sees it."""

    path: Path
    name: str
    config: dict
    rows: list[dict]  # evaluation rows (stage evaluate) of the folder's checkpoint (and its baselines), as written
    sweep_rows: list[dict]  # `fewgen select` rows (validation only) of the run's checkpoint
    selection: dict | None
    images: dict[str, Path] = field(default_factory=dict)  # "samples" / "reconstructions" -> PNG
    chunk_rows: list[dict] = field(default_factory=list)  # `fewgen select` rows of every checkpoint in pretrain_chunks
    earlier_rows: int = 0  # evaluation rows of checkpoints this folder held before (further pretraining), left out
    suggestions: list[dict] = field(default_factory=list)  # `fewgen suggest` rounds (their round-NN.json), oldest first

    @property
    def chunks(self) -> list[dict]:
        """The run's pretraining chunks (checkpoint, steps, epochs, cumulative seconds), oldest first."""
        return self.config.get("pretrain_chunks", [])

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    @property
    def backbone(self) -> str:
        return self.config["backbone"]

    @property
    def cache(self) -> FeatureFiles:
        return FeatureFiles(self.path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise FewgenError(f"{path} is not valid JSON; the run folder is damaged (rerun the command that wrote it)") from None


def read_run(path: Path, name: str | None = None) -> RunRecord:
    """Everything the report needs from one run folder; a folder that is not a run gets one clear sentence."""
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise FewgenError(f"{path} is not a fewgen run folder ({CONFIG_FILE} is missing); pass folders made by 'fewgen pretrain'")
    config = _read_json(config_path)
    results = path / RESULTS_FILE
    rows = read_rows(results) if results.is_file() else []
    selection = _read_json(path / SELECTION_FILE) if (path / SELECTION_FILE).is_file() else None
    if selection is not None and selection.get("checkpoint") != config.get("checkpoint"):
        selection = None  # made for an earlier checkpoint of this folder
    chunk_checkpoints = {chunk["checkpoint"] for chunk in config.get("pretrain_chunks", [])}
    evaluated = [r for r in rows if stage(r) == "evaluate"]
    current = [r for r in evaluated if _of_checkpoint(r, config.get("checkpoint"))]
    images = {key: path / config[key] for key in ("samples", "reconstructions") if config.get(key) and (path / config[key]).is_file()}
    return RunRecord(
        path=path, name=name or path.name, config=config,
        rows=current, earlier_rows=len(evaluated) - len(current),
        sweep_rows=[r for r in rows if stage(r) == "select" and r.get("checkpoint") == config.get("checkpoint")],
        selection=selection, images=images,
        chunk_rows=[r for r in rows if stage(r) == "select" and r.get("checkpoint") in chunk_checkpoints],
        suggestions=sorted((_read_json(p) for p in (path / SUGGESTIONS_DIR).glob("round-*.json")), key=lambda r: r["round"]),
    )


def _of_checkpoint(row: dict, checkpoint: str | None) -> bool:
    """Whether ``row`` belongs with the folder's ``checkpoint``: a row of no backbone (a baseline, an augmentation:
    checkpoint ``-``) always; a backbone's row when its checkpoint is the folder's, or when the folder has none yet."""
    return checkpoint is None or _is_baseline(row) or row.get("checkpoint") in ("-", None, checkpoint)


def read_runs(paths: list[Path]) -> list[RunRecord]:
    """Read every run; folders with the same name get ``name-2``, ``name-3`` so figures never collide."""
    if not paths:
        raise FewgenError("give at least one run folder: fewgen report RUN [RUN ...] --out DIR")
    seen: Counter[str] = Counter()
    runs = []
    for path in paths:
        base = Path(path).resolve().name
        seen[base] += 1
        runs.append(read_run(Path(path), base if seen[base] == 1 else f"{base}-{seen[base]}"))
    return runs


def _is_baseline(row: dict) -> bool:
    return row["backbone"] in BASELINES


def pooled_rows(runs: list[RunRecord]) -> dict[str, list[dict]]:
    """``{dataset: rows}`` with duplicates removed (see the module docstring) and backbones told apart across runs."""
    runs_per_backbone = Counter((run.dataset, run.backbone) for run in runs)
    by_dataset: dict[str, dict[tuple, dict]] = {}
    for run in runs:
        kept = by_dataset.setdefault(run.dataset, {})
        latest: dict[tuple, dict] = {}
        for row in run.rows:  # later rows of the same key replace earlier ones
            row = dict(row, run=run.name)
            if not _is_baseline(row) and runs_per_backbone[(run.dataset, row["backbone"])] > 1:
                row["backbone"] = f"{row['backbone']}@{run.name}"
            key = (method_name(row), row["shots"], row["seed"])
            latest[key if _is_baseline(row) else (row["checkpoint"], *key)] = row
        for key, row in latest.items():
            if not (_is_baseline(row) and key in kept):  # a baseline draw: the first run listed wins
                kept[key] = row
    return {dataset: list(rows.values()) for dataset, rows in by_dataset.items()}


def baseline_settings_differ(rows: list[dict]) -> list[str]:
    """Baselines whose pooled rows come from different settings (e.g. ResNet steps, validation size)."""
    settings: dict[str, set[str]] = {}
    for row in rows:
        if _is_baseline(row):
            setting = json.dumps({"spec": row["spec"], "head_params": head_params(row), "n_val": row.get("n_val")},
                                 sort_keys=True)
            settings.setdefault(method_name(row), set()).add(setting)
    return sorted(method for method, values in settings.items() if len(values) > 1)
