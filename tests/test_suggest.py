"""``fewgen suggest`` end to end: what can be chosen (never a labeled, validation or test image), the files of a
round, rounds that continue after labeling, the same images for the same run, labels and seed, and bad input."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from fewgen.cli import main
from fewgen.data import load_source
from fewgen.data.files import ImageFiles
from fewgen.data.splits import FIXED_VAL_PER_CLASS, validation_draw


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory) -> Path:
    """The digits as a folder: classes 0..4 with 2 labeled and 3 test images each; the other images unlabeled."""
    digits = load_digits()
    images, labels = (digits.images * 16).clip(0, 255).astype(np.uint8), digits.target
    root = tmp_path_factory.mktemp("digits")
    counts: dict = {}
    for i in range(400):
        label = int(labels[i])
        n = counts[label] = counts.get(label, 0) + 1
        part = f"labeled/{label}" if n <= 2 and label < 5 else f"test/{label}" if n <= 5 and label < 5 else "unlabeled"
        (root / part).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(root / part / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder_run(digit_folder, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "pixels"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{digit_folder}", "--backbone", "pixels",
                 "--epochs", "0", "--no-progress"]) == 0
    return run


def chosen_paths(run: Path, number: int) -> list[str]:
    with open(run / "suggestions" / f"round-{number:02d}.csv") as handle:
        return [row["path"] for row in csv.DictReader(handle)]


def test_a_round_lists_unlabeled_images_only_and_never_reads_test_images(folder_run, digit_folder, monkeypatch, capsys):
    read = []
    decode = ImageFiles.decode
    monkeypatch.setattr(ImageFiles, "decode", lambda self, i: read.append(self.paths[i]) or decode(self, i))
    assert main(["suggest", str(folder_run), "--budget", "12"]) == 0
    out = capsys.readouterr().out
    assert "round 1: 12 images to label, chosen by typiclust from" in out and "fewgen fit" in out
    paths = chosen_paths(folder_run, 1)
    assert len(set(paths)) == 12 and all(Path(p).parent == digit_folder / "unlabeled" for p in paths)
    assert not [p for p in read if "test" in p.parts]
    folder = folder_run / "suggestions"
    assert {p.name for p in folder.iterdir()} == {"round-01.csv", "round-01.png", "round-01.json"}
    assert Image.open(folder / "round-01.png").size[0] > 0


def test_rounds_continue_after_labeling_and_repeat_for_the_same_inputs(folder_run, digit_folder, tmp_path):
    """Labeling round 1's images (a CSV) takes them out of round 2; the same labels and seed give the same images."""
    assert main(["suggest", str(folder_run), "--budget", "8", "--seed", "1"]) == 0
    first = sorted(folder_run.glob("suggestions/round-*.json"))[-1].stem
    paths = chosen_paths(folder_run, int(first.split("-")[1]))
    truth = load_digits().target
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{Path(p).relative_to(digit_folder)},{truth[int(Path(p).stem)]}\n"
                                               for p in paths))
    for _ in range(2):
        assert main(["suggest", str(folder_run), "--budget", "8", "--seed", "1", "--labels", str(labels)]) == 0
    last = int(sorted(folder_run.glob("suggestions/round-*.json"))[-1].stem.split("-")[1])
    second, third = chosen_paths(folder_run, last - 1), chosen_paths(folder_run, last)
    assert not set(second) & set(paths) and second == third
    remaining = sorted(str(p) for p in (digit_folder / "unlabeled").iterdir() if str(p) not in paths)
    assert main(["suggest", str(folder_run), "--budget", str(len(remaining)), "--strategy", "random", "--labels",
                 str(labels)]) == 0
    assert sorted(chosen_paths(folder_run, last + 1)) == remaining  # every unlabeled image, and none of the labeled


def test_a_built_in_dataset_never_offers_its_validation_images(tmp_path, digits):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", "digits", "--backbone", "pixels", "--epochs", "0",
                 "--no-progress"]) == 0
    assert main(["suggest", str(run), "--budget", "60", "--strategy", "random"]) == 0
    with open(run / "suggestions" / "round-01.csv") as handle:
        chosen = [int(row["index"]) for row in csv.DictReader(handle)]
    held_out = validation_draw(digits.train.labels, FIXED_VAL_PER_CLASS)
    assert len(chosen) == 60 and not set(chosen) & set(held_out.tolist())


