"""The evaluation's honesty guards, each able to fail: what every head is fitted on, where draws come from,
what selection reads, and what the feature cache is keyed by."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import fewgen.evaluate as evaluate_module
from fewgen.backbones.base import FeatureSpec
from fewgen.backbones.ddpm import DDPMBackbone, DDPMConfig
from fewgen.backbones.pixels import PixelsBackbone
from fewgen.baselines import Baseline
from fewgen.configs import ResNetConfig
from fewgen.data.splits import Draws
from fewgen.evaluate import EvalConfig, Evaluation, choose_candidates
from fewgen.features import FeatureCache
from fewgen.timestep_select import SelectConfig, SelectionDraws, run_selection

FAST = EvalConfig(shots=(1, 3), seeds=2, heads=("logreg", "propagate", "selftrain"), baselines=(), val_per_class=8,
                  progress=False)


def feature_rows(images: torch.Tensor) -> set[bytes]:
    """The pixels backbone's feature rows of ``images``, as bytes (float32 [N, D])."""
    return {bytes(row) for row in (images.flatten(1).float() / 255.0).numpy()}


@pytest.fixture
def fits(monkeypatch):
    """Every (head name, X, y) a head is fitted on during the test."""
    seen = []
    real = evaluate_module.make_head

    def recording(name, random_state=0, **params):
        head = real(name, random_state=random_state, **params)
        fit = head.fit

        def spy_fit(X, y):
            seen.append((name, np.asarray(X), np.asarray(y)))
            return fit(X, y)

        head.fit = spy_fit
        return head

    monkeypatch.setattr(evaluate_module, "make_head", recording)
    return seen


def run_pixels(tmp_path, source, cfg=FAST):
    evaluation = Evaluation(tmp_path, source, cfg)
    backbone = PixelsBackbone(image_shape=source.image_shape)
    return evaluation, evaluation.run_features(backbone, "-", [FeatureSpec()], cfg.heads)


def test_no_head_is_fitted_on_a_test_or_validation_image(digits, tmp_path, fits):
    evaluation, rows = run_pixels(tmp_path, digits)
    test_rows = feature_rows(digits.test.images)
    val_rows = feature_rows(digits.train.images[torch.as_tensor(evaluation.draws.val)])
    assert {name for name, _, _ in fits} == {"logreg", "propagate", "selftrain"}
    for name, X, y in fits:
        fitted = {bytes(row) for row in X.astype(np.float32)}
        assert not fitted & test_rows, f"{name} was fitted on test images"
        assert not fitted & val_rows, f"{name} was fitted on validation images"
    pool_fits = [X for name, X, _ in fits if name != "logreg"]
    assert all(len(X) == len(digits.train) - len(evaluation.draws.val) for X in pool_fits)  # the whole pool
    assert {r["data"] for r in rows if r["head"] == "logreg"} == {"labeled"}
    assert {r["data"] for r in rows if r["head"] != "logreg"} == {"pool"}
    assert not any(r["transductive"] for r in rows)


def test_transductive_mode_is_the_only_way_test_images_reach_a_fit(digits, tmp_path, fits):
    cfg = dataclasses.replace(FAST, heads=("logreg", "propagate"), transductive=True)
    _, rows = run_pixels(tmp_path, digits, cfg)
    test_rows = feature_rows(digits.test.images)
    for name, X, y in fits:
        fitted = {bytes(row) for row in X.astype(np.float32)}
        assert (test_rows <= fitted) == (name == "propagate")  # this guard can see test images when they are there
        assert not (y[-len(digits.test):] != -1).any() or name == "logreg"  # and they are unlabeled
    propagate_rows = [r for r in rows if r["head"] == "propagate"]
    assert {r["data"] for r in propagate_rows} == {"test"} and all(r["transductive"] for r in propagate_rows)
    assert {r["data"] for r in rows if r["head"] == "logreg"} == {"labeled"}
    from fewgen.evaluate import method_name

    assert method_name(propagate_rows[0]) == "pixels+propagate(transductive)"


def test_labeled_draws_stay_out_of_the_validation_draw_in_evaluate_and_select(digits, fits, tmp_path):
    # 40 of ~130 images per class in each: drawn independently, they would overlap in almost every class
    cfg = dataclasses.replace(FAST, shots=(40,), seeds=2, val_per_class=40, heads=("logreg",))
    draws = Draws.make(digits, cfg.shots, cfg.seeds, cfg.val_per_class)
    assert all(not set(idx) & set(draws.val) for idx in draws.labeled.values())
    selection = SelectionDraws.make(digits, shots=40, seeds=2, val_per_class=40)
    assert all(not set(idx) & set(selection.val) for idx in selection.labeled.values())
    # and the heads of an evaluation see none of the validation images
    evaluation, _ = run_pixels(tmp_path, digits, cfg)
    val_rows = feature_rows(digits.train.images[torch.as_tensor(evaluation.draws.val)])
    assert all(not {bytes(row) for row in X.astype(np.float32)} & val_rows for _, X, _ in fits)


