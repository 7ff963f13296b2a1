"""From a folder of a user's images to a saved classifier to predictions: ``fewgen fit``, ``fewgen predict`` and
the Python API, with the model folder loaded in a fresh process."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fewgen.cli import main
from fewgen.errors import FewgenError

SIZES = [(20, 20), (24, 18), (18, 26), (30, 30)]


def _picture(rng, bright: bool, size) -> np.ndarray:
    """A class-coloured noisy image ``[H, W, 3]``: dark or bright, with a stripe."""
    w, h = size
    base = 190 if bright else 60
    array = np.clip(rng.normal(base, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    array[h // 2 - 1 : h // 2 + 1] = 255 - base
    return array


def make_user_folder(root: Path, labeled: int = 5, unlabeled: int = 24, test: int = 4) -> Path:
    """labeled/{dark,bright}/ (PNG and JPEG of mixed sizes, one RGBA, one EXIF-rotated), unlabeled/ (with one
    corrupt file), test/{dark,bright}/."""
    rng = np.random.default_rng(0)
    for split, n in (("labeled", labeled), ("test", test)):
        for c, name in enumerate(("dark", "bright") if n else ()):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                image = Image.fromarray(_picture(rng, bool(c), SIZES[i % len(SIZES)]))
                image.save(folder / f"{i}.{'jpg' if i % 2 else 'png'}", quality=95)
    rgba = np.dstack([_picture(rng, True, (22, 22)), np.full((22, 22), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(root / "labeled" / "bright" / "rgba.png")
    rotated = Image.fromarray(_picture(rng, False, (28, 20)))
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rotated.save(root / "labeled" / "dark" / "rotated.jpg", exif=exif, quality=95)
    (root / "unlabeled").mkdir()
    for i in range(unlabeled):
        Image.fromarray(_picture(rng, bool(i % 2), SIZES[i % len(SIZES)])).save(root / "unlabeled" / f"u{i:03d}.png")
    (root / "unlabeled" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return root


@pytest.fixture(scope="module")
def user_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("user")
    folder = make_user_folder(root / "photos")
    run = root / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "vae", "--epochs", "1",
                 "--image-size", "16", "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]) == 0
    return folder, run


@pytest.fixture(scope="module")
def default_model(user_run, tmp_path_factory) -> Path:
    """``fewgen fit`` with the default head, for the tests that only read the model folder."""
    model = tmp_path_factory.mktemp("models") / "default"
    assert main(["fit", str(user_run[1]), "--out", str(model)]) == 0
    return model


def test_folder_to_model_to_predictions_in_a_fresh_process(user_run, tmp_path, capsys):
    folder, run = user_run
    config = json.loads((run / "config.json").read_text())
    assert config["resize"] == "crop" and config["image_size"] == 16
    model = tmp_path / "model"
    assert main(["fit", str(run), "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert "the default" in out and "held-out accuracy" in out and "test split" in out
    import fewgen

    classifier = fewgen.load_classifier(model)
    assert list(classifier.classes_) == ["bright", "dark"]
    paths = sorted((folder / "test").rglob("*.*")) + [folder / "labeled" / "dark" / "rotated.jpg",
                                                      folder / "labeled" / "bright" / "rgba.png"]
    in_memory = classifier.predict(paths)
    proba = classifier.predict_proba(paths)
    assert proba.shape == (len(paths), 2) and np.allclose(proba.sum(axis=1), 1)
    truth = [p.parent.name for p in paths]
    assert np.mean(in_memory == np.asarray(truth)) >= 0.9  # dark vs bright is easy
    preds = tmp_path / "preds.csv"
    done = subprocess.run([sys.executable, "-m", "fewgen", "predict", str(model), *map(str, paths), str(folder / "unlabeled"),
                           "--out", str(preds), "--top", "2"], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # the corrupt unlabeled file failed
    assert "1 could not be read" in done.stderr and "Traceback" not in done.stderr
    rows = list(csv.DictReader(preds.open()))
    by_path = {row["path"]: row for row in rows}
    assert [by_path[str(p)]["class"] for p in paths] == list(in_memory)  # exactly as in memory
    for p, row in zip(paths, proba):
        assert abs(float(by_path[str(p)]["probability"]) - row.max()) < 1e-6
    bad = by_path[str(folder / "unlabeled" / "corrupt.png")]
    assert bad["class"] == "" and bad["error"].startswith("cannot read image")
    assert len(rows) == len(paths) + 25 and all(len(row["top"].split(";")) == 2 for row in rows if not row["error"])


def test_the_model_folder_holds_only_safetensors_and_json(user_run, tmp_path):
    _, run = user_run
    model = tmp_path / "model"
    assert main(["fit", str(run), "--out", str(model), "--head", "propagate"]) == 0
    files = [p for p in model.rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".safetensors", ".json"}
    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o666 & ~umask}  # as plain files, not safetensors' 0600
    assert {p.name for p in files} >= {"model.json", "head.safetensors", "head.json"}
    meta = json.loads((model / "model.json").read_text())
    assert meta["data"] == "pool" and meta["n_pool"] == 10 + 1 + 1 + 24  # labeled, rgba, rotated, unlabeled
    assert meta["skipped_unlabeled"] == 1  # the corrupt file: skipped with a warning, and counted
    assert meta["preprocess"] == {"mode": "RGB", "size": [16, 16], "resize": "crop"}


def test_a_loaded_head_predicts_bit_identically(user_run, tmp_path):
    """Every exportable head: the loaded classifier's probabilities equal the fitted one's, bit for bit."""
    from fewgen.classifier import load_classifier
    from fewgen.fitting import fit_classifier

    folder, run = user_run
    paths = sorted((folder / "test").rglob("*.*"))
    from fewgen.heads import HEADS

    saved = [name for name, cls in HEADS.items() if cls.can_save({}) and not getattr(cls, "needs_layout", False)]
    # (a new head is tested without a list to edit; attention reads a ddpm's tokens, round-tripped in tests/heads)
    assert set(saved) >= {"logreg", "mlp", "linear", "knn", "selftrain", "propagate"}
    for head in saved:
        fitted = fit_classifier(run, tmp_path / head, head=head)
        assert np.array_equal(fitted.predict_proba(paths), load_classifier(tmp_path / head).predict_proba(paths)), head


def test_the_umap_head_cannot_be_saved_and_says_why(user_run, tmp_path, capsys):
    _, run = user_run
    assert main(["fit", str(run), "--out", str(tmp_path / "m"), "--head", "umap"]) == 2
    assert "cannot be saved to a model folder" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_a_model_folder_from_another_version_or_with_changed_weights_is_refused(user_run, tmp_path, capsys):
    _, run = user_run
    model = tmp_path / "model"
    assert main(["fit", str(run), "--out", str(model)]) == 0
    meta = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**meta, "fewgen_version": "7.0.0"}))
    assert main(["predict", str(model), str(run / "samples.png")]) == 2
    assert "written by fewgen 7.0.0" in capsys.readouterr().err
    (model / "model.json").write_text(json.dumps(meta))
    weights = next((model / "backbone").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    assert main(["predict", str(model), str(run / "samples.png")]) == 2
    assert f"model folder file {weights} is damaged" in capsys.readouterr().err
    from fewgen.model_seal import seal

    seal(model)  # as if sealed so: the checkpoint hash behind the seal still refuses the weights
    assert main(["predict", str(model), str(run / "samples.png")]) == 2
    assert "not to the checkpoint" in capsys.readouterr().err


def test_predict_on_nothing_or_a_missing_path_is_one_sentence(default_model, tmp_path, capsys):
    model = default_model
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(model), str(tmp_path / "empty")]) == 2
    assert "no image files" in capsys.readouterr().err
    assert main(["predict", str(model), str(tmp_path / "nowhere.png")]) == 2
    assert "nowhere.png does not exist" in capsys.readouterr().err


def test_predict_gives_a_broken_link_a_row_and_counts_what_it_left_out(user_run, default_model, tmp_path, capsys):
    """A broken symbolic link was dropped without a row; hidden and non-image files were not counted."""
    folder = tmp_path / "new"
    (folder / "sub").mkdir(parents=True)
    good = sorted((user_run[0] / "test" / "dark").glob("*.png"))[0]
    (folder / "sub" / "a.png").write_bytes(good.read_bytes())
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    (folder / "photo.heic").write_bytes(b"not decodable here")
    (folder / "notes.txt").write_text("hello")
    (folder / ".hidden.png").write_bytes(good.read_bytes())
    out = tmp_path / "p.jsonl"
    assert main(["predict", str(default_model), str(folder), "--out", str(out)]) == 1
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"a.png", "gone.png"} and rows["gone.png"]["error"] and not rows["a.png"]["error"]
    err = capsys.readouterr().err
    assert "1 of 2 images classified, 1 could not be read" in err
    assert "left out: 1 hidden, 2 not an image by suffix (.heic, .txt)" in err
    (folder / "sub" / "a.png").unlink()
    (folder / "gone.png").unlink()
    assert main(["predict", str(default_model), str(folder)]) == 2
    assert "left out: 1 hidden, 2 not an image by suffix" in capsys.readouterr().err


def test_strict_stops_at_the_first_bad_file(user_run, default_model, tmp_path, capsys):
    folder, model = user_run[0], default_model
    out = tmp_path / "p.jsonl"
    assert main(["predict", str(model), str(folder / "unlabeled"), "--strict", "--out", str(out)]) == 2
    assert "corrupt.png" in capsys.readouterr().err and not out.exists()  # nothing half-written


def test_fit_chooses_the_validation_best_exportable_head():
    """With evaluate's rows, fit takes the head with the best validation accuracy, never one chosen on test."""
    from fewgen.fitting import choose_method

    base = {"backbone": "vae", "checkpoint": "c", "spec": {"part": "stacked"}, "head_params": {"scaling": "feature"}}
    rows = [{**base, "head": "logreg", "shots": 4, "seed": s, "val_accuracy": 0.6, "accuracy": 0.99} for s in range(3)]
    rows += [{**base, "head": "knn", "shots": 4, "seed": s, "val_accuracy": 0.7, "accuracy": 0.1} for s in range(3)]
    rows += [{**base, "head": "umap", "shots": 4, "seed": s, "val_accuracy": 0.9, "accuracy": 0.9, "data": "pool"} for s in range(3)]
    rows += [{**base, "head": "mlp", "shots": 1, "seed": 0, "val_accuracy": 1.0, "accuracy": 1.0}]
    chosen = choose_method(rows, "vae", "c", shots=5)
    assert chosen["head"] == "knn" and chosen["val_shots"] == 4 and chosen["n_seeds"] == 3
    assert "the best on validation, vae[part=stacked]+umap at 90.0%, cannot be saved" in chosen["chosen_by"]
    assert choose_method(rows, "vae", "c", shots=1)["head"] == "mlp"
    assert choose_method(rows, "vae", "other", shots=5) is None
    student = {**base, "data": "pool", "student": {"steps": 1000}, "teacher": "vae[part=stacked]+knn"}
    rows += [{**student, "head": "student-small+teacher", "shots": 4, "seed": s, "val_accuracy": 0.95, "accuracy": 0.2}
             for s in range(3)]  # evaluate's mean of a student and its teacher: measured, not savable
    chosen = choose_method(rows, "vae", "c", shots=4)
    assert chosen["head"] == "knn" and "student-small+teacher at 95.0%, cannot be saved: a student averaged with its " \
        "teacher is saved only when asked: 'fewgen fit --student NAME --with-teacher'" in chosen["chosen_by"]
    rows += [{**base, "head": "propagate", "shots": 4, "seed": s, "val_accuracy": 0.99, "accuracy": 0.99, "data": "test",
              "transductive": True, "tuned": {"space": "features"}} for s in range(3)]  # it saw the test images
    assert choose_method(rows, "vae", "c", shots=4)["head"] == "knn"  # a saved model never depends on them


