"""``fewgen suggest``: choose which images of a run's unlabeled pool a person should label next.

Each call is a round, written under ``RUN/suggestions/``: ``round-NN.csv`` (rank, path or train index, strategy,
score, cluster), ``round-NN.png`` (a contact sheet of the chosen images, best first, row by row) and ``round-NN.json``
(what was chosen from, for the report). The images are chosen on the run's features (the spec ``select`` stored, else
the backbone's default, as ``evaluate`` and ``fit`` read them) by a strategy of :mod:`fewgen.choosing`.

Which images can be chosen:

- a folder source: its unlabeled images. The labeled ones (``labeled/<class>/`` and ``--labels FILE``) count as
  covered, and are never suggested again; test images are never read.
- a built-in dataset, whose train split is fully labeled: the labels are hidden (a simulated user), and the images of
  the fixed validation draw that ``evaluate`` scores on are left out, so they can never be chosen.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from fewgen.atomic import write_json, write_text
from fewgen.choosing import DEFAULT_STRATEGY, UNLABELED, Chosen, check_choice, choose
from fewgen.data.files import ImageFiles
from fewgen.data.splits import FIXED_VAL_PER_CLASS, validation_draw
from fewgen.features import FeatureCache
from fewgen.rundir import SUGGESTIONS_DIR, save_sample_grid
COLUMNS = ("rank", "path", "index", "strategy", "score", "cluster")


def candidate_rows(source) -> tuple[np.ndarray, np.ndarray]:
    """``(train indices [N], labels [N])`` a strategy reads: labels are class ids for labeled images and -1 for the
    images it may choose. A fully labeled train split hides its labels and leaves out the fixed validation draw."""
    labels = source.train.labels.numpy()
    if (labels == UNLABELED).any():
        return np.arange(len(labels)), labels.copy()
    held_out = validation_draw(labels, FIXED_VAL_PER_CLASS, source.class_names)
    rows = np.setdiff1d(np.arange(len(labels)), held_out)
    return rows, np.full(len(rows), UNLABELED, dtype=np.int64)


def suggest_round(run_dir: Path, backbone, checkpoint: str, source, spec, budget: int, strategy: str | None = None,
                  seed: int = 0) -> dict:
    """Choose ``budget`` images for a person to label on ``spec``'s features and write the round's files; returns the
    round's record (``round``, ``strategy``, ``csv``, ``sheet``, ``n_candidates``, ``n_labeled``, ...). The same run,
    labels, budget, strategy and seed give the same images."""
    rows, labels = candidate_rows(source)
    strategy = strategy or DEFAULT_STRATEGY
    n_candidates = int((labels == UNLABELED).sum())
    check_choice(budget, strategy, labels)  # before the features are read
    features = FeatureCache(run_dir).get(backbone, checkpoint, spec, "train", rows, source.train.images, mmap=True)
    chosen = choose(features, labels, budget, strategy, seed, n_classes=source.num_classes or None)
    folder = Path(run_dir) / SUGGESTIONS_DIR
    number = next_round(folder)
    stem = folder / f"round-{number:02d}"
    train_index = rows[chosen.indices]
    write_text(stem.with_suffix(".csv"), _csv(chosen, train_index, _paths(source.train.images, train_index)))
    save_sample_grid(source.train.images[train_index], stem.with_suffix(".png"), nrow=min(10, budget))
    record = {"round": number, "strategy": strategy, "budget": budget, "seed": seed, "spec": spec.to_dict(),
              "checkpoint": checkpoint, "n_candidates": n_candidates, "n_labeled": int((labels != UNLABELED).sum()),
              "csv": stem.with_suffix(".csv").name, "sheet": stem.with_suffix(".png").name,
              "folder": source.notes.get("path")}
    write_json(stem.with_suffix(".json"), record)  # last: a round without its record is not counted, and is rewritten
    return record


def chosen_labels_note(run_dir: Path, what: str) -> str | None:
    """A sentence for a run whose labels came from ``fewgen suggest`` (it wrote a round): chosen images are not a
    random sample, so ``what`` (an estimate over them) is biased, and the test split is the honest estimate."""
    if next_round(Path(run_dir) / SUGGESTIONS_DIR) == 1:
        return None
    return (f"note: the labeled images were chosen by 'fewgen suggest', not drawn at random, so {what} over them is "
            "biased (either way); the accuracy on test/ (labeled images drawn at random) is the honest estimate")


def next_round(folder: Path) -> int:
    """1 + the largest round number written under ``folder``."""
    numbers = [int(m.group(1)) for p in folder.glob("round-*.json") if (m := re.fullmatch(r"round-(\d+)\.json", p.name))]
    return max(numbers, default=0) + 1


def _paths(images, train_index: np.ndarray) -> list[str]:
    """A folder's file path per chosen image ('' for a built-in dataset's images, named by index)."""
    if isinstance(images, ImageFiles):
        return [str(images.paths[i]) for i in train_index]
    return [""] * len(train_index)


def _csv(chosen: Chosen, train_index: np.ndarray, paths: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for rank, (index, path, score, cluster) in enumerate(zip(train_index, paths, chosen.scores, chosen.clusters), 1):
        writer.writerow([rank, path, int(index), chosen.strategy, "" if np.isnan(score) else f"{score:.6g}", int(cluster)])
    return out.getvalue()