class Spy(DDPMBackbone):
    """Records every image it extracts features from."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[torch.Tensor] = []

    def features(self, x, spec):
        self.seen.append(x.clone())
        return super().features(x, spec)


def test_select_never_reads_the_test_split_even_when_the_source_has_one(digits, tmp_path, monkeypatch):
    scored_on = []
    real_score = SelectionDraws.score

    def spy_score(self, x, seed, head_name, *args, **params):
        scored_on.append(len(x))
        return real_score(self, x, seed, head_name, *args, **params)

    monkeypatch.setattr(SelectionDraws, "score", spy_score)
    backbone = Spy(DDPMConfig(preset="tiny"), digits.image_shape)
    cfg = SelectConfig(timesteps=(0, 100), blocks=(("up0",),), shots=2, seeds=2, heads=("logreg",), val_per_class=4,
                       progress=False)
    run_selection(tmp_path, backbone, "ckpt", digits, cfg)
    read = {bytes(img) for x in backbone.seen for img in x.numpy()}
    assert read and not read & {bytes(img) for img in digits.test.images.numpy()}
    assert scored_on
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert all(r["accuracy"] is None and r["n_val"] == 40 for r in rows)


class PrecisionPixels(PixelsBackbone):
    """Pixels whose reported feature precision can be set, counting extractions."""

    def __init__(self, precision: str, **kwargs):
        super().__init__(**kwargs)
        self.reported, self.extractions = precision, 0

    def feature_precision(self) -> str:
        return self.reported

    def features(self, x, spec):
        self.extractions += 1
        return super().features(x, spec)


def test_feature_precision_is_part_of_the_cache_key(digits, tmp_path):
    cache, images, idx = FeatureCache(tmp_path), digits.train.images, np.arange(20)
    fp32 = PrecisionPixels("fp32", image_shape=digits.image_shape)
    cache.get(fp32, "ckpt", FeatureSpec(), "train", idx, images)
    cache.get(fp32, "ckpt", FeatureSpec(), "train", idx, images)
    assert fp32.extractions == 1  # the second read came from the cache
    bf16 = PrecisionPixels("bf16", image_shape=digits.image_shape)
    cache.get(bf16, "ckpt", FeatureSpec(), "train", idx, images)
    assert bf16.extractions == 1  # another precision is another cache entry, never the fp32 file
    described = [json.loads(p.read_text()) for p in (tmp_path / "features").glob("train-*.json")]
    assert sorted(d["precision"] for d in described) == ["bf16", "fp32"]


def test_candidate_settings_are_chosen_on_validation_never_test():
    def row(seed, val, test):
        return {"shots": 1, "seed": seed, "val_accuracy": val, "accuracy": test}

    scored = {("propagate", 0): [row(0, 0.5, 0.99), row(1, 0.5, 0.99)],  # best on test, worse on validation
              ("propagate", 1): [row(0, 0.6, 0.10), row(1, 0.7, 0.10)]}
    chosen = choose_candidates(scored)
    assert [r["accuracy"] for r in chosen] == [0.10, 0.10]


def test_pool_features_are_cached_memory_mapped_once(digits, tmp_path):
    evaluation, _ = run_pixels(tmp_path, digits, dataclasses.replace(FAST, heads=("propagate",)))
    described = [json.loads(p.read_text()) for p in (tmp_path / "features").glob("train-*.json")]
    assert [d["n"] for d in described].count(len(evaluation.pool)) == 1  # one pool file for every draw
    backbone = PrecisionPixels("fp32", image_shape=digits.image_shape)
    pool = FeatureCache(tmp_path).get(backbone, "-", FeatureSpec(), "train", evaluation.pool, digits.train.images, mmap=True)
    assert isinstance(pool, np.memmap) and not pool.flags.writeable and backbone.extractions == 0


def test_resnet_trains_on_the_very_draw_the_heads_see(digits, tmp_path, fits, monkeypatch):
    """Every head and baseline sees the same labeled images: ResNet-18's (shots, seed) row is fitted on the draw
    that the heads' row of that (shots, seed) was fitted on."""
    resnet_fits = []

    class Recording:
        Config = ResNetConfig

        def __init__(self, cfg, hflip, seed):
            self.seed = seed

        def fit(self, images, labels, pool):
            assert pool is None  # ResNet-18 learns from the draw only
            resnet_fits.append((self.seed, feature_rows(images), np.asarray(labels)))
            return self

        def predict(self, images):
            return np.zeros(len(images), dtype=np.int64)

    monkeypatch.setattr(Baseline, "model_class", lambda entry: Recording)
    cfg = dataclasses.replace(FAST, heads=("logreg",), seeds=3, baselines=("resnet18",))
    evaluation, rows = run_pixels(tmp_path, digits, cfg)
    resnet_rows = evaluation.run_trained("resnet18")
    head_fits = {(r["shots"], r["seed"]): {bytes(x) for x in X.astype(np.float32)} for r, (_, X, _) in zip(rows, fits)}
    assert len(resnet_rows) == len(resnet_fits) == len(head_fits) == 6
    for row, (seed, images, _) in zip(resnet_rows, resnet_fits):
        assert seed == row["seed"] and images == head_fits[(row["shots"], row["seed"])]


