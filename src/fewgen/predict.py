"""``fewgen predict``: classify image files with a saved classifier, streaming in batches.

Files are decoded and preprocessed by DataLoader workers (as the model folder says), their
features read on the GPU when there is one, and one row per file comes out: path, predicted
class, its probability, the top classes, and an ``error`` for a file that could not be read.
A bad file does not stop the others, unless ``strict``: then the first one ends the run with
its sentence.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fewgen.classifier import Classifier
from fewgen.data.folder import IMAGE_SUFFIXES, Listing
from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError

COLUMNS = ("path", "class", "probability", "top", "error")


def list_images(paths: list[Path]) -> tuple[list[Path], Listing]:
    """``(files, listing)``: files given by name (any suffix: a file that is not an image gets an error row), and
    the image files under each folder given, recursively, sorted; a broken symbolic link among them gets an error
    row too. ``listing`` counts what the folders held that was left out: hidden files and folders, and files whose
    suffix is not an image's."""
    found: list[Path] = []
    listing = Listing()
    for path in map(Path, paths):
        if path.is_dir():
            found += listing.images(path)
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            raise FewgenError(f"{path} does not exist; give image files or folders of images")
    if not found:
        raise FewgenError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {', '.join(map(str, paths))}"
                          f"{left_out(listing)}; give image files or folders of images")
    return found, listing


def left_out(listing: Listing) -> str:
    """``'; left out: 2 hidden, 1 not an image (.heic, .txt)'``, or '' when nothing was."""
    parts = [f"{len(listing.hidden)} hidden"] if listing.hidden else []
    if listing.other:
        suffixes = sorted({p.suffix.lower() or p.name for p in listing.other})
        parts.append(f"{len(listing.other)} not an image by suffix ({', '.join(suffixes[:5])}{', ...' if len(suffixes) > 5 else ''})")
    return f"; left out: {', '.join(parts)}" if parts else ""


class _Files(Dataset):
    """Item ``i``: ``(i, uint8 [C, H, W] or None, error sentence or '')``, decoded in a worker."""

    def __init__(self, paths: list[Path], preprocess: Preprocess):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, torch.from_numpy(self.preprocess.file(self.paths[i])), ""
        except FewgenError as exc:
            return i, None, str(exc)


def predict_rows(classifier: Classifier, paths: list[Path], top: int = 3, batch_size: int = 64,
                 workers: int | None = None, strict: bool = False) -> Iterator[dict]:
    """One row per file, in order: ``path, class, probability, top [(class, probability)], error``."""
    workers = min(4, len(os.sched_getaffinity(0))) if workers is None else workers
    loader = DataLoader(_Files(paths, classifier.preprocess), batch_size=batch_size, num_workers=workers,
                        collate_fn=list, prefetch_factor=2 if workers else None)
    names = classifier.classes_
    for items in loader:
        good = [(i, image) for i, image, _ in items if image is not None]
        proba = classifier.proba_of_batch(torch.stack([image for _, image in good])) if good else None
        by_index = {i: row for (i, _), row in zip(good, proba if proba is not None else [])}
        for i, _, error in items:
            if error:
                if strict:
                    raise FewgenError(error)
                yield {"path": str(paths[i]), "class": None, "probability": None, "top": [], "error": error}
                continue
            p = by_index[i]
            order = np.argsort(-p, kind="stable")[:top]
            yield {"path": str(paths[i]), "class": str(names[order[0]]), "probability": float(p[order[0]]),
                   "top": [(str(names[j]), float(p[j])) for j in order], "error": ""}


def format_row(row: dict, kind: str) -> str:
    """One output line: ``csv`` (top as ``class:p;class:p``) or ``jsonl``."""
    if kind == "jsonl":
        return json.dumps(row) + "\n"
    buffer = io.StringIO()
    csv.writer(buffer).writerow([row["path"], row["class"] or "", "" if row["probability"] is None else f"{row['probability']:.6f}",
                                 ";".join(f"{c}:{p:.6f}" for c, p in row["top"]), row["error"]])
    return buffer.getvalue()


def output_kind(path: Path | None) -> str:
    """``csv`` or ``jsonl`` from the output file's suffix (standard output: csv)."""
    if path is None or path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() in (".jsonl", ".json"):
        return "jsonl"
    raise FewgenError(f"--out {path} must end in .csv or .jsonl")
