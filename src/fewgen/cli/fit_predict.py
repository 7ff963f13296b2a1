"""``fewgen fit`` and ``fewgen predict``: the commands that hand a user a classifier and run it (registered on the
app in :mod:`fewgen.cli.app`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from fewgen.cli.options import DataRoot, FeaturePrecision, Labels, StudentOptions, student_config
from fewgen.errors import FewgenError


def fit(
    run: Annotated[Path, typer.Argument(help="Run folder made by 'fewgen pretrain' (and, ideally, 'fewgen evaluate').")],
    out: Annotated[Path, typer.Option(help="Model folder to create (safetensors and JSON, no pickle).")],
    shots: Annotated[Optional[int], typer.Option(help="Built-in datasets: labeled images per class in the draw the classifier is fitted on. folder: data: default all labeled images.")] = None,
    seed: Annotated[int, typer.Option(help="Which seeded draw (built-in datasets), and the head's seed.")] = 0,
    head: Annotated[Optional[str], typer.Option(help="Head to fit. Default: the one chosen on validation by 'evaluate' (or 'select'), else logreg. With --student: the teacher.")] = None,
    student: Annotated[Optional[str], typer.Option(help="Save a student instead: small or encoder (fewgen.students), taught by the chosen head on the labeled images and the pool; a model folder of a few MB.")] = None,
    student_option: StudentOptions = [],
    with_teacher: Annotated[bool, typer.Option("--with-teacher", help="With --student: save the mean of the student's and its teacher's probabilities (evaluate's student-NAME+teacher); the folder then holds the teacher too (a pool head keeps the pool's features).")] = False,
    precision: FeaturePrecision = "auto",
    labels: Labels = None,
    data_root: DataRoot = None,
) -> None:
    """Fit the final classifier on the run's labeled images (and its pool, for pool heads and students) and save it as
    a model folder."""
    from fewgen.data import SourceOptions
    from fewgen.fitting import fit_classifier
    from fewgen.suggest import chosen_labels_note

    classifier = fit_classifier(run, out, shots, seed, head, SourceOptions(data_root=data_root, labels=labels), precision, student,
                                student_config(student_option), with_teacher)
    method, estimate = classifier.info["method"], classifier.info["estimate"]
    shown = "n/a" if estimate["accuracy"] is None else f"{100 * estimate['accuracy']:.1f}%"
    averaged = f"the mean of student-{student} and its teacher, {classifier.info.get('teacher')}"
    fitted = (averaged if with_teacher else f"student-{student} taught by {classifier.info['teacher']}" if student else
              f"{classifier.backbone.name}[{classifier.spec.label()}]+{classifier.head_name}")
    typer.echo(f"fitted {fitted} on {classifier.info['n_labeled']} labeled images ({classifier.info['data']}); chosen by "
               f"{method['chosen_by']}\nheld-out accuracy: {shown} ({estimate['on']})\nsaved to {out}")
    note = chosen_labels_note(run, "a cross-validated estimate") if "cross-validation" in estimate["on"] else None
    if note:
        typer.echo(note)


def predict(
    model: Annotated[Path, typer.Argument(help="Model folder made by 'fewgen fit'.")],
    paths: Annotated[list[Path], typer.Argument(help="Image files and folders (searched recursively).")],
    out: Annotated[Optional[Path], typer.Option(help="Write rows to this .csv or .jsonl file (default: CSV on standard output).")] = None,
    top: Annotated[int, typer.Option(help="How many of the most probable classes each row lists.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 64,
    workers: Annotated[Optional[int], typer.Option(help="DataLoader processes decoding files (default: up to 4).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first file that cannot be read (exit code 2).")] = False,
) -> None:
    """Classify images: one row per file (path, class, probability, top classes, error); exit code 1 if any file failed."""
    from fewgen.atomic import atomic_path
    from fewgen.classifier import load_classifier
    from fewgen.predict import COLUMNS, format_row, left_out, list_images, output_kind, predict_rows

    kind = output_kind(out)
    for option, value in (("--top", top), ("--batch-size", batch_size)):
        if value < 1:
            raise FewgenError(f"{option} must be at least 1, got {value}")
    classifier = load_classifier(model)
    files, listing = list_images(paths)
    started, failed = time.perf_counter(), 0

    def write(stream) -> int:
        bad = 0
        if kind == "csv":
            stream.write(",".join(COLUMNS) + "\n")
        for row in predict_rows(classifier, files, top, batch_size, workers, strict):
            bad += bool(row["error"])
            stream.write(format_row(row, kind))
        return bad

    if out is None:
        failed = write(sys.stdout)
    else:
        with atomic_path(out) as tmp, open(tmp, "w", newline="") as stream:
            failed = write(stream)
    seconds = time.perf_counter() - started
    typer.echo(f"{len(files) - failed} of {len(files)} images classified, {failed} could not be read, in {seconds:.1f}s"
               + (f"; rows in {out}" if out else "") + left_out(listing), err=True)
    if failed:
        raise typer.Exit(1)