def test_cross_validated_draws_keep_each_validation_fold_out_of_every_fit(digits, tmp_path, fits):
    """With --val-per-class cv, each draw has its own validation fold: no head fitted for that draw, the pool heads
    included, sees an image of it, and the pool is the train split minus that fold."""
    small = dataclasses.replace(digits, train=digits.train.subset(np.arange(300)))
    cfg = dataclasses.replace(FAST, val_per_class="cv", seeds=5, shots=(2,), heads=("logreg", "propagate"))
    evaluation, rows = run_pixels(tmp_path, small, cfg)
    per_draw = 3  # logreg, then propagate in its two candidate spaces
    assert evaluation.draws.protocol == "cv" and len(fits) == per_draw * len(evaluation.draws.labeled)
    for number, (key, _) in enumerate(evaluation.draws.by_fold()):
        val = evaluation.draws.val_of(key)
        val_rows = feature_rows(small.train.images[torch.as_tensor(val)])
        for name, X, _ in fits[number * per_draw:(number + 1) * per_draw]:
            assert not {bytes(row) for row in X.astype(np.float32)} & val_rows, f"{name} saw draw {key}'s validation fold"
            assert name == "logreg" or len(X) == len(small.train) - len(val)
    assert {r["val_fold"] for r in rows} == set(range(5)) and {r["validation"] for r in rows} == {"cv"}


def test_evaluate_select_fit_and_augment_draw_the_very_same_images(digits, tmp_path):
    """One Draws.make makes every command's draws: the (k, seed) draw and its pool are the same images in each."""
    from fewgen.augment.run import AugmentConfig, AugmentationRun
    from fewgen.fitting import _draw

    evaluation = Evaluation(tmp_path, digits, dataclasses.replace(FAST, shots=(2,), seeds=3, val_per_class=16))
    idx, pool = evaluation.draws.labeled[(2, 1)], evaluation.draws.pool_of((2, 1))
    assert (SelectionDraws.make(digits, shots=2, seeds=3, val_per_class=16).labeled[1] == idx).all()
    fit_idx, fit_pool = _draw(digits, 2, 1)
    assert (fit_idx == idx).all() and (fit_pool == pool).all()
    assert (Draws.make(digits, (2,), [1], 16).labeled[(2, 1)] == idx).all()  # one seed alone: the same draw
    augment = AugmentationRun(tmp_path, digits, AugmentConfig(shots=(2,), seeds=3, augmentations=("none",)))
    assert (augment.scorer.draws.labeled[(2, 1)] == idx).all()


