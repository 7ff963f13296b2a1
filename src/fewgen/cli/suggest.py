"""``fewgen suggest``: which images to label next (registered on the app in :mod:`fewgen.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fewgen.cli.options import DataRoot, FeaturePrecision, Labels
from fewgen.errors import FewgenError


def suggest(
    run: Annotated[Path, typer.Argument(help="Run folder made by 'fewgen pretrain' (on a folder of unlabeled images, or any dataset).")],
    budget: Annotated[int, typer.Option(help="How many images to label in this round.")],
    strategy: Annotated[Optional[str], typer.Option(help="typiclust, probcover (cold start), clue, margin (need labels of two classes), or random. Default, chosen on validation: typiclust, which also keeps away from the images labeled so far.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the clustering (the same run, labels and seed give the same images).")] = 0,
    labels: Labels = None,
    precision: FeaturePrecision = "auto",
    data_root: DataRoot = None,
) -> None:
    """Choose the images of the run's unlabeled pool a person should label next, on the run's features; writes a CSV
    and a contact sheet under RUN/suggestions/. Run it again after labeling: labeled images are never suggested."""
    from fewgen.commands import suggest as run_suggest
    from fewgen.data import SourceOptions

    if budget < 1:
        raise FewgenError(f"--budget must be at least 1, got {budget}")
    record = run_suggest(run, budget, strategy, seed, SourceOptions(data_root=data_root, labels=labels), precision)
    folder = run / "suggestions"
    typer.echo(f"round {record['round']}: {record['budget']} images to label, chosen by {record['strategy']} from "
               f"{record['n_candidates']} unlabeled ({record['n_labeled']} labeled already)\n"
               f"list:          {folder / record['csv']}\ncontact sheet: {folder / record['sheet']}")
    if record["folder"]:
        labels_hint = f" --labels {labels}" if labels else ""
        typer.echo(f"next: move each listed file into {Path(record['folder']) / 'labeled'}/<class>/ (or add path,label rows to "
                   f"a CSV for --labels FILE), then 'fewgen fit {run} --out MODEL{labels_hint}', or 'fewgen suggest {run} "
                   f"--budget {budget}{labels_hint}' for another round")
    else:
        typer.echo(f"this dataset's train images are all labeled, so their labels were hidden to choose; 'fewgen report {run}' "
                   "shows the contact sheet")
