"""A student's model folder: a few MB of safetensors and JSON, loaded by load_classifier and run by 'fewgen predict'
with the classes it had in memory, batch-independent, and refused when its weights change."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from fewgen.cli import main
from fewgen.classifier import load_classifier
from fewgen.configs import StudentConfig
from fewgen.errors import FewgenError
from fewgen.fitting import fit_classifier
from fewgen.model_seal import seal
from tests.test_fitting import make_user_folder


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("student")
    folder = make_user_folder(root / "photos", labeled=6, unlabeled=12, test=4)
    run = root / "run"
    assert main(["pretrain", "--run", str(run), "--data", f"folder:{folder}", "--backbone", "vae", "--epochs", "1",
                 "--image-size", "16", "-o", "channels=8", "-o", "latent_dim=4", "--no-progress"]) == 0
    return folder, run


def _predicts_as_loaded(model: Path, folder: Path, loaded, capsys) -> None:
    """An image's probabilities do not depend on the others in the call, and 'fewgen predict' names the classes
    that the loaded classifier does."""
    paths = sorted((folder / "test").rglob("*.*"))
    alone = np.concatenate([loaded.predict_proba(p) for p in paths[:3]])
    assert np.array_equal(alone, loaded.predict_proba(paths)[:3])  # the other images in the call change nothing
    capsys.readouterr()
    assert main(["predict", str(model), str(folder / "test")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    by_path = {row[0]: row[1] for row in rows if row and row[0] != "path"}
    assert [by_path[str(p)] for p in paths] == list(loaded.predict(paths))


@pytest.mark.parametrize("network", ["small", "encoder"])
def test_a_saved_student_predicts_the_classes_it_had_in_memory(folder_run, tmp_path, capsys, network):
    folder, run = folder_run
    model = tmp_path / "model"
    fitted = fit_classifier(run, model, student=network, student_config=StudentConfig(steps=3, batch_size=4, mu=2))
    assert sum(p.stat().st_size for p in model.iterdir()) < 50 * 2**20
    assert sorted(p.name for p in model.iterdir()) == ["model.json", "student.safetensors"]
    paths = sorted((folder / "test").rglob("*.*"))
    loaded = load_classifier(model)
    assert loaded.head_name == f"student-{network}" and list(loaded.classes_) == ["bright", "dark"]
    np.testing.assert_array_equal(loaded.predict_proba(paths), fitted.predict_proba(paths))
    _predicts_as_loaded(model, folder, loaded, capsys)
    info = json.loads((model / "model.json").read_text())
    assert info["kind"] == "student" and info["teacher"].startswith("vae[") and info["data"] == "pool"


@pytest.mark.parametrize("head", [None, "propagate"])  # the default teacher (logreg), and one that keeps the pool
def test_a_student_saved_with_its_teacher_predicts_the_mean_of_the_two(folder_run, tmp_path, capsys, head):
    """--with-teacher saves evaluate's student-NAME+teacher: the mean of the very student and the very teacher that
    'fewgen fit --student' and 'fewgen fit' save on their own."""
    folder, run = folder_run
    config = StudentConfig(steps=3, batch_size=4, mu=2)
    model = tmp_path / "model"
    fitted = fit_classifier(run, model, head=head, student="small", student_config=config, with_teacher=True)
    assert sorted(p.name for p in model.iterdir()) == ["model.json", "student.safetensors", "teacher"]
    student = fit_classifier(run, tmp_path / "student", head=head, student="small", student_config=config)
    teacher = fit_classifier(run, tmp_path / "teacher", head=head)
    paths = sorted((folder / "test").rglob("*.*"))
    loaded = load_classifier(model)
    assert loaded.head_name == "student-small+teacher" and list(loaded.classes_) == ["bright", "dark"]
    assert loaded.teacher.head_name == teacher.head_name
    mean = (load_classifier(tmp_path / "student").predict_proba(paths) + load_classifier(tmp_path / "teacher").predict_proba(paths)) / 2
    np.testing.assert_allclose(loaded.predict_proba(paths), mean, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(loaded.predict_proba(paths), fitted.predict_proba(paths))
    assert not np.array_equal(loaded.predict_proba(paths), student.predict_proba(paths))  # the teacher counts
    _predicts_as_loaded(model, folder, loaded, capsys)
    info = json.loads((model / "model.json").read_text())
    assert info["averaged_with"] == "teacher" and info["estimate"]["on"] == "test split"
    (model / "model.json").write_text(json.dumps({**info, "averaged_with": "."}))  # would load itself, forever
    with pytest.raises(FewgenError, match="model.json is damaged: it was changed after the model was fitted"):
        load_classifier(model)
    seal(model)  # as if a writer had sealed it so: the guard behind the seal still holds
    with pytest.raises(FewgenError, match="averaged_with is '.', not the teacher folder 'teacher'"):
        load_classifier(model)


def test_a_head_swapped_into_a_students_teacher_folder_is_refused(folder_run, tmp_path):
    """The teacher's own folder sits inside the student's, and the student's seal covers it: a teacher head from
    another model of the same shape (another seed's draw) is refused, naming the file."""
    _, run = folder_run
    config = StudentConfig(steps=2, batch_size=4, mu=2)
    model = tmp_path / "model"
    fit_classifier(run, model, head="mlp", student="small", student_config=config, with_teacher=True)
    other = tmp_path / "other"
    fit_classifier(run, other, head="mlp", seed=1)
    swapped = model / "teacher" / "head.safetensors"
    assert swapped.read_bytes() != (other / "head.safetensors").read_bytes()
    swapped.write_bytes((other / "head.safetensors").read_bytes())
    with pytest.raises(FewgenError, match=r"teacher/head\.safetensors is damaged: it changed after the model was fitted"):
        load_classifier(model)


def test_a_students_changed_weights_are_refused(folder_run, tmp_path):
    _, run = folder_run
    model = tmp_path / "model"
    fit_classifier(run, model, student="small", student_config=StudentConfig(steps=2, batch_size=4, mu=2))
    weights = model / "student.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(FewgenError, match=r"student\.safetensors is damaged: it changed after the model was fitted"):
        load_classifier(model)
    seal(model)  # as if sealed so: the weights' own hash in model.json still refuses them
    with pytest.raises(FewgenError, match=r"student\.safetensors is missing or changed after the model was fitted"):
        load_classifier(model)


@pytest.mark.parametrize("args, wanted", [
    (["--student", "tiny"], "unknown student 'tiny' in --student"),
    (["--student", "small", "-S", "steps=0"], "--student-option steps must be at least 1, got 0"),
    (["--student", "small", "-S", "temperature=0"], "--student-option temperature must be above 0, got 0.0"),
    (["--student", "small", "--head", "umap"], "--head umap cannot be saved to a model folder"),
    (["--with-teacher"], "--with-teacher averages a student with its teacher; give the student with --student"),
])
def test_bad_student_settings_for_fit_are_one_sentence(folder_run, tmp_path, capsys, args, wanted):
    _, run = folder_run
    capsys.readouterr()
    assert main(["fit", str(run), "--out", str(tmp_path / "m"), *args]) == 2
    assert wanted in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_fit_teaches_the_student_the_teachers_probabilities_in_class_order(folder_run, tmp_path, monkeypatch):
    """The student's target column j is the teacher's probability of the student's class j: on the labeled images
    (in the pool of a folder run, in order), the teacher is right about dark and bright, so its targets' argmax is
    their label; columns in the other order would say the opposite."""
    from fewgen.rundir import open_run
    from fewgen.students.student import Student

    _, run = folder_run
    taught = []
    real_teach = Student.teach
    monkeypatch.setattr(Student, "teach", lambda self, targets: (taught.append(np.asarray(targets)), real_teach(self, targets))[1])
    fit_classifier(run, tmp_path / "model", head="logreg", student="small", student_config=StudentConfig(steps=1, batch_size=4, mu=2))
    _, _, source = open_run(run, None, None, "fp32")
    y = source.train.labels.numpy()
    (targets,) = taught
    assert targets.shape == (len(y), 2)  # the folder's pool is every train image, in order
    labeled = y >= 0
    assert (targets[labeled].argmax(axis=1) == y[labeled]).mean() >= 0.9


def test_a_student_averaged_with_its_teacher_estimates_the_average(folder_run, tmp_path, monkeypatch):
    """A student that says 'bright' (class 0) for everything, averaged with a good teacher, says bright everywhere:
    the saved estimate is that average's test accuracy (half), computed here from the loaded model's answers, not
    the teacher's (about all)."""
    from fewgen.students.model import StudentClassifier

    folder, run = folder_run

    def always_bright(self, batch):
        proba = np.zeros((len(batch), len(self.class_names)))
        proba[:, self.class_names.index("bright")] = 1.0
        return proba

    monkeypatch.setattr(StudentClassifier, "proba_of_batch", always_bright)
    model = tmp_path / "model"
    fit_classifier(run, model, head="logreg", student="small", student_config=StudentConfig(steps=1, batch_size=4, mu=2),
                   with_teacher=True)
    paths = sorted((folder / "test").rglob("*.*"))
    truth = [p.parent.name for p in paths]
    loaded = load_classifier(model)
    accuracy = float(np.mean(np.asarray(loaded.predict(paths)) == np.asarray(truth)))
    teacher_alone = float(np.mean(np.asarray(loaded.teacher.predict(paths)) == np.asarray(truth)))
    estimate = json.loads((model / "model.json").read_text())["estimate"]
    assert estimate["on"] == "test split" and estimate["accuracy"] == pytest.approx(accuracy)
    assert accuracy == 0.5 and teacher_alone > accuracy


@pytest.fixture(scope="module")
def averaged_model(folder_run, tmp_path_factory) -> Path:
    _, run = folder_run
    model = tmp_path_factory.mktemp("averaged") / "model"
    fit_classifier(run, model, head="logreg", student="small", student_config=StudentConfig(steps=2, batch_size=4, mu=2),
                   with_teacher=True)
    return model


def _reversed_names(path: Path) -> None:
    value = json.loads(path.read_text())
    path.write_text(json.dumps({**value, "class_names": value["class_names"][::-1]}))


@pytest.mark.parametrize("damage, named", [
    (lambda m: (m / "student.safetensors").write_bytes((m / "student.safetensors").read_bytes()[:40]), "/student.safetensors"),
    (lambda m: _reversed_names(m / "model.json"), "/model.json"),
    (lambda m: _reversed_names(m / "teacher" / "model.json"), "/teacher/model.json"),
    (lambda m: (m / "teacher" / "head.json").write_text("{}"), "/teacher/head.json"),
    (lambda m: __import__("shutil").rmtree(m / "teacher"), "/teacher/"),
], ids=["student-truncated", "names-reversed", "teacher-names-reversed", "teacher-head-json", "teacher-removed"])
def test_every_damaged_student_folder_is_one_sentence_naming_the_file(averaged_model, folder_run, tmp_path, damage,
                                                                      named, capsys):
    """The file named first and alone, the advice said once and fit to follow, no internal class name."""
    import shutil

    folder, run = folder_run
    model = tmp_path / "model"
    shutil.copytree(averaged_model, model)
    damage(model)
    capsys.readouterr()
    assert main(["predict", str(model), str(next((folder / "test").rglob("*.png")))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "Error" not in err, err
    path = err.split("model folder file ", 1)[1].split()[0]
    assert path.startswith(str(model)) and named in path[len(str(model)):], err
    assert err.count("fewgen fit") == 1 and f"'fewgen fit {run.resolve()} --out NEW_FOLDER'" in err
