"""Labels from a CSV of ``path,label`` rows, for a folder source (``--labels FILE``).

Labels made in a spreadsheet or another labeling tool reach fewgen this way; the folder layout stays the source of
truth for everything else. A path is relative to the folder (or absolute, inside it), names an image of its
``unlabeled/`` tree or of ``labeled/<class>/`` (where the CSV must agree with the folder), and appears once. A first row
``path,label`` is a header. Anything else is one sentence that names the row.
"""

from __future__ import annotations

import csv
from pathlib import Path

from fewgen.errors import FewgenError


def read_label_file(file: Path, folder: Path) -> dict[Path, str]:
    """``{resolved image path: class name}`` from ``file``; every path checked to lie inside ``folder`` and exist
    there (the caller checks it is an unlabeled or agreeing labeled image)."""
    file, root = Path(file).expanduser(), Path(folder).expanduser().resolve()
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FewgenError(f"cannot read the labels file {file} ({exc}); give a CSV of path,label rows") from None
    if rows and [cell.strip().lower() for cell in rows[0]] == ["path", "label"]:
        rows = rows[1:]
    labels: dict[Path, str] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{file}, row {number}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise FewgenError(f"{where} is not 'path,label' (got {','.join(row)!r}); give one image path and its class per row")
        given, label = Path(row[0].strip()).expanduser(), row[1].strip()
        path = (given if given.is_absolute() else root / given).resolve()
        if not path.is_relative_to(root):
            raise FewgenError(f"{where}: {given} is outside the folder {root}; list only images inside it")
        if not path.is_file():
            raise FewgenError(f"{where}: {given} is not an image file in {root}; fix the path or remove the row")
        if path in labels:
            if labels[path] != label:
                raise FewgenError(f"{where}: {given} has two labels, '{labels[path]}' and '{label}'; keep one")
            raise FewgenError(f"{where}: {given} is listed twice; remove one of its rows")
        labels[path] = label
    if not labels:
        raise FewgenError(f"the labels file {file} lists no images; add path,label rows")
    return labels