@pytest.mark.parametrize("arguments, wanted", [
    (["--budget", "0"], "--budget must be at least 1"),
    (["--budget", "100000"], "--budget must be between 1 and the"),
    (["--budget", "5", "--strategy", "kmeans"], "unknown --strategy 'kmeans'"),
    (["--budget", "5", "--labels", "absent.csv"], "cannot read the labels file absent.csv"),
])
def test_bad_input_is_one_sentence_and_writes_nothing(folder_run, arguments, wanted, capsys):
    before = sorted(p.name for p in (folder_run / "suggestions").glob("*")) if (folder_run / "suggestions").exists() else []
    assert main(["suggest", str(folder_run), *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert wanted in err and len(err.splitlines()) == 1
    after = sorted(p.name for p in (folder_run / "suggestions").glob("*")) if (folder_run / "suggestions").exists() else []
    assert after == before


def test_a_folder_that_is_not_a_run_is_one_sentence(tmp_path, capsys):
    assert main(["suggest", str(tmp_path), "--budget", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a run folder" in err and len(err.splitlines()) == 1 and not list(tmp_path.iterdir())


def test_a_run_without_its_backbone_is_one_sentence(folder_run, tmp_path, capsys):
    """A run whose features cannot be read (its saved backbone is gone): one sentence, no suggestions folder."""
    run = tmp_path / "run"
    shutil.copytree(folder_run, run)
    shutil.rmtree(run / "suggestions", ignore_errors=True)
    shutil.rmtree(run / "backbone")
    assert main(["suggest", str(run), "--budget", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds no saved backbone" in err and "fewgen pretrain" in err and len(err.splitlines()) == 1
    assert not (run / "suggestions").exists()


def test_a_folder_without_labels_pretrains_suggests_and_is_refused_by_fit(tmp_path, capsys):
    for i in range(30):
        (tmp_path / "photos" / "unlabeled").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (8, 8), dtype=np.uint8)).save(
            tmp_path / "photos" / "unlabeled" / f"{i}.png")
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{tmp_path / 'photos'}", "--backbone", "pixels",
                 "--epochs", "0", "--no-progress"]) == 0
    assert main(["suggest", str(run), "--budget", "4"]) == 0
    assert "chosen by typiclust from" in capsys.readouterr().out  # the default, cold (later rounds: the test above)
    assert main(["suggest", str(run), "--budget", "4", "--strategy", "clue"]) == 2
    assert main(["fit", str(run), "--out", str(tmp_path / "model")]) == 2
    assert "has no labeled images yet; 'fewgen suggest" in capsys.readouterr().err
    assert load_source(f"folder:{tmp_path / 'photos'}").class_names == []


def test_fit_and_evaluate_say_that_chosen_labels_bias_their_estimates(digit_folder, tmp_path, capsys):
    """Once suggest has chosen, fit's cross-validated estimate and evaluate's validation are flagged, and test/ is
    named as the honest estimate; before, nothing is said."""
    data = tmp_path / "photos"
    data.mkdir()
    for part in ("labeled", "unlabeled"):
        (data / part).symlink_to(digit_folder / part)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{data}", "--backbone", "pixels", "--epochs", "0",
                 "--no-progress"]) == 0
    assert main(["fit", str(run), "--out", str(tmp_path / "before")]) == 0
    assert "fewgen suggest" not in capsys.readouterr().out
    assert main(["suggest", str(run), "--budget", "5"]) == 0
    assert main(["fit", str(run), "--out", str(tmp_path / "after")]) == 0
    out = capsys.readouterr().out
    assert "cross-validation" in out and "chosen by 'fewgen suggest', not drawn at random" in out and "test/" in out
    (data / "test").symlink_to(digit_folder / "test")
    assert main(["evaluate", str(run), "--shots", "1", "--seeds", "1", "--heads", "logreg", "--baselines", "",
                 "--no-progress"]) == 0
    assert "so the validation accuracy (val_accuracy, which chooses the method) over them is biased" in capsys.readouterr().err
