"""Same image, same answer: a saved classifier's prediction for an image does not depend on the other images in
the call (bit for bit, in fp32 and in bf16, which is forced so that its path runs on every CPU kind), and a model
folder gives the same classes on a CPU without AVX-512 (emulated here with oneDNN's and ATen's ISA caps)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from fewgen.cli import main
from tests.test_fitting import make_user_folder

AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}  # no AVX-512, no native bf16
TOLERANCE = {"fp32": 1e-5, "bf16": 2e-2}  # probabilities across CPU kinds; the README states the same numbers


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """A folder, and a model fitted on it with fp32 and with bf16 features."""
    root = tmp_path_factory.mktemp("same")
    folder = make_user_folder(root / "photos", labeled=6, unlabeled=8, test=6)
    run = root / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "ddpm", "--epochs", "1",
                 "--image-size", "16", "-o", "preset=tiny", "--no-progress"]) == 0
    fitted = {}
    for precision in ("fp32", "bf16"):
        fitted[precision] = root / precision
        assert main(["fit", str(run), "--out", str(fitted[precision]), "--precision", precision, "--head", "mlp"]) == 0
    return folder, fitted


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_images_prediction_does_not_depend_on_the_others_in_the_call(models, precision):
    from fewgen.classifier import load_classifier

    folder, fitted = models
    classifier = load_classifier(fitted[precision])
    assert classifier.backbone.feature_precision() == precision
    paths = sorted((folder / "test").rglob("*.*")) * 6  # more than one FEATURE_BATCH (64) of images
    together = classifier.predict_proba(paths)
    alone = np.concatenate([classifier.predict_proba(p) for p in paths[:12]])
    order = np.random.default_rng(0).permutation(len(paths))
    shuffled = classifier.predict_proba([paths[i] for i in order])
    assert np.array_equal(alone, together[:12])
    assert np.array_equal(shuffled, together[order])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_model_gives_the_same_classes_on_a_cpu_without_avx512(models, precision, tmp_path):
    """``fewgen predict`` in a process capped at AVX2 (as on an AVX2-only box) against this process's answer."""
    from fewgen.classifier import load_classifier

    folder, fitted = models
    paths = sorted((folder / "test").rglob("*.*")) + sorted((folder / "labeled").rglob("*.*"))
    here = load_classifier(fitted[precision]).predict_proba(paths)
    out = tmp_path / "avx2.csv"
    done = subprocess.run([sys.executable, "-m", "fewgen", "predict", str(fitted[precision]), *map(str, paths),
                           "--out", str(out), "--top", "2"], capture_output=True, text=True,
                          env={**os.environ, **AVX2_ONLY})
    assert done.returncode == 0, done.stderr
    rows = {row["path"]: row for row in csv.DictReader(out.open())}
    classes = load_classifier(fitted[precision]).classes_
    there = np.array([[float(dict(pair.split(":") for pair in rows[str(p)]["top"].split(";"))[c]) for c in classes]
                      for p in paths])
    assert np.abs(there - here).max() < TOLERANCE[precision]
    assert [rows[str(p)]["class"] for p in paths] == list(classes[np.argmax(here, axis=1)])


def test_a_bf16_model_on_a_cpu_that_emulates_bf16_says_it_is_slow(models, monkeypatch):
    import fewgen.classifier as classifier_module
    from fewgen.errors import FewgenWarning

    _, fitted = models
    monkeypatch.setattr(classifier_module, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(FewgenWarning, match="which this CPU emulates"):
        classifier_module.load_classifier(fitted["bf16"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewgenWarning)
        classifier_module.load_classifier(fitted["fp32"])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _edit_json(path: Path, change) -> None:
    import json

    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def _reverse_class_names(model: Path) -> None:
    _edit_json(model / "model.json", lambda v: v.update(class_names=v["class_names"][::-1]))


def _swap_head_from(other: Path):
    def swap(model: Path) -> None:
        assert (other / "head.safetensors").read_bytes() != (model / "head.safetensors").read_bytes()
        (model / "head.safetensors").write_bytes((other / "head.safetensors").read_bytes())
    return swap


@pytest.mark.parametrize("damage, named", [
    (lambda m: _truncate(m / "head.safetensors"), "head.safetensors"),
    (lambda m: (m / "model.json").write_text("{not json"), "model.json"),
    (lambda m: (m / "head.json").write_text("[]"), "head.json"),
    (lambda m: _edit_json(m / "head.json", lambda v: v.update(n_features_in=v["n_features_in"] + 3)), "head.json"),
    (lambda m: _edit_json(m / "model.json", lambda v: v.update(class_names=v["class_names"][:-1])), "model.json"),
    (lambda m: _edit_json(m / "model.json", lambda v: v.update(class_names=[*v["class_names"], "extra"])), "model.json"),
    (_reverse_class_names, "model.json"),
    (lambda m: _edit_json(m / "model.json", lambda v: v.pop("preprocess")), "model.json"),
    (lambda m: _edit_json(m / "model.json", lambda v: v["preprocess"].update(resize="stretch")), "model.json"),
    (lambda m: (m / "head.json").unlink(), "head.json"),
    (lambda m: _truncate(next((m / "backbone").glob("*.safetensors"))), "backbone"),
], ids=["head-arrays-truncated", "model-json-not-json", "head-json-list", "head-json-edited", "a-name-too-few",
        "a-name-too-many", "names-reversed", "no-preprocess", "preprocess-edited", "head-json-missing",
        "backbone-truncated"])
def test_a_damaged_model_folder_is_one_sentence_naming_the_file(models, damage, named, tmp_path, capsys):
    """Every damaged file is named, first and alone, with one piece of advice (no error nested in another)."""
    import shutil

    folder, fitted = models
    model = tmp_path / "model"
    shutil.copytree(fitted["fp32"], model)
    damage(model)
    image = next((folder / "test").rglob("*.png"))
    assert main(["predict", str(model), str(image)]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err or "missing" in err
    first_path = err.split("model folder file ", 1)[1].split()[0]
    assert named in first_path, err
    assert err.count("fewgen fit") == 1 and err.count("model folder file") == 1 and "Error" not in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_head_swapped_in_from_another_model_is_refused(models, tmp_path):
    """Two heads of the same shape (fp32 and bf16 features of one run): the other one's probabilities would be a
    silent wrong answer."""
    import shutil

    from fewgen.classifier import load_classifier
    from fewgen.errors import FewgenError

    _, fitted = models
    model = tmp_path / "model"
    shutil.copytree(fitted["fp32"], model)
    _swap_head_from(fitted["bf16"])(model)
    with pytest.raises(FewgenError, match=r"head\.safetensors is damaged: it changed after the model was fitted"):
        load_classifier(model)


def test_an_unchanged_model_folder_with_a_file_added_still_loads(models, tmp_path):
    """Only what decides a prediction is checked: a README or a hidden file beside it changes nothing."""
    import shutil

    from fewgen.classifier import load_classifier

    _, fitted = models
    model = tmp_path / "model"
    shutil.copytree(fitted["fp32"], model)
    (model / "README.txt").write_text("my model")
    (model / ".DS_Store").write_bytes(b"\0")
    assert list(load_classifier(model).classes_) == list(load_classifier(fitted["fp32"]).classes_)
