"""Group result rows by method and shots: mean +- 95% CI, as data and as a text table."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from fewgen.results import data_use as row_data_use
from fewgen.chooser import Candidate, best
from fewgen.results import head_label, method_base, method_name, on_shared_draws, read_rows, stage  # noqa: F401 (read_rows re-exported)
from fewgen.stats import ci_excludes_zero, mean_ci


def _draw(row: dict) -> tuple:
    """The draw a row was scored on: its dataset, the checkpoint its features came from, and its seed (a draw
    depends on the dataset, k and the seed; k is kept apart by the callers)."""
    return row.get("dataset"), row.get("checkpoint"), row["seed"]


def _chosen_by(row: dict) -> str:
    """``@selection`` for a row on labels chosen by a selection (:mod:`fewgen.chosen_draws`), else ``""``: each
    selection is chosen among on its own, as another backbone would be."""
    return f"@{row['selection']}" if row.get("selection") else ""


def _scored(rows: list[dict], metric: str) -> list[dict]:
    """The evaluation rows that carry ``metric`` (not `select`'s validation sweep rows), one per method, k and draw:
    a later row of the same method on the same draw (an evaluation run again, e.g. with students added) replaces the
    earlier one, so that a draw counts once in a mean and its CI (two rows of one draw are not two samples)."""
    latest: dict[tuple, dict] = {}
    for row in rows:
        if row.get(metric) is not None and stage(row) == "evaluate":
            latest[(method_name(row), row["shots"], *_draw(row))] = row
    return list(latest.values())


def summarise(rows: list[dict], metric: str = "accuracy") -> dict[str, dict[int, tuple[float, float, int]]]:
    """``{method: {shots: (mean, ci_half_width, n_seeds)}}`` in the order methods first appear."""
    groups: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in _scored(rows, metric):
        groups[method_name(row)][row["shots"]].append(row[metric])
    return {
        method: {k: (*mean_ci(v), len(v)) for k, v in sorted(by_shots.items())}
        for method, by_shots in groups.items()
    }


def data_use(rows: list[dict]) -> dict[str, str]:
    """``{method: labeled | pool | test}``: what each method's head was fitted on (the widest over its rows;
    rows written before the tag existed used the labeled draw only)."""
    order = {"labeled": 0, "pool": 1, "test": 2}
    uses: dict[str, str] = {}
    for row in _scored(rows, "accuracy"):
        method, use = method_name(row), row_data_use(row)
        if order[use] >= order[uses.get(method, "labeled")]:
            uses[method] = use
    return uses


def _candidates(rows: list[dict], val: dict, group_of) -> dict[str, list[Candidate]]:
    """``{group: [Candidate]}``: each method of ``val`` (:func:`summarise` of validation accuracy) scored by its mean
    over the shots it ran, in the order the methods first appear, grouped by ``group_of(row)``."""
    first = {}
    for row in rows:
        first.setdefault(method_name(row), row)
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for method, by_shots in val.items():
        row = first[method]
        score = sum(m for m, _, _ in by_shots.values()) / len(by_shots)
        groups[group_of(row)].append(Candidate(method, score, row["head"], len(row.get("tuned", {}))))
    return groups


def best_by_validation(rows: list[dict]) -> dict[str, str]:
    """For each backbone+spec, the method (head) with the highest mean validation accuracy (never test), chosen by
    :func:`fewgen.chooser.best` (ties: the simpler head, as in ``fewgen fit``).
    Only feature heads compete: a classifier such as ``resnet18+cglo`` (head == backbone) has no head to choose."""
    feature_rows = [row for row in rows if row["head"] != row["backbone"]]
    groups = _candidates(feature_rows, summarise(feature_rows, "val_accuracy"), lambda row: method_base(row) + _chosen_by(row))
    return {base: best(candidates).key for base, candidates in groups.items()}


def best_per_backbone(rows: list[dict]) -> dict[str, str]:
    """For each backbone, the method (spec and head) with the highest validation accuracy averaged over
    shots (never test); a baseline such as ``resnet18`` is its own single method. Only methods run at
    every k their backbone was run at compete, so that none is judged on easier (larger) k alone. Chosen by
    :func:`fewgen.chooser.best` (ties: the simpler head, then the method that appears first)."""
    val = summarise(rows, "val_accuracy")
    groups = _candidates(rows, val, lambda row: row["backbone"] + _chosen_by(row))
    chosen = {}
    for backbone, candidates in groups.items():
        all_shots = set().union(*(val[c.key] for c in candidates))
        complete = [c for c in candidates if set(val[c.key]) == all_shots]
        chosen[backbone] = best(complete or candidates).key
    return chosen


def crossover(rows: list[dict], baseline: str = "resnet18") -> dict[str, tuple[int | None, list[int], list[int]]]:
    """The paper's crossover for each backbone's validation-chosen method against ``baseline``:
    ``(the largest k up to which it beats the baseline at every k run, or None; the ks where it wins;
    the ks both were run at)``, comparing mean test accuracies."""
    table = summarise(rows)
    if baseline not in table:
        return {}
    reference = table[baseline]
    out = {}
    for method in best_per_backbone(rows).values():
        if method == baseline:
            continue
        shared = sorted(set(table[method]) & set(reference))
        wins = [k for k in shared if table[method][k][0] > reference[k][0]]
        streak = None
        for k in shared:
            if k not in wins:
                break
            streak = k
        out[method] = (streak, wins, shared)
    return out


def format_crossover(rows: list[dict], baseline: str = "resnet18") -> str:
    """One line per backbone: its validation-chosen method, up to which k it beats ``baseline``, and where it wins."""
    lines = []
    for method, (streak, wins, shared) in crossover(rows, baseline).items():
        head = f"beats {baseline} at every k up to {streak}" if streak is not None else f"loses to {baseline} at k={shared[0]}"
        if streak == shared[-1]:
            head += " (every k run)"
        lines.append(f"{method}: {head}; wins at k={','.join(map(str, wins)) or 'none'} of {','.join(map(str, shared))}")
    return "\n".join(lines)


def paired_differences(rows: list[dict], method: str, reference: str,
                       metric: str = "accuracy") -> dict[int, tuple[float, float, int]]:
    """``{shots: (mean, ci_half_width, n)}`` of ``method`` minus ``reference`` over the draws (shots, seed) both
    were run on. Differences on the same draw cancel the draw-to-draw spread that dominates each method's own
    CI at small k, so a paired CI that excludes 0 is a win (or a loss) on these draws."""
    return paired_table(rows, method, [reference], metric)[reference]


def paired_table(rows: list[dict], method: str, references: list[str],
                 metric: str = "accuracy") -> dict[str, dict[int, tuple[float, float, int]]]:
    """:func:`paired_differences` of ``method`` against each reference (``method`` itself left out), grouping
    the rows by draw once."""
    by_draw: dict[str, dict[tuple[int, int], float]] = defaultdict(dict)
    for row in _scored(rows, metric):
        by_draw[method_name(row)][(row["shots"], row["seed"])] = row[metric]
    ours = by_draw.get(method, {})
    table = {}
    for reference in references:
        if reference == method:
            continue
        theirs = by_draw.get(reference, {})
        differences: dict[int, list[float]] = defaultdict(list)
        for draw in sorted(set(ours) & set(theirs)):
            differences[draw[0]].append(ours[draw] - theirs[draw])
        table[reference] = {k: (*mean_ci(v), len(v)) for k, v in sorted(differences.items())}
    return table


def cglo_method(methods) -> str | None:
    """The cGLO method to pair with the others: the full model ``resnet18+cglo``, else the first ablation."""
    methods = list(methods)
    if "resnet18+cglo" in methods:
        return "resnet18+cglo"
    return next((m for m in methods if m.startswith("resnet18+cglo(")), None)


def format_paired(rows: list[dict], method: str, references: list[str], metric: str = "accuracy") -> str:
    """A table of ``method`` minus each reference, per k: mean ± 95% CI in points over shared draws, ``*`` where
    the CI excludes 0."""
    tables = paired_table(rows, method, references, metric)
    shots = sorted({k for table in tables.values() for k in table})
    width = max([len(f"− {ref}") for ref in tables] + [6])
    header = f"{'minus':<{width}}  " + "  ".join(f"{f'k={k}':>14}" for k in shots)
    lines = [f"{method}: paired {metric} difference (points, mean ± 95% CI over shared draws; * CI excludes 0)",
             header, "-" * len(header)]
    for ref, table in tables.items():
        cells = []
        for k in shots:
            if k not in table:
                cells.append(f"{'—':>14}")
                continue
            mean, half, n = table[k]
            mark = "*" if ci_excludes_zero(mean, half, n) else " "
            cells.append(f"{100 * mean:+6.1f} ± {100 * half:4.1f}{mark}" if n > 1 else f"{100 * mean:+6.1f} (n=1)  ")
        lines.append(f"{f'− {ref}':<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def _cell(mean: float, half: float, n: int) -> str:
    """``mean ± ci`` in %, 13 characters; one draw has no CI and says so (never a "± 0.0")."""
    return f"{100 * mean:6.1f} ± {100 * half:4.1f}" if n > 1 else f"{100 * mean:6.1f} (n=1) "


def format_table(rows: list[dict], metric: str = "accuracy") -> str:
    """A fixed-width table: one line per method, one column per shots value (``k=``, labels per class; ``B=``,
    labels in all, for draws a selection chose), ``mean ± ci`` in %."""
    table, uses = summarise(rows, metric), data_use(rows)
    shots = sorted({k for by_shots in table.values() for k in by_shots})
    width = max([len(m) for m in table] + [6])
    letter = "B" if any(row.get("selection") for row in rows) else "k"
    header = f"{'method':<{width}}  {'data':<7}  " + "  ".join(f"{f'{letter}={k}':>13}" for k in shots)
    lines = [f"{metric} (mean ± 95% CI over seeds, %; data: what the head was fitted on — labeled draw, "
             "pool = plus the unlabeled train images, test = transductive)", header, "-" * len(header)]
    for method, by_shots in table.items():
        cells = [_cell(*by_shots[k]) if k in by_shots else f"{'—':>13}" for k in shots]
        lines.append(f"{method:<{width}}  {uses.get(method, 'labeled'):<7}  " + "  ".join(cells))
    best = best_by_validation(rows)
    if best:
        lines.append("")
        label_of = {method_name(row): head_label(row) for row in rows}
        chosen = ", ".join(f"{base} → {label_of[method]}" for base, method in best.items())
        lines.append("head chosen on the validation draw: " + chosen)
    gaps = format_selection_gap(rows)
    if gaps:
        lines += ["", gaps]
    per_k = format_chosen_per_k(rows)
    if per_k:
        lines += ["", per_k]
    return "\n".join(lines)


def chosen_per_k(rows: list[dict]) -> dict[str, dict[int, tuple[str, float, float, int]]]:
    """For each backbone whose features were read (heads and students), per k: ``(method, mean validation accuracy,
    mean test accuracy, draws)`` of the method with the best mean validation accuracy at that k (ties: the simpler
    head). The candidates are compared on the draws that every one of them was run on at that k, so that a method
    run on 5 seeds is not weighed against one run on 3 (where they share none, each on its own draws). Test
    accuracy, on the same draws, is only reported, never compared. Baselines (their own backbone) are left out."""
    scored = {(method_name(row), row["shots"], *_draw(row)): row["accuracy"] for row in _scored(rows, "accuracy")}
    draws: dict[tuple[str, int], dict[str, dict[tuple, tuple[float, float]]]] = defaultdict(lambda: defaultdict(dict))
    head_of = {}
    for row in _scored(rows, "val_accuracy"):
        method, k = method_name(row), row["shots"]
        test = scored.get((method, k, *_draw(row)))
        if row["head"] == row["backbone"] or test is None:
            continue
        head_of[method] = (row["head"], len(row.get("tuned", {})))
        draws[(row["backbone"] + _chosen_by(row), k)][method][_draw(row)] = (row["val_accuracy"], test)
    chosen: dict[str, dict[int, tuple]] = defaultdict(dict)
    for (backbone, k), by_method in sorted(draws.items(), key=lambda item: item[0][1]):
        means = {method: tuple(float(np.mean(column)) for column in zip(*on)) + (len(on),)
                 for method, on in on_shared_draws(by_method).items()}
        method = best(Candidate(method, val, head_of[method][0], head_of[method][1])
                      for method, (val, _, _) in means.items()).key
        chosen[backbone][k] = (method, *means[method])
    return dict(chosen)


def format_chosen_per_k(rows: list[dict]) -> str:
    """Per backbone and k, the validation-chosen method (among the heads, and the students where they ran) and its
    validation → test accuracy on the draws the candidates share. The pick averaged over k above can hide that
    another k would choose another method (``fewgen fit`` makes the same choice among the heads it can save)."""
    chosen = chosen_per_k(rows)
    if not chosen:
        return ""
    among = "heads and students" if any(row["head"].startswith("student-") for row in rows) else "heads"
    letter = "B" if any(row.get("selection") for row in rows) else "k"  # B: labels in all, chosen by a selection
    lines = [f"chosen per {letter} on validation among the {among}, on the draws they all ran "
             "(validation → test accuracy, %; n draws):"]
    for backbone, by_k in chosen.items():
        cells = "; ".join(f"{letter}={k} {method} {100 * v:.1f} → {100 * t:.1f} (n={n})" for k, (method, v, t, n) in by_k.items())
        lines.append(f"  {backbone}: {cells}")
    return "\n".join(lines)


def selection_gap(rows: list[dict]) -> dict[str, dict[int, tuple[float, float]]]:
    """For each backbone's validation-chosen method: ``{shots: (mean validation accuracy, mean test accuracy)}``.
    The validation number is the estimate the choice was made on; choosing the best of many candidates on
    one validation draw makes it optimistic, and the gap to test says by how much."""
    val, test = summarise(rows, "val_accuracy"), summarise(rows)
    return {method: {k: (val[method][k][0], test[method][k][0]) for k in test.get(method, {}) if k in val.get(method, {})}
            for method in best_per_backbone(rows).values() if method in val}


def format_selection_gap(rows: list[dict]) -> str:
    """One line per validation-chosen method: validation → test accuracy at each k (the selection's optimism)."""
    lines = []
    for method, by_shots in selection_gap(rows).items():
        if by_shots:
            cells = ", ".join(f"k={k} {100 * v:.1f} → {100 * t:.1f}" for k, (v, t) in by_shots.items())
            lines.append(f"  {method}: {cells}")
    return "validation → test accuracy (%) of each backbone's validation-chosen method:\n" + "\n".join(lines) if lines else ""


def sweep_table(rows: list[dict]) -> dict[tuple[tuple[str, ...], int, str], tuple[float, float, int]]:
    """``{(blocks, t, head): (mean, ci_half_width, n)}`` of validation accuracy over the seeds."""
    scores: dict[tuple, list[float]] = {}
    for row in rows:
        if stage(row) == "select":
            key = (tuple(row["spec"]["layers"]), row["spec"]["timestep"][0], row["head"])
            scores.setdefault(key, []).append(row["val_accuracy"])
    return {key: (*mean_ci(values), len(values)) for key, values in scores.items()}


def time_to_accuracy(chunks: list[dict], rows: list[dict]) -> dict[int, list[tuple[float, int, float, float, int]]]:
    """``{shots: [(pretrain minutes, epochs, mean, ci_half_width, n_seeds)]}``: after each pretraining chunk (the run
    config's ``pretrain_chunks``), the best validation accuracy that ``fewgen select`` found on that chunk's
    checkpoint, per ``shots``. Validation only: ``select`` rows never read the test split."""
    curves: dict[int, list[tuple[float, int, float, float, int]]] = defaultdict(list)
    for chunk in chunks:
        by_shots: dict[int, list[dict]] = defaultdict(list)
        for row in rows:
            if stage(row) == "select" and row.get("checkpoint") == chunk["checkpoint"]:
                by_shots[row["shots"]].append(row)
        for shots, group in sorted(by_shots.items()):
            mean, half, n = max(sweep_table(group).values(), key=lambda value: value[0])
            curves[shots].append((chunk["seconds"] / 60, chunk.get("epochs"), mean, half, n))
    return dict(sorted(curves.items()))