def test_fit_compares_methods_on_shared_draws_each_counted_once():
    """knn ran on seeds 0-4 and is best on the 3 draws it shares with logreg; its seeds 3 and 4 (bad on validation)
    must not decide, and logreg's rows written twice (an evaluation run again) count once."""
    from fewgen.fitting import choose_method

    base = {"backbone": "vae", "checkpoint": "c", "spec": {"part": "stacked"}, "shots": 4}
    rows = [{**base, "head": "knn", "seed": s, "val_accuracy": v} for s, v in enumerate([0.8, 0.8, 0.8, 0.1, 0.1])]
    rows += [{**base, "head": "logreg", "seed": s, "val_accuracy": 0.95} for s in range(3)]  # an early run
    rows += [{**base, "head": "logreg", "seed": s, "val_accuracy": 0.7} for s in range(3)]  # run again: replaces it
    chosen = choose_method(rows, "vae", "c", shots=4)
    assert chosen["head"] == "knn" and chosen["n_seeds"] == 3 and abs(chosen["val_accuracy"] - 0.8) < 1e-9


def test_builtin_datasets_need_shots(tmp_path):
    from fewgen.fitting import _draw
    from fewgen.data import load_source

    source = load_source("digits")
    with pytest.raises(FewgenError, match="--shots K"):
        _draw(source, None, 0)
    labeled, pool = _draw(source, 3, 1)
    assert len(labeled) == 30 and np.isin(labeled, pool).all()


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python example, run as written (in a folder holding the user's 'photos')."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = readme.split("<!-- python-example -->")[1].split("```python")[1].split("```")[0]
    make_user_folder(tmp_path / "photos", unlabeled=8)
    monkeypatch.chdir(tmp_path)
    exec(compile(example.replace("epochs=20", "epochs=1"), "README.md", "exec"), {})
    assert (tmp_path / "models" / "parts" / "model.json").is_file()


def test_images_in_every_form_give_the_same_predictions(user_run, default_model):
    """Paths, PIL images, uint8 arrays [H, W, C] and uint8 tensors [C, H, W] are preprocessed alike."""
    import torch

    from fewgen.classifier import load_classifier

    folder = user_run[0]
    classifier = load_classifier(default_model)
    paths = sorted((folder / "test").rglob("*.png"))
    pictures = [Image.open(p).convert("RGB") for p in paths]
    arrays = [np.asarray(p) for p in pictures]
    tensors = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in arrays if a.shape == arrays[0].shape])
    expected = classifier.predict_proba(paths)
    assert np.array_equal(classifier.predict_proba(pictures), expected)
    assert np.array_equal(classifier.predict_proba(arrays), expected)
    same_size = [i for i, a in enumerate(arrays) if a.shape == arrays[0].shape]
    assert np.array_equal(classifier.predict_proba(tensors), expected[same_size])
    assert classifier.predict(paths[0]).shape == (1,)
    with pytest.raises(FewgenError, match="must be uint8"):
        classifier.predict(np.zeros((8, 8), np.float32))


