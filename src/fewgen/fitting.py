"""``fewgen fit``: the final classifier of a run, fitted on its labeled images and saved as a model folder.

The labeled images are every image under ``labeled/<class>/`` for ``folder:`` data, or one
seeded draw of ``shots`` per class for the built-in datasets (the draw ``fewgen evaluate``
makes for that ``(shots, seed)``: outside the validation draw). Heads that learn from the
pool get the run's unlabeled pool, as in ``evaluate``.

The method is the one chosen on validation, never on test: the (spec, head, settings) with
the best mean validation accuracy in the run's ``results.jsonl`` at the shots value nearest to
the labeled images per class, among heads a model folder can hold; else ``fewgen select``'s
choice; else the backbone's default spec with ``logreg`` (:data:`DEFAULT_HEAD`). The held-out
estimate is the accuracy on the test split when there is one, else stratified k-fold
cross-validation on the labeled images (the held-out fold also left out of the pool).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold

from fewgen.atomic import DiskFull, disk_full, free_bytes
from fewgen.backbones.base import FeatureSpec
from fewgen.chooser import TIE_BREAK, best_method, mean_validation
from fewgen.classifier import Classifier
from fewgen.configs import StudentConfig
from fewgen.data.sources import Source, SourceOptions
from fewgen.data.splits import FIXED_VAL_PER_CLASS, Draws, pool_targets
from fewgen.errors import FewgenError
from fewgen.features import FeatureCache
from fewgen.heads import HEADS, check_tokens, make_head, uses_pool
from fewgen.heads.export import exportable, why_not_exportable
from fewgen.results import data_use, head_params, read_rows, stage, tuned
from fewgen.rundir import BACKBONE_DIR, RESULTS_FILE, SELECTION_FILE, run_lock
from fewgen.rundir import open_run
from fewgen.students import get_student

DEFAULT_HEAD = "logreg"
VAL_PER_CLASS = FIXED_VAL_PER_CLASS  # evaluate's validation draw on a built-in dataset, kept out of its draw as there
CV_FOLDS = 5


def _saveable(row: dict) -> bool:
    """Whether a row's method can be saved to a model folder."""
    return exportable(row["head"], {**head_params(row), **tuned(row)})


def choose_method(rows: list[dict], backbone: str, checkpoint: str, shots: int, head: str | None = None) -> dict | None:
    """The validation-best exportable (spec, head, settings) among evaluate's rows of this checkpoint, at the
    shots value nearest (on a log scale) to ``shots``; None when there is none.

    The methods are compared on the draws (seeds) that all of them ran at that k, each draw once, so that a
    method run on 5 seeds is not weighed against one run on 3. Ties (equal mean validation accuracy, common when
    validation holds a few images) follow :mod:`fewgen.chooser`: the simpler head, then fewer settings, then the
    method evaluated first."""
    candidates = [r for r in rows if r.get("backbone") == backbone and r.get("checkpoint") == checkpoint
                  and stage(r) != "select" and data_use(r) != "test" and not r.get("selection")
                  and r.get("val_accuracy") is not None and head in (None, r["head"])]
    scored = [r for r in candidates if _saveable(r)]
    if not scored:
        return None
    k = min({r["shots"] for r in scored}, key=lambda v: (abs(math.log(v / shots)), -v))
    at_k = [r for r in candidates if r["shots"] == k]
    best, tied = best_method(at_k, _saveable)
    first, top = best[0], mean_validation(best)
    chosen_by = f"validation accuracy in {RESULTS_FILE} (k={k}, {len(best)} seeds)"
    if tied > 1:
        chosen_by += f"; {tied} methods tied at {100 * top:.1f}%, {TIE_BREAK}"
    unsaved = best_method(at_k, lambda r: not _saveable(r))
    unsaved_top = mean_validation(unsaved[0]) if unsaved is not None else None
    if unsaved_top is not None and round(unsaved_top, 9) > round(top, 9):
        r = unsaved[0][0]
        settings = ",".join(f"{name}={value}" for name, value in sorted(tuned(r).items()))
        spec = FeatureSpec.from_dict(r["spec"]).label()
        chosen_by += (f"; the best on validation, {backbone}[{spec}]+{r['head']}{f'({settings})' if settings else ''} at "
                      f"{100 * unsaved_top:.1f}%, cannot be saved: {why_not_exportable(r['head'], tuned(r))}")
    return {"spec": first["spec"], "head": first["head"], "params": {**head_params(first), **tuned(first)},
            "val_accuracy": top, "val_shots": k, "n_seeds": len(best), "tied": tied, "chosen_by": chosen_by}