def test_students_and_their_teachers_learn_from_the_draws_pool_only(digits, tmp_path, fits, monkeypatch):
    """The teacher is refitted on the draw (a pool head also on the pool's features); its targets are for the draw's
    pool images, in the order the student gets them, and the student trains on those and the draw: never on a
    validation or test image."""
    from fewgen.teaching import choose_teachers
    from fewgen.heads import make_head
    from fewgen.students.student import Student

    seen = []

    def recording_fit(self, images, labels, pool=None, **_):
        seen.append((self.seed, images, pool, self.targets_))
        self.classes_ = np.unique(labels)
        return self

    def leaning_to_class_0(self, images):  # the student's probabilities: 0.55 on class 0, the rest spread evenly
        proba = np.full((len(images), len(self.classes_)), 0.45 / (len(self.classes_) - 1))
        proba[:, 0] = 0.55
        return proba

    monkeypatch.setattr(Student, "fit", recording_fit)
    monkeypatch.setattr(Student, "predict", lambda self, images: np.zeros(len(images), dtype=np.int64))
    monkeypatch.setattr(Student, "predict_proba", leaning_to_class_0)
    cfg = dataclasses.replace(FAST, heads=("logreg", "selftrain"), students=("small",))
    evaluation, rows = run_pixels(tmp_path, digits, cfg)
    fits.clear()
    written = evaluation.run_students(PixelsBackbone(image_shape=digits.image_shape), "-", rows)
    student_rows = [row for row in written if row["head"] == "student-small"]
    ensemble_rows = [row for row in written if row["head"] == "student-small+teacher"]
    assert len(seen) == len(student_rows) == len(ensemble_rows) == len(evaluation.draws.labeled) == 4
    test_rows = feature_rows(digits.test.images)
    val_rows = feature_rows(digits.train.images[torch.as_tensor(evaluation.draws.val)])
    for name, X, _ in fits:  # the teachers' fits
        fitted = {bytes(row) for row in X.astype(np.float32)}
        assert not fitted & test_rows and not fitted & val_rows, f"the teacher {name} saw a test or validation image"
    teachers = choose_teachers(rows)
    for row, (seed, labeled, pool, targets) in zip(student_rows, seen):
        assert not feature_rows(pool) & test_rows and not feature_rows(pool) & val_rows
        assert len(pool) == len(digits.train) - len(evaluation.draws.val)
        teacher = teachers[row["shots"]]
        x = PixelsBackbone(image_shape=digits.image_shape).features(pool, FeatureSpec()).numpy()
        if teacher["head"] == "selftrain":
            head = make_head("selftrain", random_state=seed, **teacher["head_params"], **teacher["tuned"])
            pool_idx = evaluation.draws.pool_of((row["shots"], seed))
            head.fit(x, evaluate_module.pool_targets(pool_idx, evaluation.draws.labeled[(row["shots"], seed)],
                                                     evaluation.y_train))
        else:
            idx = np.sort(evaluation.draws.labeled[(row["shots"], seed)])
            head = make_head(teacher["head"], random_state=seed, **teacher["head_params"]).fit(
                PixelsBackbone(image_shape=digits.image_shape).features(digits.train.images[idx], FeatureSpec()).numpy(),
                digits.train.labels.numpy()[idx])
        np.testing.assert_allclose(targets, head.predict_proba(x), atol=1e-6)  # the pool's own targets, in its order
        assert row["data"] == "pool" and row["head"] == "student-small" and row["backbone"] == "pixels"
        assert row["teacher"] == f"pixels+{teacher['head']}"
        # the ensemble's row scores the mean of the student's and this teacher's probabilities, on test and validation
        both = next(r for r in ensemble_rows if (r["shots"], r["seed"]) == (row["shots"], row["seed"]))
        assert both["data"] == "pool" and both["teacher"] == row["teacher"] and both["student"] == row["student"]
        val = evaluation.draws.val_of((row["shots"], seed))
        for images, labels, key in ((digits.test.images, digits.test.labels.numpy(), "accuracy"),
                                    (digits.train.images[torch.as_tensor(val)], evaluation.y_train[val], "val_accuracy")):
            mean = (leaning_to_class_0(head, images) + head.predict_proba(
                PixelsBackbone(image_shape=digits.image_shape).features(images, FeatureSpec()).numpy())) / 2
            assert both[key] == pytest.approx(float((mean.argmax(axis=1) == labels).mean()))
            assert both[key] != row[key]  # not the student's own score (it says class 0 everywhere)


def _fake_students(monkeypatch, proba) -> None:
    """Students that train instantly and answer ``proba(self, images)``."""
    from fewgen.students.student import Student

    def instant_fit(self, images, labels, pool=None, **_):
        self.classes_ = np.unique(labels)
        return self

    monkeypatch.setattr(Student, "fit", instant_fit)
    monkeypatch.setattr(Student, "predict", lambda self, images: proba(self, images).argmax(axis=1))
    monkeypatch.setattr(Student, "predict_proba", proba)


def test_the_students_teacher_is_chosen_per_k_and_a_named_teacher_is_used(digits, tmp_path, monkeypatch):
    """Rows in which knn is best on validation at k = 1 and logreg at k = 3 (and the other way round on test): the
    students' rows name the teacher of their own k; with --teacher knn, knn at every k."""
    _fake_students(monkeypatch, lambda self, images: np.full((len(images), len(self.classes_)), 1 / len(self.classes_)))
    cfg = dataclasses.replace(FAST, heads=("logreg", "knn"), students=("small",))
    _, rows = run_pixels(tmp_path / "heads", digits, cfg)
    best = {1: "knn", 3: "logreg"}
    rows = [{**row, "val_accuracy": 0.9 if row["head"] == best[row["shots"]] else 0.1,
             "accuracy": 0.1 if row["head"] == best[row["shots"]] else 0.9} for row in rows]
    for teacher, expected in (("auto", best), ("knn", {1: "knn", 3: "knn"})):
        evaluation = Evaluation(tmp_path / teacher, digits, dataclasses.replace(cfg, teacher=teacher))
        written = evaluation.run_students(PixelsBackbone(image_shape=digits.image_shape), "-", rows)
        assert {(row["shots"], row["teacher"]) for row in written} == {(k, f"pixels+{h}") for k, h in expected.items()}