def test_without_a_test_split_the_estimate_is_cross_validated(tmp_path, capsys):
    folder = make_user_folder(tmp_path / "photos", test=0, unlabeled=4)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "pixels", "--image-size", "8"]) == 0
    assert main(["fit", str(run), "--out", str(tmp_path / "model")]) == 0
    estimate = json.loads((tmp_path / "model" / "model.json").read_text())["estimate"]
    assert estimate["on"] == "5-fold cross-validation on the labeled images" and estimate["n"] == 12
    assert estimate["accuracy"] >= 0.8  # dark vs bright, each labeled image held out once


def test_fit_breaks_a_tie_by_the_simpler_head_and_says_so():
    """A six-way tie (few validation images) once went to whichever rows came first."""
    from fewgen.fitting import choose_method

    base = {"backbone": "vae", "checkpoint": "c", "spec": {"part": "stacked"}, "head_params": {"scaling": "feature"}}
    rows = [{**base, "head": head, "shots": 4, "seed": s, "val_accuracy": 0.8} for head in ("propagate", "knn", "mlp", "logreg")
            for s in range(3)]
    rows[0:3] = [{**r, "tuned": {"space": "features"}, "data": "pool"} for r in rows[0:3]]
    chosen = choose_method(rows, "vae", "c", shots=5)
    assert chosen["head"] == "logreg" and chosen["tied"] == 4
    assert "4 methods tied at 80.0%, the simpler head won (order: logreg, linear, knn" in chosen["chosen_by"]
    assert choose_method(rows[:9], "vae", "c", shots=5)["head"] == "knn"
    assert "tied" not in choose_method(rows[3:6], "vae", "c", shots=5)["chosen_by"]


