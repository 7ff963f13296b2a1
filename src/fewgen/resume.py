"""What an evaluation already wrote, so that running the same command again continues instead of repeating.

``evaluate`` appends each draw's row to ``RUN/results.jsonl`` as soon as it is scored. A row is *done* when a row of
the same :func:`draw_key` is there: the same data (a folder's files and labels too), backbone, checkpoint, spec, feature precision, method (head or
baseline and its settings, what it fitted on, a student's budget and teacher), validation protocol and size, k and
seed. Running the command again skips done rows and computes the rest; ``--redo`` computes them all again (the
summaries and ``fit`` read the latest row of a draw, so the new rows replace the old).

A pool head's candidate (``tuned``) is chosen per k over the command's seeds (:func:`fewgen.evaluate.choose_candidates`),
so its rows are written per (spec, head, k), when every seed's candidates are scored. The candidates' rows are kept
meanwhile in ``RUN/features/candidates.jsonl`` (:class:`Journal`), so a killed evaluation loses no scored candidate,
and the rerun writes exactly the rows the uninterrupted command would have written. A (spec, head, k) group is
skipped only when every seed of the command has its row: run with more seeds, the group is chosen again over all of
them (the scored candidates are taken from the journal) and all its rows written anew, as a fresh command would.
"""

from __future__ import annotations

import json
from pathlib import Path

from fewgen.atomic import append_jsonl
from fewgen.results import read_rows

KEY_FIELDS = ("dataset", "data_id", "backbone", "checkpoint", "spec", "feature_precision", "head", "head_params", "data", "student",
              "teacher", "validation", "n_val", "selection", "rounds", "shots", "seed")


def draw_key(row: dict) -> str:
    """The identity of a row's (method, draw): what decides its numbers, but not when it ran or how long it took."""
    return json.dumps([None if row.get(name) in ({}, "") else row.get(name) for name in KEY_FIELDS], sort_keys=True)


class DoneRows:
    """The rows of ``results.jsonl`` by :func:`draw_key` (a later row of a key replaces an earlier one); empty when
    ``redo`` asks for every row to be computed again."""

    def __init__(self, results: Path, redo: bool = False):
        rows = read_rows(results) if Path(results).is_file() and not redo else []
        self.rows = {draw_key(row): row for row in rows if row.get("stage", "evaluate") == "evaluate"}
        self.skipped = 0  # rows found done in this evaluation

    def get(self, probe: dict) -> dict | None:
        """The done row whose key ``probe`` (a row's key fields) has, counted as skipped; else None."""
        row = self.rows.get(draw_key(probe))
        self.skipped += row is not None
        return row

    def has(self, probe: dict) -> bool:
        return draw_key(probe) in self.rows


class Journal:
    """Scored candidate rows of the pool heads (:data:`fewgen.evaluate.CANDIDATES`), kept until their k is chosen:
    ``RUN/features/candidates.jsonl``, one line per (row key, candidate). A line cut by a kill is ignored."""

    def __init__(self, path: Path, redo: bool = False):
        self.path = Path(path)
        self.rows: dict[str, dict] = {}
        if self.path.is_file() and not redo:
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of a killed write
                self.rows[self._key(row, row.get("tuned", {}))] = row

    @staticmethod
    def _key(probe: dict, tuned: dict) -> str:
        return json.dumps([draw_key(probe), tuned], sort_keys=True)

    def get(self, probe: dict, tuned: dict) -> dict | None:
        return self.rows.get(self._key(probe, tuned))

    def add(self, row: dict) -> None:
        self.rows[self._key(row, row.get("tuned", {}))] = row
        append_jsonl(self.path, [row])
