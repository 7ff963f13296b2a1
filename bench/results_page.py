"""docs/RESULTS.md, generated from the recorded results in bench/results/*.json (``python bench/run.py --page``).

A result is ``made: run`` (written by bench/run.py: its headline comes from ``fewgen summary``'s tables) or
``made: carried`` (numbers that take more CPU hours than a session has, copied once from the dated note that
measured them, with that note's commit and date and the command that re-makes them). Every headline row names the
recipe that made it; every table says on which machine, when and at which commit.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PAGE = BENCH.parent / "docs" / "RESULTS.md"
DATASET_ORDER = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100")


def recipe_settings(name: str) -> dict:
    """What a recipe says about its place on the page: ``headline`` (false: a smoke test or a property, listed under
    how each result was made only) and ``reference_note`` (appended to its baselines' labels, e.g. their budget)."""
    path = BENCH / "recipes" / f"{name}.toml"
    recipe = tomllib.loads(path.read_text()) if path.is_file() else {}
    return {"headline": recipe.get("headline", True), "reference_note": recipe.get("reference_note", "")}


def headline(record: dict) -> dict:
    """``{dataset: {"unit": "k" | "B", "rows": [{"label", "cells": {k: {mean, ci, n, method}}}]}}`` of a run record:
    per backbone the method chosen on validation at each k, then each baseline (pixels with its head chosen on
    validation per k, the classifiers trained end to end). On labels chosen by a selection (``@``), one row per
    selection, per budget B."""
    out = {}
    for dataset, summary in record.get("summary", {}).items():
        methods, rows = summary["methods"], []
        for group, by_k in summary["chosen_per_k"].items():
            backbone, _, selection = group.partition("@")
            cells = {k: {**methods[c["method"]]["accuracy"][k], "method": c["method"]} for k, c in by_k.items()}
            if selection:
                label = f"{backbone}, labels chosen by {selection}"
            elif backbone == "pixels":
                label = "pixels, head chosen on validation"
            else:
                label = f"fewgen: {backbone}, method chosen on validation"
            rows.append({"label": label, "cells": cells})
        note = recipe_settings(record["recipe"])["reference_note"]
        for ref in summary.get("references", []):
            if not ref.startswith("pixels"):
                rows.append({"label": f"{ref} ({note})" if note else ref, "cells": methods[ref]["accuracy"]})
        unit = "B" if any("@" in group for group in summary["chosen_per_k"]) else "k"
        if rows:
            out[dataset] = {"unit": unit, "rows": rows}
    return out


def read_records(folder: Path = RESULTS) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]


def _cell(cell: dict | None) -> str:
    if not cell:
        return "—"
    text = f"{100 * cell['mean']:.1f}"
    if cell.get("ci") is not None and cell.get("n", 0) > 1:
        text += f" ± {100 * cell['ci']:.1f}"
    return text + (f" (n={cell['n']})" if cell.get("n") not in (None, 5) else "")


def _machine(record: dict) -> str:
    m = record["machine"]
    flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in m.get("cpu_flags", "").split()]
    model = m.get("cpu_model") if m.get("cpu_model") not in (None, "not recorded") else "CPU"
    where = f"{m.get('gpu')}" if m.get("gpu") else f"{model}, {m.get('cpus')} cores ({' '.join(flags)})"
    return f"{where}, torch {m.get('torch', '?')}"


def _provenance(record: dict) -> str:
    commit = (record.get("commit") or "?")[:7] + ("+changes" if record.get("dirty") else "")
    if record["made"] == "run":
        wall = f", {record['wall_seconds'] / 60:.0f} min" if record.get("wall_seconds") else ""
        return f"- **{record['recipe']}**: made by `{record['command']}` on {record['date']} at {commit}{wall}; {_machine(record)}"
    return (f"- **{record['recipe']}**: carried from [{record['source']}]({record['source']}), measured on {record['date']} "
            f"at {commit}; {_machine(record)}; re-made by `{record['command']}`"
            + (f". {record['carried_note'][0].upper()}{record['carried_note'][1:]}" if record.get("carried_note") else ""))


def _short(method: str) -> str:
    """``vae[part=stacked]+propagate@random`` -> ``vae[part=stacked]+propagate``: the row's label names the selection."""
    return method.split("@")[0]


