"""A CSV of path,label rows labels a folder's unlabeled images, read exactly; every bad row is one sentence."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fewgen.data import SourceOptions, load_source
from fewgen.data.sources import UNLABELED
from fewgen.errors import FewgenError


def save(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 12), value, np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path) -> Path:
    """labeled/cat/c0.png, labeled/dog/d0.png, unlabeled/u0..u4.png (pixel value = 10 + i), test/cat/t.png."""
    save(tmp_path / "labeled" / "cat" / "c0.png", 1)
    save(tmp_path / "labeled" / "dog" / "d0.png", 2)
    for i in range(5):
        save(tmp_path / "unlabeled" / f"u{i}.png", 10 + i)
    save(tmp_path / "test" / "cat" / "t.png", 3)
    return tmp_path


def read(folder: Path, text: str):
    file = folder.parent / "labels.csv"
    file.write_text(text)
    return load_source(f"folder:{folder}", SourceOptions(labels=file))


def test_rows_label_exactly_the_images_they_name(folder):
    """Paths relative to the folder or absolute, a header or none, a new class ('bird'), a labeled image whose row
    agrees with its folder: each image gets its row's class, the others stay unlabeled."""
    source = read(folder, f"path,label\nunlabeled/u1.png,dog\n{folder / 'unlabeled' / 'u3.png'},bird\n"
                          "unlabeled/u4.png,cat\nlabeled/cat/c0.png,cat\n\n")
    assert source.class_names == ["bird", "cat", "dog"]
    images, labels = source.train.images, source.train.labels.tolist()
    by_value = {int(images[i][0, 0, 0]): labels[i] for i in range(len(labels))}
    assert by_value == {1: 1, 2: 2, 11: 2, 13: 0, 14: 1, 10: UNLABELED, 12: UNLABELED}
    assert read(folder, "unlabeled/u1.png,dog\n").class_names == ["cat", "dog"]  # no header


@pytest.mark.parametrize("text, wanted", [
    ("unlabeled/nope.png,cat\n", "row 1: unlabeled/nope.png is not an image file"),
    ("unlabeled/u1.png,cat\nunlabeled/u1.png,cat\n", "row 2: unlabeled/u1.png is listed twice"),
    ("unlabeled/u1.png,cat\n./unlabeled/u1.png,dog\n", "row 2: unlabeled/u1.png has two labels, 'cat' and 'dog'"),
    ("labeled/cat/c0.png,dog\n", "has two labels, 'dog' in the file and 'cat' by its folder"),
    ("../outside.png,cat\n", "row 1: ../outside.png is outside the folder"),
    ("test/cat/t.png,cat\n", "is not an image of"),
    ("unlabeled/u1.png\n", "row 1 is not 'path,label'"),
    ("unlabeled/u1.png,cat,extra\n", "row 1 is not 'path,label'"),
    ("unlabeled/u1.png,\n", "row 1 is not 'path,label'"),
    ("path,label\n", "lists no images"),
])
def test_a_bad_row_is_one_sentence(folder, text, wanted):
    save(folder.parent / "outside.png", 0)
    with pytest.raises(FewgenError, match=re.escape(wanted)):
        read(folder, text)


def test_a_missing_file_and_a_built_in_dataset_are_refused(folder, tmp_path):
    with pytest.raises(FewgenError, match="cannot read the labels file"):
        load_source(f"folder:{folder}", SourceOptions(labels=tmp_path / "absent.csv"))
    with pytest.raises(FewgenError, match="--labels labels images of a folder source"):
        load_source("digits", SourceOptions(labels=tmp_path / "absent.csv"))