def test_simplest_first_orders_every_head():
    from fewgen.heads import HEADS, SIMPLEST_FIRST

    assert sorted(SIMPLEST_FIRST) == sorted(HEADS)  # a new head must be placed in the tie-break order


def test_evaluate_and_fit_on_a_folder_with_few_labels(tmp_path, capsys):
    """6 labeled images per class: too few for a fixed validation draw of 16, so evaluate cross-validates; a draw
    that repeats an earlier one is left out and named; fit then chooses from those rows."""
    from fewgen.report.summary import read_rows

    folder = make_user_folder(tmp_path / "photos", unlabeled=20)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "pixels", "--image-size", "8"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--shots", "1,2,4", "--seeds", "7", "--heads", "knn,logreg,propagate",
                 "--baselines", "", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "5-fold cross-validation over the 12 labeled images" in err
    assert "k=4: seeds 5 (= seed 0) would repeat an earlier draw" in err
    rows = read_rows(run / "results.jsonl")
    at_4 = {r["seed"]: r for r in rows if r["head"] == "logreg" and r["shots"] == 4}
    assert sorted(at_4) == [0, 1, 2, 3, 4, 6] and {r["validation"] for r in rows} == {"cv"}
    assert at_4[0]["n_val"] == 4 and at_4[1]["n_val"] == 2 and at_4[6]["val_fold"] == 1
    model = tmp_path / "model"
    assert main(["fit", str(run), "--out", str(model)]) == 0
    method = json.loads((model / "model.json").read_text())["method"]
    assert method["val_shots"] == 4 and method["n_seeds"] == 6
    assert method["head"] == "logreg" and "the simpler head won" in method["chosen_by"]  # knn's rows came first


