"""``fewgen summary``: a run's results as tables, in the terminal or as JSON (registered on the app in
:mod:`fewgen.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fewgen.errors import FewgenError


def summary(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (one or more; rows of several runs on one dataset are pooled, as the report pools them).")],
    paired: Annotated[Optional[str], typer.Option(help="Also print this method minus every other method per k, paired on the shared draws (a method name as the table prints it).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the tables as JSON to this file (per dataset: methods, chosen_per_k, chosen_minus_references).")] = None,
) -> None:
    """Per dataset: each method's test accuracy per k (mean ± 95% CI over the draws), the method chosen on validation
    per k with its validation → test accuracy, and that choice minus each baseline on the same draws. Reads only
    the runs' results.jsonl; nothing is recomputed."""
    from fewgen.atomic import write_json
    from fewgen.report.collect import pooled_rows, read_runs
    from fewgen.report.digest import summary_data, summary_text
    from fewgen.results import method_name

    records = read_runs(runs)
    by_dataset = {dataset: rows for dataset, rows in pooled_rows(records).items() if rows}
    if not by_dataset:
        raise FewgenError(f"no evaluation rows in {', '.join(map(str, runs))}; run 'fewgen evaluate' (or 'fewgen augment') first")
    if paired and not any(paired in {method_name(row) for row in rows} for rows in by_dataset.values()):
        raise FewgenError(f"--paired {paired} is not a method of these runs; give a method name as 'fewgen summary' prints it")
    for record in records:
        if record.earlier_rows:
            typer.echo(f"{record.name}: {record.earlier_rows} rows of checkpoints the folder held before further pretraining left out")
    for dataset, rows in by_dataset.items():
        typer.echo(f"== {dataset} ==\n{summary_text(rows, paired)}\n")
    if json_out is not None:
        write_json(json_out, {dataset: summary_data(rows) for dataset, rows in by_dataset.items()})
        typer.echo(f"written: {json_out}")
