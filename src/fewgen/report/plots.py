"""Accuracy vs labeled images per class: one line per method, 95% CI bands, log-2 x axis."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fewgen.atomic import save_figure  # noqa: E402
from fewgen.results import method_name  # noqa: E402
from fewgen.report.summary import best_by_validation, summarise, sweep_table  # noqa: E402

BASELINE_STYLE = {"resnet18": dict(color="black", linestyle="--"), "pixels": dict(color="grey", linestyle=":"),
                  "fixmatch": dict(color="black", linestyle="-.")}


def _line_with_band(ax, x: list, mean: list[float], half: list[float], label: str, **style) -> None:
    """One line of means with a shaded mean ± half-width band in the same colour."""
    ax.plot(x, mean, marker="o", markersize=3, label=label, **style)
    ax.fill_between(x, [m - h for m, h in zip(mean, half)], [m + h for m, h in zip(mean, half)],
                    color=style["color"], alpha=0.12)


def _finish(fig, ax, title: str, path: Path) -> Path:
    """Title, grid and outside legend; write the PNG atomically and free the figure."""
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    save_figure(fig, path)
    plt.close(fig)
    return Path(path)


def _validation_chosen(rows: list[dict]) -> list[dict]:
    """Keep baselines and, per backbone+spec, only the head with the best validation accuracy."""
    chosen = set(best_by_validation(rows).values())
    return [r for r in rows if r["head"] == r["backbone"] or r["backbone"] == "pixels" or method_name(r) in chosen]


def plot_accuracy_vs_labels(rows: list[dict], path: Path, title: str = "", all_heads: bool = False) -> Path:
    """Write a PNG of accuracy vs labels per class; returns ``path``.

    By default each backbone+spec shows the head chosen on the validation draw
    (never on test); ``all_heads`` draws every head.
    """
    table = summarise(rows if all_heads else _validation_chosen(rows))
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10" if len(table) <= 10 else "tab20")
    styled: set[str] = set()  # each baseline's own style goes to its first variant only
    for i, (method, by_shots) in enumerate(table.items()):
        shots = sorted(by_shots)
        mean = [100 * by_shots[k][0] for k in shots]
        half = [100 * by_shots[k][1] for k in shots]
        base = method.split("+")[0].split("[")[0]
        baseline = base in BASELINE_STYLE and (method == base or base == "pixels")  # not resnet18+cutout etc.
        style = BASELINE_STYLE[base] if baseline and base not in styled else {}
        styled.add(base if baseline else method)
        style = style or dict(color=colours(i % colours.N), linestyle="-." if baseline else "-")
        _line_with_band(ax, shots, mean, half, method, **style)
    all_shots = sorted({k for by_shots in table.values() for k in by_shots})
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_shots, [str(k) for k in all_shots])
    chosen = any(row.get("selection") for row in rows)  # draws of B labels in all, chosen by a selection
    ax.set_xlabel("labeled images in all (B), chosen by each selection" if chosen else "labeled images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    return _finish(fig, ax, title or "accuracy vs labels (mean, 95% CI band)", path)


def plot_timestep_sweep(rows: list[dict], path: Path, selection: dict, title: str = "") -> Path:
    """Validation accuracy vs diffusion timestep (the paper's Fig. 1, scored on validation, not test).

    One line per block subset, for the head ``fewgen select`` chose; 95% CI bands;
    the chosen (blocks, t) is starred.
    """
    table = {key: value for key, value in sweep_table(rows).items() if key[2] == selection["head"]}
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    subsets = list(dict.fromkeys(blocks for blocks, _, _ in table))
    for i, blocks in enumerate(subsets):
        points = sorted((t, mean, half) for (b, t, _), (mean, half, _) in table.items() if b == blocks)
        ts = [p[0] for p in points]
        mean = [100 * p[1] for p in points]
        half = [100 * p[2] for p in points]
        _line_with_band(ax, ts, mean, half, "+".join(blocks), color=colours(i % 10))
    t_best = selection["spec"]["timestep"][0]
    ax.axvline(t_best, color="black", linestyle=":", linewidth=1)
    ax.plot([t_best], [100 * selection["val_accuracy"]], marker="*", markersize=14, color="black",
            label=f"chosen: {'+'.join(selection['spec']['layers'])}, t={t_best}")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("diffusion timestep t (0 = clean image)")
    ax.set_ylabel(f"validation accuracy (%), head={selection['head']}")
    return _finish(fig, ax, title or "validation accuracy vs timestep (mean, 95% CI band)", path)


def plot_time_to_accuracy(curves: dict[str, list[tuple[float, float, float]]], path: Path, title: str = "") -> Path:
    """Validation accuracy against pretraining minutes, one line per ``label`` (a run and a k) of
    ``(minutes, mean, ci_half_width)`` points, with 95% CI bands: the issue-24 comparison of diffusion recipes at
    equal CPU time. Validation only."""
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
    for i, (label, points) in enumerate(curves.items()):
        minutes, mean, half = zip(*points)
        _line_with_band(ax, list(minutes), [100 * m for m in mean], [100 * h for h in half], label,
                        color=colours(i % colours.N))
    ax.set_xlabel("pretraining time (minutes of training, summed over the chunks)")
    ax.set_ylabel("best validation accuracy (%)")
    return _finish(fig, ax, title or "validation accuracy vs pretraining time (mean, 95% CI band)", path)
