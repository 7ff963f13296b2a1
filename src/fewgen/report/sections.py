"""The report's sections as plain data (tables, figures, what is missing), built from run folders.

Every number comes from the rows the runs wrote (see :mod:`fewgen.report.collect`);
every figure is a PNG written into the output folder. Methods are chosen on the
validation draw only: per backbone, the (feature spec, head) with the best mean
validation accuracy over shots (:func:`~fewgen.report.summary.best_per_backbone`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewgen.atomic import atomic_path
from fewgen.configs import SWEEPABLE_BACKBONES
from fewgen.feature_spec import FeatureSpec
from fewgen.results import BASELINES, head_label, method_name
from fewgen.rundir import SUGGESTIONS_DIR
from fewgen.report import umap as umap_plots
from fewgen.report.collect import RunRecord, baseline_settings_differ
from fewgen.report.plots import plot_accuracy_vs_labels, plot_time_to_accuracy, plot_timestep_sweep
from fewgen.report.summary import best_per_backbone, cglo_method, crossover, data_use, paired_table, summarise, time_to_accuracy
from fewgen.stats import ci_excludes_zero


@dataclass
class Figure:
    """A PNG in the output folder, with the alt text a screen reader reads and a visible caption."""

    file: Path
    alt: str
    caption: str = ""


@dataclass
class Cell:
    mean: float
    ci: float
    n: int

    @property
    def text(self) -> str:
        """``mean ± ci`` in %; one draw has no CI and says so."""
        return f"{100 * self.mean:.1f} ± {100 * self.ci:.1f}" if self.n > 1 else f"{100 * self.mean:.1f} (one draw)"

    @property
    def difference_text(self) -> str:
        """A paired difference in points, ``*`` where its CI excludes 0."""
        if self.n == 1:
            return f"{100 * self.mean:+.1f} (one draw)"
        return f"{100 * self.mean:+.1f} ± {100 * self.ci:.1f}" + (" *" if ci_excludes_zero(self.mean, self.ci, self.n) else "")


@dataclass
class TableRow:
    method: str
    cells: dict[int, Cell]  # shots -> test accuracy over seeds
    note: str = ""  # "baseline", "transductive", "chosen on validation"
    val_mean: float | None = None  # validation accuracy averaged over shots
    label: str = ""  # what the table shows; the method when empty
    data: str = "labeled"  # what the head was fitted on: labeled, pool or test (see evaluate.DATA_USES)

    @property
    def shown(self) -> str:
        return self.label or self.method


@dataclass
class DatasetSection:
    name: str
    shots: list[int]
    accuracy: list[TableRow]
    figure: Figure | None
    crossover: list[dict]
    heads: list[dict]  # per backbone: {"backbone", "spec", "rows": [TableRow]}
    notes: list[str] = field(default_factory=list)
    paired: dict | None = None  # augment runs: {"method", "shots", "rows": [{"reference", "cells": {k: Cell}}]}


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "figure"


def backbones_then_baselines(best: dict[str, str]) -> list[str]:
    """The methods of ``{backbone: method}``, backbones first (in order), then pixels, then resnet18."""
    return [m for b, m in best.items() if b not in BASELINES] + [best[b] for b in BASELINES if b in best]


def _table(rows: list[dict], methods: list[str], notes: dict[str, str]) -> tuple[list[int], list[TableRow]]:
    test, val, uses = summarise(rows), summarise(rows, "val_accuracy"), data_use(rows)
    shots = sorted({k for method in methods for k in test.get(method, {})})
    table = []
    for method in methods:
        if method not in test:
            continue
        by_shots = val.get(method, {})
        val_mean = float(np.mean([m for m, _, _ in by_shots.values()])) if by_shots else None
        table.append(TableRow(method, {k: Cell(*v) for k, v in test[method].items()}, notes.get(method, ""), val_mean,
                              data=uses.get(method, "labeled")))
    return shots, table


def _transductive(rows: list[dict]) -> set[str]:
    return {method_name(r) for r in rows if r.get("transductive")}


def dataset_section(dataset: str, rows: list[dict], out: Path) -> DatasetSection:
    """Accuracy vs labels (best head per backbone + baselines), the crossover table and the heads compared."""
    best = best_per_backbone(rows)
    transductive = _transductive(rows)
    order = backbones_then_baselines(best)
    end_to_end = {method_name(r) for r in rows if r["head"] == r["backbone"]}  # resnet18 and its augmentations
    notes = {m: "baseline" if b in BASELINES else "" if m in end_to_end else "best on validation" for b, m in best.items()}
    notes.update({m: f"{notes.get(m, '')}, transductive".lstrip(", ") for m in transductive})
    shots, accuracy = _table(rows, order, notes)
    chosen = [r for r in rows if method_name(r) in set(order)]
    figure = None
    if chosen:
        file = plot_accuracy_vs_labels(chosen, out / f"accuracy-{safe_name(dataset)}.png", all_heads=True,
                                       title=f"{dataset}: test accuracy vs labeled images per class")
        figure = Figure(file, f"Line chart for {dataset}: test accuracy in percent against labeled images per class "
                              f"(k = {', '.join(map(str, shots))}, log scale) for {', '.join(order)}; shaded bands are "
                              "95% confidence intervals over seeds. The table below gives the same numbers.",
                        "Each backbone with its head and feature spec chosen on the validation draw; baselines dashed/dotted.")
    section = DatasetSection(dataset, shots, accuracy, figure, _crossover_rows(rows), _heads_compared(rows, best, transductive),
                             paired=_paired_with_cglo(rows))
    if "resnet18" not in best:
        section.notes.append("No resnet18 rows: the crossover needs 'fewgen evaluate RUN --baselines pixels,resnet18'.")
    for method in baseline_settings_differ(rows):
        section.notes.append(f"{method}'s rows come from runs with different settings (spec or validation size); "
                             "each draw is counted once, from the first run listed.")
    return section


def _paired_with_cglo(rows: list[dict]) -> dict | None:
    """cGLO minus every other method on the draws both were run on (augment runs); None without cGLO rows."""
    methods = list(summarise(rows))
    method = cglo_method(methods)
    if method is None or len(methods) < 2:
        return None
    table = [{"reference": other, "cells": {k: Cell(*v) for k, v in by_shots.items()}}
             for other, by_shots in paired_table(rows, method, methods).items() if by_shots]
    shots = sorted({k for row in table for k in row["cells"]})
    return {"method": method, "shots": shots, "rows": table} if table else None


def _crossover_rows(rows: list[dict]) -> list[dict]:
    out = []
    for method, (streak, wins, shared) in crossover(rows).items():
        out.append({"method": method, "streak": streak, "wins": wins, "shared": shared})
    return out


def _heads_compared(rows: list[dict], best: dict[str, str], transductive: set[str]) -> list[dict]:
    """For each backbone, every head on its validation-chosen feature spec."""
    sections = []
    for backbone, chosen in best.items():
        first = next(r for r in rows if method_name(r) == chosen)
        if backbone in BASELINES or first["head"] == first["backbone"]:
            continue  # a baseline, or a classifier trained end to end: no heads to compare
        spec = first["spec"]
        same_spec = [r for r in rows if r["backbone"] == backbone and r["spec"] == spec]
        methods = list(dict.fromkeys(method_name(r) for r in same_spec))
        every_k = {r["shots"] for r in rows if r["backbone"] == backbone}
        notes = {}
        for method in methods:
            run_at = {r["shots"] for r in same_spec if method_name(r) == method}
            notes[method] = ", ".join(filter(None, [
                "chosen on validation" if method == chosen else "",
                "transductive" if method in transductive else "",
                f"run at k={','.join(map(str, sorted(run_at)))} only: its validation mean is not comparable"
                if run_at != every_k else ""]))
        _, table = _table(same_spec, methods, notes)
        label_of = {method_name(r): head_label(r) for r in same_spec}
        for row in table:
            row.label = label_of[row.method]  # the head (and its settings); the spec is in the caption
        others = len({method_name(r) for r in rows if r["backbone"] == backbone}) - len(methods)
        sections.append({"backbone": backbone, "spec": FeatureSpec.from_dict(spec).label(), "rows": table,
                         "others": others})
    return sections


def sweep_figure(run: RunRecord, out: Path) -> Figure | str:
    """The run's timestep sweep re-drawn from its ``stage=select`` rows, or why there is none."""
    if run.backbone not in SWEEPABLE_BACKBONES:
        return f"{run.name}: the {run.backbone} backbone has no diffusion timestep to sweep."
    if not run.sweep_rows or run.selection is None:
        return f"{run.name}: no timestep sweep yet; run 'fewgen select {run.path}'."
    file = plot_timestep_sweep(run.sweep_rows, out / f"sweep-{safe_name(run.name)}.png", run.selection,
                               title=f"{run.name}: validation accuracy vs timestep")
    spec = FeatureSpec.from_dict(run.selection["spec"])
    ts = sorted({r["spec"]["timestep"][0] for r in run.sweep_rows})
    return Figure(file, f"Line chart for {run.name}: validation accuracy against diffusion timestep t "
                        f"({', '.join(map(str, ts))}), one line per block subset, with 95% bands. "
                        f"The chosen setting, {spec.label()} with the {run.selection['head']} head, is starred.",
                  f"Chosen on the validation draw: {spec.label()}, head {run.selection['head']}, "
                  f"{100 * run.selection['val_accuracy']:.1f} ± {100 * run.selection['val_ci']:.1f}% (validation).")


