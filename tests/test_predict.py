"""``fewgen predict``'s parts: which files it lists and what it counts as left out, one row per file in order (an
error row for a bad file, or the first bad file's sentence when strict), and its two output formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fewgen.backbones import FeatureSpec, get_backbone_class
from fewgen.classifier import Classifier
from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError
from fewgen.heads import make_head
from fewgen.predict import format_row, left_out, list_images, output_kind, predict_rows


def _save(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    return path


@pytest.fixture
def dark_or_bright() -> Classifier:
    """Raw pixels of 8x8 grayscale images and logreg, fitted on dark (class 'dark') and bright ('bright') images."""
    backbone = get_backbone_class("pixels")(get_backbone_class("pixels").Config(), (1, 8, 8))
    spec = FeatureSpec()
    images = torch.cat([torch.full((4, 1, 8, 8), 30, dtype=torch.uint8), torch.full((4, 1, 8, 8), 220, dtype=torch.uint8)])
    head = make_head("logreg").fit(backbone.features(images, spec).numpy(), np.repeat([0, 1], 4))
    return Classifier(backbone, "0" * 16, spec, "logreg", head, ["dark", "bright"], Preprocess("L", (8, 8)))


def test_folders_are_listed_recursively_and_what_is_left_out_is_counted(tmp_path):
    _save(tmp_path / "b.png", 0)
    _save(tmp_path / "sub" / "a.jpg", 0)
    _save(tmp_path / ".hidden.png", 0)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "photo.heic").write_bytes(b"?")
    files, listing = list_images([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["b.png", "sub/a.jpg"]
    assert left_out(listing) == "; left out: 1 hidden, 2 not an image by suffix (.heic, .txt)"
    files, listing = list_images([tmp_path / "notes.txt", tmp_path / "sub"])  # a file named is listed, whatever its suffix
    assert [p.name for p in files] == ["notes.txt", "a.jpg"] and left_out(listing) == ""


def test_nothing_to_classify_is_one_sentence(tmp_path):
    with pytest.raises(FewgenError, match="nowhere.png does not exist; give image files or folders of images"):
        list_images([tmp_path / "nowhere.png"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FewgenError, match=r"no image files .* under .*; left out: 1 not an image by suffix \(.txt\)"):
        list_images([tmp_path])


def test_one_row_per_file_in_order_with_an_error_row_for_a_bad_file(dark_or_bright, tmp_path):
    paths = [_save(tmp_path / f"{i}.png", value) for i, value in enumerate([210, 20, 240])]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    paths.insert(1, bad)
    rows = list(predict_rows(dark_or_bright, paths, top=2, batch_size=2, workers=0))
    assert [row["path"] for row in rows] == [str(p) for p in paths]
    assert [row["class"] for row in rows] == ["bright", None, "dark", "bright"]
    assert "bad.png" in rows[1]["error"] and rows[1]["top"] == [] and not any(rows[i]["error"] for i in (0, 2, 3))
    for row in rows[::2]:
        assert [c for c, _ in row["top"]][0] == row["class"] and row["probability"] == row["top"][0][1] > 0.5
        assert abs(sum(p for _, p in row["top"]) - 1) < 1e-9  # two classes, top 2: every class
    with pytest.raises(FewgenError, match="bad.png"):
        list(predict_rows(dark_or_bright, paths, batch_size=2, workers=0, strict=True))


def test_rows_print_as_csv_or_jsonl_by_the_output_suffix(tmp_path):
    row = {"path": "a,b.png", "class": "dark", "probability": 0.75, "top": [("dark", 0.75), ("bright", 0.25)], "error": ""}
    bad = {"path": "c.png", "class": None, "probability": None, "top": [], "error": "cannot read image c.png"}
    assert next(csv.reader(io.StringIO(format_row(row, "csv")))) == ["a,b.png", "dark", "0.750000",
                                                                     "dark:0.750000;bright:0.250000", ""]
    assert next(csv.reader(io.StringIO(format_row(bad, "csv")))) == ["c.png", "", "", "", "cannot read image c.png"]
    assert json.loads(format_row(row, "jsonl"))["top"] == [["dark", 0.75], ["bright", 0.25]]
    assert [output_kind(p) for p in (None, Path("p.CSV"), Path("p.jsonl"), Path("p.json"))] == ["csv", "csv", "jsonl", "jsonl"]
    with pytest.raises(FewgenError, match="--out p.txt must end in .csv or .jsonl"):
        output_kind(Path("p.txt"))