def _method(run_dir: Path, backbone, checkpoint: str, shots: int, head: str | None) -> dict:
    """:func:`choose_method` on the run's rows, else select's choice, else the documented default."""
    if head is not None and head not in HEADS:
        raise FewgenError(f"unknown head '{head}'; use one of: {', '.join(HEADS)}")
    if head is not None and not exportable(head, {}):
        raise FewgenError(f"--head {head} cannot be saved to a model folder: {why_not_exportable(head, {})}; choose another --head")
    rows = read_rows(run_dir / RESULTS_FILE) if (run_dir / RESULTS_FILE).is_file() else []
    chosen = choose_method(rows, backbone.name, checkpoint, shots, head)
    if chosen is not None:
        return chosen
    selection_path = run_dir / SELECTION_FILE
    selection = json.loads(selection_path.read_text()) if selection_path.is_file() else {}
    if selection.get("checkpoint") == checkpoint and exportable(selection["head"], {}) and head in (None, selection["head"]):
        return {"spec": selection["spec"], "head": selection["head"], "params": {}, "val_accuracy": selection["val_accuracy"],
                "chosen_by": f"'fewgen select' ({SELECTION_FILE})"}
    spec = backbone.default_specs()[0].to_dict()
    return {"spec": spec, "head": head or DEFAULT_HEAD, "params": {}, "val_accuracy": None,
            "chosen_by": "--head" if head else f"the default (no evaluate rows for this checkpoint): the backbone's "
                                                f"default spec with {DEFAULT_HEAD}"}