def time_to_accuracy_figures(runs: list[RunRecord], out: Path) -> list[Figure]:
    """Per dataset, the best validation accuracy after each pretraining chunk against the minutes of pretraining, one
    line per run and k: recipes compared at equal CPU time (``bench/time_to_accuracy.py`` pretrains in chunks and
    runs ``fewgen select`` after each). Only runs with at least two scored chunks have a curve."""
    figures = []
    for dataset in dict.fromkeys(run.dataset for run in runs):
        curves = {f"{run.name}, k={shots}": [(minutes, mean, half) for minutes, _, mean, half, _ in points]
                  for run in runs if run.dataset == dataset
                  for shots, points in time_to_accuracy(run.chunks, run.chunk_rows).items() if len(points) > 1}
        if not curves:
            continue
        file = plot_time_to_accuracy(curves, out / f"time-to-accuracy-{safe_name(dataset)}.png",
                                     title=f"{dataset}: validation accuracy vs pretraining time")
        last = "; ".join(f"{label}: {100 * points[-1][1]:.1f}% after {points[-1][0]:.0f} min" for label, points in curves.items())
        figures.append(Figure(file, f"Line chart for {dataset}: the best validation accuracy that fewgen select found "
                                    f"after each chunk of pretraining, against the minutes of pretraining, one line per "
                                    f"run and k ({', '.join(curves)}), with 95% bands.",
                              f"Validation only (the test split is not read). Last points: {last}."))
    return figures