def _method_notes(rows: list[dict]) -> list[str]:
    """One line per chosen row: which method validation chose at each k."""
    notes = []
    for row in rows:
        chosen = {k: c["method"] for k, c in sorted(row["cells"].items(), key=lambda item: int(item[0]))
                  if c and c.get("method")}
        if chosen:
            notes.append(f"- {row['label']} ({row['recipe']}): " + "; ".join(f"{k}: {_short(m)}" for k, m in chosen.items()))
    return notes


def _tables(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """``{(dataset, unit): rows}`` of every record's headline, each row with its recipe, datasets in a fixed order."""
    tables: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        if not recipe_settings(record["recipe"])["headline"]:
            continue
        tables_of = headline(record) if record["made"] == "run" else record.get("headline", {})  # derived again from the summary
        for dataset, table in tables_of.items():
            tables.setdefault((dataset, table["unit"]), []).extend({**row, "recipe": record["recipe"]} for row in table["rows"])
    for rows in tables.values():
        rows.sort(key=lambda row: 0 if row["label"].startswith("fewgen") else 1 if row["label"].startswith("pixels") else 2)
    order = {name: i for i, name in enumerate(DATASET_ORDER)}
    return dict(sorted(tables.items(), key=lambda item: (order.get(item[0][0], 99), item[0][0], item[0][1] != "k")))


def _table(rows: list[dict], unit: str, first: str, recipe: bool = True) -> list[str]:
    ks = sorted({k for row in rows for k in row["cells"]}, key=int)
    lines = [f"| {first} | " + " | ".join(f"{unit}={k}" for k in ks) + (" | recipe |" if recipe else " |"),
             "|---|" + "---|" * (len(ks) + recipe)]
    return lines + [f"| {row['label']} | " + " | ".join(_cell(row["cells"].get(k)) for k in ks)
                    + (f" | {row['recipe']} |" if recipe else " |") for row in rows]


def render(records: list[dict]) -> str:
    """The page's Markdown."""
    lines = ["# Results", "",
             "Generated by `python bench/run.py --page` from `bench/results/*.json`; do not edit by hand. Test accuracy (%),",
             "mean ± 95% CI over the labeled draws (5 unless `n=` says otherwise), the same draws in every row of a recipe.",
             "\"Chosen on validation\" means the method (features, head, student) with the best mean accuracy on a fixed",
             "validation draw taken from the training split, per k; the test split is never read to choose",
             "([DECISIONS.md](DECISIONS.md)). Re-make a recipe with `python bench/run.py RECIPE`.", ""]
    for (dataset, unit), rows in _tables(records).items():
        what = "labels in all, chosen from the pool" if unit == "B" else "labeled images per class"
        lines += [f"## {dataset}, {unit} = {what}", "", *_table(rows, unit, "method")]
        notes = _method_notes(rows)
        if notes:
            lines += ["", "Chosen on validation, per " + unit + ":", *notes]
        lines.append("")
    lines += ["## How each result was made", ""]
    lines += [_provenance(record) for record in records]
    lines += ["", "Carried results are copied from the note that measured them; their runs take several CPU hours",
              "on the 2-core CPU. Recipes without a table above measure a property (throughput, memory,",
              "same answer); their output is in `bench/results/RECIPE.json`.", ""]
    return "\n".join(lines)


README = BENCH.parent / "README.md"
HEADLINE = ("<!-- headline:start -->", "<!-- headline:end -->")
README_TABLE = ("fashion-mnist", "k")


def readme_headline(records: list[dict]) -> str:
    """The README's table: RESULTS.md's Fashion-MNIST table at k labeled images per class."""
    rows = _tables(records).get(README_TABLE, [])
    return "\n".join(_table(rows, "k", "Fashion-MNIST, k labeled per class"))


def with_headline(readme: str, records: list[dict]) -> str:
    """``readme`` with the block between the headline markers replaced by :func:`readme_headline`."""
    start, end = readme.index(HEADLINE[0]) + len(HEADLINE[0]), readme.index(HEADLINE[1])
    return readme[:start] + "\n" + readme_headline(records) + "\n" + readme[end:]


def write_page(folder: Path = RESULTS, page: Path = PAGE) -> Path:
    """Regenerate docs/RESULTS.md and the README's headline table from the recorded results."""
    from fewgen.atomic import write_text

    records = read_records(folder)
    write_text(page, render(records))
    write_text(README, with_headline(README.read_text(), records))
    return page
