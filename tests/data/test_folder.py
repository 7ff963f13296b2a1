"""The folder source: layout, colour handling, resizing, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fewgen.data import UNLABELED, SourceOptions, load_source
from fewgen.errors import FewgenError, FewgenWarning


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
    save(tmp_path / "labeled" / "b" / "y.png", array)
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
    (image_folder / "labeled" / "cat" / "junk.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(FewgenError, match="junk.jpg"):
        load_source(f"folder:{image_folder}")


def test_a_bad_unlabeled_image_is_skipped_with_a_warning_and_counted(image_folder):
    (image_folder / "unlabeled" / "junk.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.warns(FewgenWarning, match="skipped unlabeled image: cannot read image .*junk.jpg"):
        source = load_source(f"folder:{image_folder}")
    assert len(source.train) == 10 and source.notes["skipped_unlabeled"] == [str(image_folder / "unlabeled" / "junk.jpg")]


def test_an_unlabeled_image_whose_header_reads_but_pixels_do_not_is_skipped_at_load(image_folder, recwarn):
    """A truncated JPEG once passed the header check, was counted in pretrain's headline, and was warned about in
    every epoch and every worker: it is decoded once at load now, skipped and counted there, with one warning."""
    bad = image_folder / "unlabeled" / "u1.jpg"
    bad.write_bytes(bad.read_bytes()[:-100])
    source = load_source(f"folder:{image_folder}")
    assert len(source.train) == 9 and source.notes["skipped_unlabeled"] == [str(bad)]
    assert [str(w.message).split(" (")[0] for w in recwarn if "u1.jpg" in str(w.message)] == [
        f"skipped unlabeled image: cannot read image {bad}"]


def test_an_unlabeled_image_damaged_after_load_is_replaced_by_the_next_and_warned_once(image_folder, recwarn):
    """A file damaged after the folder was read is found in a batch: skipped, and the next unlabeled file stands
    in, so the batch keeps its size; it is warned about once, however often it is met."""
    source = load_source(f"folder:{image_folder}")
    bad = image_folder / "unlabeled" / "u1.jpg"
    bad.write_bytes(bad.read_bytes()[:-100])
    images = source.train.images[6:10]
    assert torch.equal(images[1], images[2])
    source.train.images[6:10]
    assert len([w for w in recwarn if "u1.jpg" in str(w.message)]) == 1


def test_an_empty_class_and_names_that_differ_only_in_case(image_folder):
    (image_folder / "labeled" / "bird").mkdir()
    with pytest.raises(FewgenError, match="class folder .*bird holds no images"):
        load_source(f"folder:{image_folder}")
    (image_folder / "labeled" / "bird").rmdir()
    (image_folder / "labeled" / "Cat").mkdir()
    save(image_folder / "labeled" / "Cat" / "x.png", np.zeros((12, 12)))
    with pytest.raises(FewgenError, match="'Cat' and 'cat' .* differ only in case"):
        load_source(f"folder:{image_folder}")


def test_hidden_files_are_left_out_and_symlinks_followed(image_folder):
    save(image_folder / "labeled" / "cat" / ".thumb.png", np.zeros((12, 12)))
    (image_folder / "labeled" / ".DS_Store").write_bytes(b"junk")
    (image_folder / "unlabeled" / "link.png").symlink_to(image_folder / "labeled" / "dog" / "0.png")
    with pytest.warns(FewgenWarning, match="left out 2 hidden files or folders and 1 files that are not images"):
        source = load_source(f"folder:{image_folder}")
    assert len(source.train) == 11 and source.notes["hidden_left_out"] == 2
    (image_folder / "unlabeled" / "broken.png").symlink_to(image_folder / "nowhere.png")
    with pytest.warns(FewgenWarning, match="broken symbolic link"):
        assert len(load_source(f"folder:{image_folder}").train) == 11


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


def test_subfolders_of_unlabeled_and_of_class_folders_are_read(image_folder):
    rng = np.random.default_rng(1)
    for i in range(3):
        save(image_folder / "unlabeled" / "more" / "deeper" / f"m{i}.png", rng.integers(0, 256, (12, 12)))
    save(image_folder / "labeled" / "dog" / "2025" / "d.png", rng.integers(0, 256, (12, 12)))
    source = load_source(f"folder:{image_folder}")
    assert source.train.labels.tolist() == [0, 0, 0, 1, 1, 1, 1] + [UNLABELED] * 7


def test_a_single_class_is_read_and_refused_where_a_classifier_is_needed(tmp_path):
    save(tmp_path / "labeled" / "bag" / "0.png", np.zeros((12, 12)))
    source = load_source(f"folder:{tmp_path}")  # pretrain and suggest read it
    with pytest.raises(FewgenError, match="labeled images of one class \\('bag'\\); a classifier needs at least two"):
        source.require_labels()


def test_a_folder_of_unlabeled_images_alone_is_read(tmp_path):
    """Before any label: pretrain and suggest read it, at the unlabeled images' median side; fit and evaluate
    (through require_labels) say to label images first."""
    for i in range(3):
        save(tmp_path / "unlabeled" / f"{i}.png", np.zeros((10 + i, 20)))
    source = load_source(f"folder:{tmp_path}")
    assert source.class_names == [] and source.image_shape == (1, 11, 11) and (source.train.labels == UNLABELED).all()
    with pytest.raises(FewgenError, match="has no labeled images yet; 'fewgen suggest"):
        source.require_labels()


def test_the_default_size_is_the_median_shorter_side_at_most_64(tmp_path):
    rng = np.random.default_rng(0)
    save(tmp_path / "labeled" / "a" / "0.png", rng.integers(0, 256, (1, 1)))  # one odd first image does not decide
    for i, shape in enumerate([(480, 640), (300, 400)]):
        save(tmp_path / "labeled" / "a" / f"{i + 1}.png", rng.integers(0, 256, shape))
        save(tmp_path / "labeled" / "b" / f"{i}.png", rng.integers(0, 256, shape))
    assert load_source(f"folder:{tmp_path}").train.images.shape[1:] == (1, 64, 64)
    for i in range(1, 6):
        save(tmp_path / "labeled" / "b" / f"tiny{i}.png", rng.integers(0, 256, (4, 4)))
    with pytest.raises(FewgenError, match="4 pixels on their shorter side .* give --image-size N"):
        load_source(f"folder:{tmp_path}")


@pytest.mark.parametrize("size", [0, 4, 5000])
def test_an_image_size_outside_8_to_256_is_one_sentence_before_any_work(image_folder, size, capsys):
    from fewgen.cli import main

    with pytest.raises(FewgenError, match=rf"\(--image-size\) must be a whole number of pixels between 8 and 256, got {size}"):
        load_source(f"folder:{image_folder}", SourceOptions(image_size=size))
    run = image_folder / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{image_folder}", "--image-size", str(size)]) == 2
    assert "between 8 and 256" in capsys.readouterr().err and not (run / "backbone").exists()