@pytest.mark.parametrize("head", ["propagate", "logreg"])
def test_the_cross_validation_fold_is_held_out_of_a_pool_heads_pool(tmp_path, monkeypatch, head):
    """Without a test split, fit's estimate is k-fold CV on the labeled images: each fold's head is fitted without
    the held-out fold's images (a pool head's pool loses them too, or the fold's images shape the very head that is
    then scored on them)."""
    import fewgen.fitting as fitting_module
    from fewgen.fitting import fit_classifier

    folder = make_user_folder(tmp_path / "photos", test=0, unlabeled=20)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "pixels", "--image-size", "8"]) == 0
    fitted = []
    real = fitting_module.make_head

    def recording(name, random_state=0, **params):
        head = real(name, random_state=random_state, **params)
        fit = head.fit
        head.fit = lambda X, y: (fitted.append((np.asarray(X).copy(), np.asarray(y).copy())), fit(X, y))[1]
        return head

    monkeypatch.setattr(fitting_module, "make_head", recording)
    classifier = fit_classifier(run, tmp_path / "model", head=head)
    (full_X, full_y), folds = fitted[0], fitted[1:]
    assert classifier.info["estimate"]["on"] == "5-fold cross-validation on the labeled images" and len(folds) == 5
    labeled_rows = {bytes(row) for row in full_X[full_y >= 0]}
    held_out = [labeled_rows - {bytes(row) for row in X} for X, _ in folds]  # the labeled images each fold's fit lacks
    assert all(held_out) and sum(map(len, held_out)) == len(labeled_rows)  # each labeled image held out exactly once
    assert all(len(X) == len(full_X) - len(gone) for (X, _), gone in zip(folds, held_out))


def test_a_head_that_does_not_say_how_to_save_itself_is_refused_in_one_sentence(user_run, tmp_path, capsys, monkeypatch):
    """exportable() fails closed: a new head class without save_state/load_state once fell into the logreg branch
    of the exporter and failed with an AttributeError at `fewgen fit`."""
    from fewgen.heads import HEADS, LogRegHead
    from fewgen.heads.export import exportable

    class Unsaved(LogRegHead):
        saves = False

    monkeypatch.setitem(HEADS, "unsaved", Unsaved)
    assert not exportable("unsaved", {}) and not exportable("nonesuch", {})
    assert main(["fit", str(user_run[1]), "--out", str(tmp_path / "m"), "--head", "unsaved"]) == 2
    assert "does not say how to save itself" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_a_model_preprocesses_as_its_run_did_after_loading(tmp_path):
    """A run read with --resize stretch: the loaded model stretches too (crop would cut the non-square images
    differently), so it answers as the model in memory does."""
    from fewgen.classifier import load_classifier
    from fewgen.fitting import fit_classifier

    folder = make_user_folder(tmp_path / "photos", unlabeled=6)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "pixels", "--image-size", "8",
                 "--resize", "stretch"]) == 0
    fitted = fit_classifier(run, tmp_path / "model", head="logreg")
    loaded = load_classifier(tmp_path / "model")
    assert fitted.preprocess.resize == "stretch" and loaded.preprocess == fitted.preprocess
    paths = [p for p in sorted(folder.rglob("*.*")) if p.suffix in (".png", ".jpg") and "corrupt" not in p.name]
    assert any(Image.open(p).size[0] != Image.open(p).size[1] for p in paths)  # crop and stretch differ on these
    np.testing.assert_array_equal(loaded.predict_proba(paths), fitted.predict_proba(paths))