def image_figures(run: RunRecord, out: Path) -> list[Figure] | str:
    """Copies of the run's sample and reconstruction grids, or why there are none."""
    figures = []
    for key, what in (("samples", "generated samples"), ("reconstructions", "training images (odd rows) and their "
                                                                             "reconstructions (the row below each)")):
        if key in run.images:
            file = out / f"{key}-{safe_name(run.name)}.png"
            with atomic_path(file) as tmp:
                shutil.copyfile(run.images[key], tmp)
            figures.append(Figure(file, f"Grid of {what} from the {run.backbone} backbone of run {run.name}.",
                                  f"{run.backbone}: {what}"))
    if not figures:
        return f"{run.name}: the {run.backbone} backbone wrote no sample or reconstruction grid (it cannot generate)."
    return figures


def suggestion_figure(run: RunRecord, out: Path) -> Figure | None:
    """A copy of the contact sheet of the run's latest ``fewgen suggest`` round, or None when it has none."""
    if not run.suggestions:
        return None
    last = run.suggestions[-1]
    sheet = run.path / SUGGESTIONS_DIR / last["sheet"]
    if not sheet.is_file():
        return None
    file = out / f"suggested-{safe_name(run.name)}.png"
    with atomic_path(file) as tmp:
        shutil.copyfile(sheet, tmp)
    return Figure(file, f"The {last['budget']} images of run {run.name} that 'fewgen suggest' chose to label in round "
                        f"{last['round']}, best first, row by row.",
                  f"round {last['round']}: {last['budget']} images chosen by {last['strategy']} from "
                  f"{last['n_candidates']} unlabeled ({last['n_labeled']} labeled before); the list is "
                  f"{SUGGESTIONS_DIR}/{last['csv']}")


def umap_figures(run: RunRecord, method: str, rows: list[dict], out: Path, points: int) -> list[Figure] | str:
    """2-D and 3-D UMAP of the test features of ``method`` (a backbone's validation-chosen spec)."""
    row = next(r for r in rows if method_name(r) == method)
    backbone = row["backbone"].split("@")[0]
    found = umap_plots.cached_test_features(run.cache, backbone, row["checkpoint"], row["spec"])
    if found is None:
        return f"{method}: no cached test features in {run.path / 'features'}; run 'fewgen evaluate {run.path}' to cache them."
    labelled = run.cache.labels("test")  # stored by evaluate, so the report needs no dataset
    if labelled is None or len(labelled[0]) != len(found[0]):
        return f"{method}: the test labels are not stored in {run.path / 'features'}; re-run 'fewgen evaluate {run.path}'."
    (features, source), (labels, class_names) = found, labelled
    keep = umap_plots.points_to_show(len(features), points)
    cache_dir = run.path / "umap"
    spec = FeatureSpec.from_dict(row["spec"]).label()
    shown = f"{len(keep)} of {len(features)} test images" if len(keep) < len(features) else f"all {len(keep)} test images"
    legend = "with a legend of class names" if len(class_names) <= umap_plots.MAX_LEGEND_CLASSES else \
        f"colours following the class index over {len(class_names)} classes (too many for a legend)"
    figures = []
    for dims, plot in ((2, umap_plots.plot_umap_2d), (3, umap_plots.plot_umap_3d)):
        embedding = umap_plots.project(features[keep], dims, cache_dir, source)
        file = plot(embedding, labels[keep], class_names, out / f"umap{dims}d-{safe_name(method)}.png",
                    f"{method}: UMAP {dims}-D of test features")
        views = "" if dims == 2 else ", seen from three angles"
        figures.append(Figure(file, f"Scatter plot: {dims}-D UMAP projection{views} of the {row['backbone']} features "
                                    f"({spec}) of {shown}, one colour per class, {legend}.",
                              f"{method}: {dims}-D UMAP of {shown}."))
    return figures