def test_under_cross_validation_a_students_average_is_scored_on_its_own_fold(digits, tmp_path, monkeypatch):
    """With --val-per-class cv, seed s is scored on fold s. A student that knows every training label makes its
    average with the teacher right on every validation image of its own fold (and wrong on another fold's); a
    student that says nothing (uniform) leaves the teacher's own validation score, as the teacher's row has it."""
    labels = {bytes(image): int(label) for image, label in zip(digits.train.images.numpy(), digits.train.labels)}

    def knowing(self, images):
        truth = np.array([labels.get(bytes(image), 0) for image in images.numpy()])
        return (truth[:, None] == np.asarray(self.classes_)[None, :]).astype(float)

    cfg = dataclasses.replace(FAST, val_per_class="cv", shots=(1,), seeds=3, heads=("logreg",), students=("small",))
    _fake_students(monkeypatch, knowing)
    evaluation, rows = run_pixels(tmp_path / "a", digits, cfg)
    assert evaluation.draws.protocol == "cv" and sorted(evaluation.draws.fold_of.values()) == [0, 1, 2]
    written = evaluation.run_students(PixelsBackbone(image_shape=digits.image_shape), "-", rows)
    averaged = [row for row in written if row["head"] == "student-small+teacher"]
    assert len(averaged) == 3 and all(row["val_accuracy"] == 1.0 for row in averaged)
    _fake_students(monkeypatch, lambda self, images: np.full((len(images), len(self.classes_)), 1 / len(self.classes_)))
    evaluation, rows = run_pixels(tmp_path / "b", digits, cfg)
    written = evaluation.run_students(PixelsBackbone(image_shape=digits.image_shape), "-", rows)
    teacher_val = {(row["shots"], row["seed"]): row["val_accuracy"] for row in rows}
    averaged = [row for row in written if row["head"] == "student-small+teacher"]
    assert {(row["shots"], row["seed"]): row["val_accuracy"] for row in averaged} == pytest.approx(teacher_val)
    assert len(set(teacher_val.values())) > 1  # the folds differ, so a fold mix-up would show


def test_a_pool_heads_candidate_is_chosen_per_k():
    """At k = 1 the first candidate is best on validation, at k = 4 the second: each k keeps its own."""
    def row(shots, seed, val):
        return {"shots": shots, "seed": seed, "val_accuracy": val, "accuracy": 0.5}

    scored = {("propagate", 0): [row(1, 0, 0.9), row(1, 1, 0.9), row(4, 0, 0.2), row(4, 1, 0.2)],
              ("propagate", 1): [row(1, 0, 0.1), row(1, 1, 0.1), row(4, 0, 0.8), row(4, 1, 0.8)]}
    chosen = choose_candidates(scored)
    assert [(r["shots"], r["val_accuracy"]) for r in chosen] == [(1, 0.9), (1, 0.9), (4, 0.8), (4, 0.8)]


def test_evaluates_attention_head_reads_the_backbones_token_layout(digits, tmp_path, monkeypatch):
    """The attention head gets the spec's token layout from evaluate (as from fit): two blocks, two timesteps."""
    given = []
    real = evaluate_module.make_head

    def recording(name, random_state=0, **params):
        given.append((name, params.get("layout")))
        return real(name, random_state=random_state, **params)

    monkeypatch.setattr(evaluate_module, "make_head", recording)
    backbone = DDPMBackbone(DDPMConfig(preset="tiny"), digits.image_shape)
    spec = FeatureSpec(layers=("up0", "mid"), timestep=(10, 50), pool="2x2")
    cfg = dataclasses.replace(FAST, shots=(1,), seeds=1, heads=("attention",))
    Evaluation(tmp_path, digits, cfg).run_features(backbone, "ckpt", [spec], cfg.heads)
    dims = backbone.block_dims("mean")
    expected = [(dims["up0"], 4), (dims["mid"], 4)] * 2
    assert given and all(name == "attention" and [tuple(p) for p in layout] == expected for name, layout in given)
