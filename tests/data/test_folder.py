"""The folder source: layout, colour handling, resizing, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fewgen.data import UNLABELED, load_source
from fewgen.errors import FewgenError


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            save(tmp_path / "labeled" / cls / f"{i}.png", rng.integers(0, 256, (12, 12)))
        save(tmp_path / "test" / cls / "t.png", rng.integers(0, 256, (12, 12)))
    for i in range(4):
        save(tmp_path / "unlabeled" / f"u{i}.jpg", rng.integers(0, 256, (20, 16)))
    (tmp_path / "labeled" / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_layout_and_labels(image_folder):
    source = load_source(f"folder:{image_folder}")
    assert source.class_names == ["cat", "dog"]
    assert source.train.images.shape == (10, 1, 12, 12)  # 6 labeled + 4 unlabeled, resized to the first image
    assert source.train.labels.tolist() == [0, 0, 0, 1, 1, 1] + [UNLABELED] * 4
    assert source.test.labels.tolist() == [0, 1]


def test_one_colour_image_makes_everything_rgb(image_folder):
    save(image_folder / "unlabeled" / "colour.png", np.zeros((12, 12, 3)))
    source = load_source(f"folder:{image_folder}")
    assert source.train.images.shape[1] == 3 and source.test.images.shape[1] == 3


def test_pixels_survive_reading(tmp_path):
    array = np.arange(64).reshape(8, 8) * 3
    save(tmp_path / "labeled" / "a" / "x.png", array)
    source = load_source(f"folder:{tmp_path}")
    np.testing.assert_array_equal(source.train.images[0, 0].numpy(), array)
    assert source.test is None


def test_truncated_image_names_the_file(image_folder):
    bad = image_folder / "labeled" / "dog" / "broken.png"
    good = (image_folder / "labeled" / "dog" / "0.png").read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(FewgenError, match="cannot read image .*broken.png"):
        load_source(f"folder:{image_folder}")


def test_unreadable_image_names_the_file(image_folder):
    (image_folder / "unlabeled" / "junk.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(FewgenError, match="junk.jpg"):
        load_source(f"folder:{image_folder}")


def test_empty_folder(tmp_path):
    (tmp_path / "labeled").mkdir()
    with pytest.raises(FewgenError, match="is empty"):
        load_source(f"folder:{tmp_path}")


def test_missing_labeled_subfolder(tmp_path):
    with pytest.raises(FewgenError, match="no 'labeled' subfolder"):
        load_source(f"folder:{tmp_path}")


def test_test_class_without_labeled_images(image_folder):
    save(image_folder / "test" / "bird" / "b.png", np.zeros((12, 12)))
    with pytest.raises(FewgenError, match="test class 'bird'"):
        load_source(f"folder:{image_folder}")