def _draw(source: Source, shots: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(labeled train indices, pool train indices)``: a folder's labeled images (or a draw of them), else
    evaluate's draw for ``(shots, seed)`` outside the validation draw, with evaluate's pool."""
    labels = source.require_labels()
    if source.name.startswith("folder:"):  # every labeled image (or a draw of them, none held out), every image as pool
        labeled = np.flatnonzero(labels >= 0) if shots is None else Draws.make(source, (shots,), [seed], 0).labeled[(shots, seed)]
        return labeled, np.arange(len(labels))
    if shots is None:
        raise FewgenError(f"dataset '{source.name}' is fully labeled; say how many labeled images per class the classifier "
                          "gets with --shots K (and --seed S for which draw)")
    draws = Draws.make(source, (shots,), [seed], VAL_PER_CLASS)
    return draws.labeled[(shots, seed)], draws.pool_of((shots, seed))


def fit_classifier(run_dir: Path, out: Path, shots: int | None = None, seed: int = 0, head: str | None = None,
                   source_options: SourceOptions | None = None, precision: str = "auto", student: str | None = None,
                   student_config: StudentConfig | None = None, with_teacher: bool = False) -> Classifier:
    """Fit the run's final classifier and save it to the model folder ``out``; returns the classifier. With
    ``student``, the chosen method is the teacher and the saved model is that student (:mod:`fewgen.students`), or,
    ``with_teacher``, the mean of the student's and the teacher's probabilities."""
    run_dir, out = Path(run_dir), Path(out)
    student_config = student_config or StudentConfig()
    if student is None and student_config != StudentConfig():
        raise FewgenError("--student-option is given, and no --student to train with it; add --student small (or "
                          "encoder), or drop --student-option")
    if with_teacher and student is None:
        raise FewgenError("--with-teacher averages a student with its teacher; give the student with --student small (or encoder)")
    if student is not None:
        entry = get_student(student, "--student")
        student_config.check(lambda key: f"--student-option {key}", 1)
    _require_space(run_dir, out, copies_backbone=student is None or with_teacher)
    with run_lock(run_dir):  # fit writes the run's feature cache
        classifier = _fit(run_dir, out, shots, seed, head, source_options, precision, student is not None)
        if student is None:
            return classifier
        return _fit_student(classifier, entry.name, student_config, run_dir, out, with_teacher)


REFIT_ADVICE = ("run the same 'fewgen fit' again (the features are cached in the run folder: only the head, or the student, "
                "is fitted again)")


def _require_space(run_dir: Path, out: Path, copies_backbone: bool = True) -> None:
    """Refuse before any work when ``out``'s disk cannot hold the model folder: the backbone's copy (a student alone
    keeps none) and a MB for the rest; a pool head's arrays can need more, which the save then says."""
    backbone = run_dir / BACKBONE_DIR
    copied = sum(p.stat().st_size for p in backbone.rglob("*") if p.is_file()) if backbone.is_dir() and copies_backbone else 0
    needed = copied + 2**20
    if free_bytes(out) < needed:
        raise disk_full(out, needed, "run 'fewgen fit' again")


def _saved(classifier, out: Path, backbone_dir: Path | None = None):
    """``classifier.save(out, ...)``; a full disk meanwhile is one sentence that says how to redo it cheaply."""
    try:
        return classifier.save(out, backbone_dir)
    except DiskFull as exc:
        raise exc.advising(REFIT_ADVICE) from None


def _fit(run_dir: Path, out: Path, shots: int | None, seed: int, head: str | None, source_options: SourceOptions | None,
         precision: str, teacher_only: bool = False) -> Classifier:
    """The fitted classifier, saved to ``out`` unless it is only a student's ``teacher_only`` (then it keeps what the
    student needs in ``info``: the draw, the pool and the pool's features)."""
    if out.exists():
        raise FewgenError(f"{out} already exists; choose a new --out folder for the model")
    started = time.perf_counter()
    backbone, checkpoint, source = open_run(run_dir, None, source_options, precision)
    labeled, pool = _draw(source, shots, seed)
    y_all = source.train.labels.numpy()
    per_class = int(np.bincount(y_all[labeled], minlength=source.num_classes).min())
    method = _method(run_dir, backbone, checkpoint, max(per_class, 1), head)
    spec = FeatureSpec.from_dict(method["spec"])
    backbone.check_spec(spec)
    check_tokens([method["head"]], backbone.name, [backbone.token_layout(spec)], "--head")
    cache = FeatureCache(run_dir)
    labeled_f = cache.get(backbone, checkpoint, spec, "train", labeled, source.train.images)
    pool_f = cache.get(backbone, checkpoint, spec, "train", pool, source.train.images, mmap=True) if uses_pool(method["head"]) else None

    def fit(keep: np.ndarray, drop: np.ndarray = np.empty(0, dtype=np.int64)):
        """The head fitted on the labeled images ``labeled[keep]`` (and the pool without ``labeled[drop]``)."""
        model = make_head(method["head"], random_state=seed, layout=backbone.token_layout(spec), **method["params"])
        if pool_f is None:
            return model.fit(labeled_f[keep], y_all[labeled[keep]])
        rows = np.setdiff1d(np.arange(len(pool)), np.searchsorted(pool, labeled[drop]))
        return model.fit(pool_f[rows], pool_targets(pool[rows], labeled[keep], y_all))

    fitted = fit(np.arange(len(labeled)))
    classifier = Classifier(backbone, checkpoint, spec, method["head"], fitted, source.class_names, source.preprocess)
    if teacher_only:
        classifier.info = {"method": method, "seed": seed, "shots": shots, "labeled": labeled, "pool": pool, "source": source,
                           "pool_features": cache.get(backbone, checkpoint, spec, "train", pool, source.train.images, mmap=True),
                           "started": started}
        return classifier
    estimate = _estimate(classifier, cache, source, labeled, y_all, fit)
    classifier.info = {
        "run": str(run_dir.resolve()), "dataset": source.name, "method": method, "seed": seed, "shots": shots,
        "n_labeled": int(len(labeled)), "n_pool": int(len(pool)) if pool_f is not None else 0,
        "data": "pool" if pool_f is not None else "labeled", "estimate": estimate,
        "skipped_unlabeled": len(source.notes.get("skipped_unlabeled", [])), "fit_seconds": time.perf_counter() - started}
    _saved(classifier, out, run_dir / BACKBONE_DIR)
    return classifier


def _fit_student(teacher: Classifier, network: str, config: StudentConfig, run_dir: Path, out: Path,
                 with_teacher: bool = False) -> Classifier:
    """Train student ``network`` on the teacher's draw and pool, taught by the teacher's probabilities for the pool;
    save it (``with_teacher``: the mean of it and the teacher, with the teacher's folder inside) to ``out``. Its
    held-out estimate is on the test split; without one it is not estimated (k-fold would train the student k
    times), and the teacher's method is named instead."""
    from fewgen.students.model import AveragedClassifier, StudentClassifier, describe_network
    from fewgen.students.student import Student

    facts = teacher.info
    source, labeled, pool, seed = facts["source"], facts["labeled"], facts["pool"], facts["seed"]
    y_all = source.train.labels.numpy()
    classes = np.unique(y_all[labeled])  # the student's classes, in its order
    proba = teacher.head.predict_proba(np.asarray(facts["pool_features"]))  # [P, C_head]: the whole pool at once
    targets = proba[:, np.searchsorted(np.asarray(teacher.head.classes_), classes)]
    student = Student(config, source.hflip_preserves_label, seed, network, teacher.backbone, teacher.spec).teach(targets)
    student.fit(source.train.images[torch.as_tensor(labeled)], y_all[labeled], source.train.subset(pool).images)
    described = describe_network(network, source.image_shape, student.classes_, teacher.backbone, teacher.spec)
    classifier = StudentClassifier(student.model_.net, described, source.class_names, source.preprocess)
    if source.test is not None:
        proba = classifier.proba_of_split(source.test.images)
        if with_teacher:
            cache = FeatureCache(run_dir)
            test_f = cache.get(teacher.backbone, teacher.checkpoint, teacher.spec, "test", np.arange(len(source.test)),
                               source.test.images)
            proba = (proba + teacher.proba_of_features(test_f)) / 2
        predicted = np.argmax(proba, axis=1)
        estimate = {"accuracy": float(accuracy_score(source.test.labels.numpy(), predicted)), "on": "test split",
                    "n": int(len(source.test))}
    else:
        estimate = {"accuracy": None, "on": "not estimated for a student without a test split (k-fold would train it k "
                                            "times); 'fewgen evaluate --students' measures it on validation", "n": 0}
    classifier.info = {
        "run": str(run_dir.resolve()), "dataset": source.name, "method": facts["method"], "seed": seed,
        "shots": facts["shots"], "n_labeled": int(len(labeled)), "n_pool": int(len(pool)), "data": "pool",
        "teacher": f"{teacher.backbone.name}[{teacher.spec.label()}]+{teacher.head_name}", "student": config.spec(),
        "estimate": estimate, "student_seconds": student.summary_["seconds"],
        "skipped_unlabeled": len(source.notes.get("skipped_unlabeled", [])), "fit_seconds": time.perf_counter() - facts["started"]}
    if not with_teacher:
        _saved(classifier, out)
        return classifier
    teacher.info = {"run": str(run_dir.resolve()), "dataset": source.name, "method": facts["method"], "seed": seed,
                    "shots": facts["shots"], "n_labeled": int(len(labeled)), "n_pool": int(len(pool)),
                    "data": "pool" if uses_pool(teacher.head_name) else "labeled", "taught": f"student-{network}",
                    "estimate": {"accuracy": None, "on": "not estimated alone: the folder above is the model, this "
                                                        "teacher averaged with its student", "n": 0}}
    averaged = AveragedClassifier(classifier, teacher)
    _saved(averaged, out, run_dir / BACKBONE_DIR)
    return averaged


def _estimate(classifier: Classifier, cache: FeatureCache, source: Source, labeled: np.ndarray, y_all: np.ndarray, fit) -> dict:
    """Held-out accuracy: on the test split when there is one, else stratified k-fold CV on the labeled images."""
    if source.test is not None:
        test_f = cache.get(classifier.backbone, classifier.checkpoint, classifier.spec, "test", np.arange(len(source.test)),
                           source.test.images)
        predicted = np.argmax(classifier.proba_of_features(test_f), axis=1)
        return {"accuracy": float(accuracy_score(source.test.labels.numpy(), predicted)), "on": "test split",
                "n": int(len(source.test))}
    y = y_all[labeled]
    folds = min(CV_FOLDS, int(np.bincount(y).min()))
    if folds < 2:
        return {"accuracy": None, "on": "not estimated: a class has one labeled image and there is no test split", "n": 0}
    hits = 0
    for keep, drop in StratifiedKFold(folds, shuffle=True, random_state=0).split(labeled, y):
        model = fit(keep, drop)
        part = Classifier(classifier.backbone, classifier.checkpoint, classifier.spec, classifier.head_name, model,
                          classifier.class_names, classifier.preprocess)
        features = cache.get(classifier.backbone, classifier.checkpoint, classifier.spec, "train", labeled[drop],
                             source.train.images)
        hits += int((np.argmax(part.proba_of_features(features), axis=1) == y[drop]).sum())
    return {"accuracy": hits / len(labeled), "on": f"{folds}-fold cross-validation on the labeled images", "n": int(len(labeled))}
