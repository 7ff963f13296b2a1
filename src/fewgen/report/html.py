"""``fewgen report``: one self-contained HTML page from one or more run folders.

The page embeds every figure as a base64 PNG and its CSS inline, so it makes no
network request and needs no JavaScript; the PNGs are also written beside it.
It reads only what runs wrote; the one thing it computes is the UMAP
projections, which it caches in each run folder (``RUN/umap/``).
"""

from __future__ import annotations

import base64
import shlex
import time
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from fewgen import __version__
from fewgen.atomic import write_text
from fewgen.feature_spec import FeatureSpec
from fewgen.results import BASELINES
from fewgen.report.collect import RunRecord, pooled_rows, read_runs
from fewgen.report.sections import (Figure, backbones_then_baselines, dataset_section, image_figures, suggestion_figure, sweep_figure,
                                    time_to_accuracy_figures, umap_figures)
from fewgen.report.summary import best_per_backbone

REPORT_FILE = "report.html"


def _data_uri(figure: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(figure.file).read_bytes()).decode("ascii")


def provenance(run: RunRecord) -> dict:
    """Where the run's numbers come from: data, model, checkpoint, specs, versions, command, machine, timings."""
    config, rows = run.config, run.rows
    pretrain = config.get("pretrain", {})
    specs = sorted({FeatureSpec.from_dict(r["spec"]).label() for r in rows if r["backbone"] not in BASELINES
                    and r["head"] != r["backbone"]})  # not classifiers trained end to end (resnet18, augmentations)
    seconds = lambda rs: sum(r.get("fit_seconds", 0) + r.get("predict_seconds", 0) for r in rs)  # noqa: E731
    return {
        "run": run.name, "path": str(run.path), "dataset": run.dataset, "n_unlabeled": config.get("n_unlabeled"),
        "image_shape": "×".join(map(str, config.get("image_shape", []))), "backbone": run.backbone,
        "backbone_config": ", ".join(f"{k}={v}" for k, v in sorted(config.get("backbone_config", {}).items())) or "defaults",
        "checkpoint": config.get("checkpoint", "not written (pretraining did not finish)"),
        "specs": ", ".join(specs) or "none evaluated",
        "selection": (f"{FeatureSpec.from_dict(run.selection['spec']).label()} with {run.selection['head']}"
                      if run.selection else "none"),
        "versions": ", ".join(sorted({config.get("fewgen_version", "?"), *(r.get("fewgen_version", "?") for r in rows)})),
        "command": shlex.join(config.get("command", [])) or "unknown",
        "machine": ", ".join(f"{k} {v}" for k, v in sorted(config.get("machine", {}).items())),
        "pretrain": (f"{pretrain['seconds']:.0f} s, {pretrain.get('epochs')} epochs, {pretrain.get('steps')} steps, "
                     f"{pretrain.get('mixed_precision', 'fp32')}" if "seconds" in pretrain else
                     f"none: a cGLO is fitted on each draw ({sum(r.get('glo_seconds', 0) for r in rows):.0f} s in all)"
                     if "augment" in config else "not finished"),
        "heads_seconds": f"{seconds([r for r in rows if r['backbone'] != 'resnet18']):.1f} s over "
                         f"{sum(r['backbone'] != 'resnet18' for r in rows)} rows",
        "resnet_seconds": f"{seconds([r for r in rows if r['backbone'] == 'resnet18']):.1f} s over "
                          f"{sum(r['backbone'] == 'resnet18' for r in rows)} rows",
        "evaluations": ", ".join(sorted({str(r.get("eval_id")) for r in rows})) or "none",
        "earlier_rows": (f"{run.earlier_rows} rows of checkpoints this folder held before further pretraining, "
                         "left out of every table" if run.earlier_rows else ""),
    }


def _umap_sections(runs: list[RunRecord], pooled: dict[str, list[dict]], out: Path, points: int) -> list[dict]:
    by_name = {run.name: run for run in runs}
    sections = []
    for dataset, rows in pooled.items():
        best = best_per_backbone(rows)
        for method in backbones_then_baselines(best):  # raw pixels, the reference, after the backbones
            backbone = next(b for b, m in best.items() if m == method)
            if any(r["head"] == r["backbone"] for r in rows if r["backbone"] == backbone):
                continue  # no cached features: a classifier trained end to end on each draw (resnet18, augmentations)
            run = by_name[next(r["run"] for r in rows if r["backbone"] == backbone)]
            sections.append({"dataset": dataset, "method": method, "content": umap_figures(run, method, rows, out, points)})
    return sections


def build_report(run_paths: list[Path], out: Path, umap_points: int = 2000, umap: bool = True) -> Path:
    """Write ``out/report.html`` and the PNGs it embeds; returns the page's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = read_runs([Path(p) for p in run_paths])
    pooled = pooled_rows(runs)
    missing = [f"{run.name}: no evaluation rows yet; run 'fewgen evaluate {run.path}'." for run in runs if not run.rows]
    datasets = [dataset_section(dataset, rows, out) for dataset, rows in pooled.items() if rows]
    umaps = _umap_sections(runs, pooled, out, umap_points) if umap else []
    if not umap:
        missing.append("UMAP projections were switched off (--no-umap).")
    context = {
        "title": "fewgen report: " + ", ".join(run.name for run in runs),
        "generated": time.strftime("%Y-%m-%d %H:%M"), "version": __version__,
        "datasets": datasets, "sweeps": [sweep_figure(run, out) for run in runs], "umaps": umaps,
        "progress": time_to_accuracy_figures(runs, out),
        "images": [{"run": run.name, "content": image_figures(run, out)} for run in runs],
        "suggestions": [{"run": run.name, "figure": figure} for run in runs if (figure := suggestion_figure(run, out))],
        "provenance": [provenance(run) for run in runs], "missing": missing,
    }
    env = Environment(loader=PackageLoader("fewgen.report", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["data_uri"] = _data_uri
    env.tests["figure"] = lambda value: isinstance(value, Figure)
    page = out / REPORT_FILE
    write_text(page, env.get_template("report.html").render(**context))
    return page
