"""What ``fewgen summary`` shows of one dataset's pooled rows, as text and as data (``--json``): every method's
mean ± 95% CI per k, the method chosen on validation per k with its validation → test accuracy, and that choice
minus each baseline, paired on the draws both ran (:func:`~fewgen.report.summary.paired_differences`).

The references are the methods that do not read a generative model's features: raw pixels with a head, and the
classifiers trained end to end (ResNet-18, FixMatch, MixMatch; their head is their backbone)."""

from __future__ import annotations

from fewgen.report.summary import (chosen_per_k, data_use, format_paired, format_table, paired_table, summarise)
from fewgen.results import method_name
from fewgen.stats import ci_excludes_zero

PIXELS = "pixels"


def references(rows: list[dict]) -> list[str]:
    """The baseline methods in ``rows``, in the order they first appear: pixels' heads, then the trained classifiers."""
    methods = list(summarise(rows))
    of = {method_name(row): row for row in rows}
    return [m for m in methods if of[m]["backbone"] == PIXELS] + [m for m in methods if of[m]["head"] == of[m]["backbone"]]


def chosen_minus_references(rows: list[dict]) -> dict[str, dict[str, dict[int, tuple[float, float, int]]]]:
    """``{backbone: {reference: {k: (mean, ci_half_width, n)}}}``: at each k, the method chosen on validation for that
    k (:func:`~fewgen.report.summary.chosen_per_k`) minus the reference, paired on their shared draws."""
    refs = references(rows)
    out: dict[str, dict[str, dict[int, tuple]]] = {}
    for backbone, by_k in chosen_per_k(rows).items():
        if backbone.split("@")[0] == PIXELS:
            continue
        paired = {method: paired_table(rows, method, refs) for method in {method for method, *_ in by_k.values()}}
        table: dict[str, dict[int, tuple]] = {ref: {} for ref in refs}
        for k, (method, *_) in by_k.items():
            for ref, diffs in paired[method].items():
                if k in diffs:
                    table[ref][k] = diffs[k]
        out[backbone] = {ref: diffs for ref, diffs in table.items() if diffs}
    return out


def format_chosen_minus_references(rows: list[dict]) -> str:
    """Text of :func:`chosen_minus_references`: points, ``*`` where the paired CI excludes 0."""
    lines = []
    for backbone, table in chosen_minus_references(rows).items():
        if not table:
            continue
        lines.append(f"{backbone}, the method chosen on validation at each k, minus each baseline (paired test accuracy, "
                     "points, mean ± 95% CI over shared draws; * CI excludes 0):")
        for ref, diffs in table.items():
            cells = [f"k={k} {100 * m:+.1f} ± {100 * h:.1f}{'*' if ci_excludes_zero(m, h, n) else ''}" if n > 1
                     else f"k={k} {100 * m:+.1f} (n=1)" for k, (m, h, n) in diffs.items()]
            lines.append(f"  − {ref}: " + "; ".join(cells))
    return "\n".join(lines)


def summary_text(rows: list[dict], paired: str | None = None) -> str:
    """The tables ``fewgen summary`` prints for one dataset's rows."""
    parts = [format_table(rows), format_chosen_minus_references(rows)]
    if paired:
        parts.append(format_paired(rows, paired, list(summarise(rows))))
    return "\n\n".join(part for part in parts if part)


def _cells(by_shots: dict[int, tuple[float, float, int]]) -> dict[str, dict]:
    return {str(k): {"mean": m, "ci": h, "n": n} for k, (m, h, n) in by_shots.items()}


def summary_data(rows: list[dict]) -> dict:
    """The same as data: ``methods`` (per method: what its head fitted on and, per metric and k, mean, ci, n),
    ``chosen_per_k`` (per backbone and k: method, val, test, n), ``references`` (the baselines' methods) and
    ``chosen_minus_references``."""
    uses = data_use(rows)
    metrics = {metric: summarise(rows, metric) for metric in ("accuracy", "macro_f1", "val_accuracy")}
    methods = {method: {"data": uses.get(method, "labeled"),
                        **{metric: _cells(table[method]) for metric, table in metrics.items() if method in table}}
               for method in metrics["accuracy"]}
    chosen = {backbone: {str(k): {"method": m, "val": v, "test": t, "n": n} for k, (m, v, t, n) in by_k.items()}
              for backbone, by_k in chosen_per_k(rows).items()}
    minus = {backbone: {ref: _cells(diffs) for ref, diffs in table.items()}
             for backbone, table in chosen_minus_references(rows).items()}
    return {"methods": methods, "chosen_per_k": chosen, "references": references(rows), "chosen_minus_references": minus}
