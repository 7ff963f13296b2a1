"""A classifier a user can keep: backbone + feature spec + head + preprocessing + class names.

:class:`Classifier` is what ``fewgen fit`` makes and ``fewgen predict`` runs, and what
:func:`load_classifier` gives a Python user. It takes images in any of the forms people hold
them (file paths, PIL images, uint8 arrays ``[H, W]``/``[H, W, C]``, uint8 tensors
``[C, H, W]``/``[N, C, H, W]``), preprocesses them exactly as the run's training images were
(:class:`~fewgen.data.preprocess.Preprocess`), reads the backbone's features and asks the head.

A model folder holds no pickle::

    MODEL/model.json         fewgen version, checkpoint hash, spec, head name, class names,
                             preprocessing, held-out accuracy estimate, where it came from
    MODEL/backbone/          a copy of the run's backbone (safetensors + JSON)
    MODEL/head.safetensors   the head's arrays; MODEL/head.json: its settings and scalars

``model.json`` also records the digest of every other file and of its own fields (:mod:`fewgen.model_seal`):
loading refuses a folder in which any of them changed after ``fewgen fit`` wrote it (a head swapped in from another
model, reordered class names), naming the file, and one that another major version of fewgen wrote.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from fewgen import __version__, major
from fewgen.atomic import atomic_folder, plain_permissions, write_json
from fewgen.backbones.base import Backbone, FeatureSpec, checkpoint_hash, load_backbone
from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError, FewgenWarning
from fewgen.heads.export import head_from_state, head_state
from fewgen.image_classifier import BATCH, ImageClassifier
from fewgen.model_seal import check_seal, refit_advice, seal
from fewgen.students.model import KIND as STUDENT_KIND, TEACHER_DIR, AveragedClassifier, load_student
from fewgen.train import cpu_has_native_bf16, inference_device

MODEL_FILE = "model.json"
HEAD_ARRAYS, HEAD_META = "head.safetensors", "head.json"
BACKBONE_DIR = "backbone"


class Classifier(ImageClassifier):
    """A backbone's features and a head: ``predict(images) -> class names [N]``, ``predict_proba(images) -> [N, C]``,
    ``classes_`` (the image forms it takes: :class:`~fewgen.image_classifier.ImageClassifier`)."""

    def __init__(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, head_name: str, head,
                 class_names: list[str], preprocess: Preprocess, info: dict | None = None):
        self.backbone, self.checkpoint, self.spec = backbone, checkpoint, spec
        self.head_name, self.head = head_name, head
        self.class_names, self.preprocess = list(class_names), preprocess
        self.info = dict(info or {})

    def features(self, images) -> np.ndarray:
        """float32 ``[N, D]``: the backbone's features of the images, decoded and read in batches of 64."""
        items = self._as_list(images)
        chunks = [self.backbone.features(self.to_batch(items[i : i + BATCH]), self.spec) for i in range(0, len(items), BATCH)]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, 0), dtype=np.float32)

    def predict_proba(self, images) -> np.ndarray:
        """``[N, C]`` class probabilities, columns in the order of :attr:`classes_`."""
        return self.proba_of_features(self.features(images))

    def proba_of_batch(self, batch: torch.Tensor) -> np.ndarray:
        """``[B, C]`` from uint8 images ``[B, C, H, W]`` already preprocessed (what ``fewgen predict`` streams)."""
        return self.proba_of_features(self.backbone.features(batch, self.spec).numpy())

    def proba_of_features(self, features: np.ndarray) -> np.ndarray:
        """``[N, C]`` from features ``[N, D]`` (columns: every class, also one the head never saw).

        The head is asked one row at a time (``[1, D]``): BLAS matrix products (OpenBLAS, MKL, torch's) block
        their sums by the matrix's shape and a row's position in it, so a row's probabilities would otherwise
        change in the last bits with the rows beside it. One shape for every row makes them bit-identical. A head
        that runs its network in fixed batches itself (``fixed_batches``, the attention head) is asked once."""
        proba = np.zeros((len(features), len(self.class_names)))
        if len(features):
            if getattr(self.head, "fixed_batches", False):
                rows = [self.head.predict_proba(features)]
            else:
                rows = [self.head.predict_proba(features[i : i + 1]) for i in range(len(features))]  # each [1, C_head]
            proba[:, np.asarray(self.head.classes_, dtype=np.int64)] = np.concatenate(rows)
        return proba

    # -- the model folder ----------------------------------------------------------
    def save(self, folder: Path, backbone_dir: Path) -> Path:
        """Write the model folder (a new one; written beside it, then renamed into place)."""
        folder = Path(folder)
        if folder.exists():
            raise FewgenError(f"{folder} already exists; choose a new --out folder for the model")
        arrays, meta = head_state(self.head_name, self.head)
        with atomic_folder(folder) as tmp:
            shutil.copytree(backbone_dir, tmp / BACKBONE_DIR, ignore=shutil.ignore_patterns(".*"))
            for copied in (tmp / BACKBONE_DIR).rglob("*"):
                if copied.is_file():
                    plain_permissions(copied)  # readable by whoever may read the model folder
            if checkpoint_hash(tmp / BACKBONE_DIR) != self.checkpoint:
                raise FewgenError(f"the backbone in {backbone_dir} changed while it was copied; run 'fewgen fit' again")
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp / HEAD_ARRAYS)
            plain_permissions(tmp / HEAD_ARRAYS)
            write_json(tmp / HEAD_META, meta)
            write_json(tmp / MODEL_FILE, {
                "fewgen_version": __version__, "checkpoint": self.checkpoint, "backbone": self.backbone.name,
                "spec": self.spec.to_dict(), "feature_precision": self.backbone.feature_precision(),
                "head": self.head_name, "class_names": self.class_names, "preprocess": self.preprocess.to_dict(),
                **self.info})
            seal(tmp)
        return folder


DAMAGED = (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError, OSError, SafetensorError)


def _damaged(path: Path, what: str, model: dict | None = None) -> FewgenError:
    return FewgenError(f"model folder file {path} is damaged ({what}); {refit_advice(model or {})}")


def _read_json(path: Path) -> dict:
    """A model folder's JSON file, or one sentence naming it."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"not readable JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _damaged(path, "not a JSON object")
    return value


def load_classifier(folder: str | Path) -> Classifier:
    """The classifier ``fewgen fit`` saved in ``folder``; refuses a folder in which a file changed after fit wrote
    it, another fewgen major version, or a damaged file (one sentence naming it, never a traceback)."""
    folder = Path(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        if (folder / "config.json").is_file() and (folder / BACKBONE_DIR).is_dir():
            raise FewgenError(f"{folder} is a run folder, not a model folder; make a model from it with 'fewgen fit "
                              f"{folder} --out MODEL' and give MODEL")
        raise FewgenError(f"{folder} is not a fewgen model folder ({MODEL_FILE} is missing); give the folder that "
                          "'fewgen fit RUN --out MODEL' made")
    model = _read_json(path)
    if major(str(model.get("fewgen_version", "?"))) != major(__version__):
        raise FewgenError(f"model folder {folder} was written by fewgen {model.get('fewgen_version')}, and this is fewgen "
                          f"{__version__}; {refit_advice(model)} with this version")
    check_seal(folder, model)
    if model.get("kind") == STUDENT_KIND:
        return _load_student_folder(folder, model)
    found = checkpoint_hash(folder / BACKBONE_DIR)
    if found != model.get("checkpoint"):
        raise FewgenError(f"the backbone files in {folder / BACKBONE_DIR} hash to {found}, not to the checkpoint "
                          f"{model.get('checkpoint')} the model was fitted on; {refit_advice(model)}")
    try:
        backbone = load_backbone(folder / BACKBONE_DIR, model["backbone"])
        backbone.precision = model["feature_precision"]
        spec, preprocess = FeatureSpec.from_dict(model["spec"]), Preprocess.from_dict(model["preprocess"])
        class_names = [str(name) for name in model["class_names"]]
        info = {k: v for k, v in model.items() if k not in ("checkpoint", "backbone", "spec", "head", "class_names", "preprocess")}
        head_name = str(model["head"])
    except DAMAGED as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}", model) from None
    head_meta = _read_json(folder / HEAD_META)
    try:
        head_arrays = load_file(folder / HEAD_ARRAYS)
    except DAMAGED as exc:
        raise _damaged(folder / HEAD_ARRAYS, f"{type(exc).__name__}: {exc}", model) from None
    try:
        head = head_from_state(head_arrays, head_meta)
    except DAMAGED as exc:
        raise _damaged(folder / HEAD_META, f"its settings do not rebuild the head: {exc}", model) from None
    classifier = Classifier(backbone, model["checkpoint"], spec, head_name, head, class_names, preprocess, info)
    _check_fits_together(classifier, folder, model)
    if backbone.precision == "bf16" and inference_device().type == "cpu" and not cpu_has_native_bf16():
        warnings.warn(f"model folder {folder} reads features in bf16, which this CPU emulates (about 20x slower than "
                      "fp32); for this CPU, fit the model again with '--precision fp32'", FewgenWarning, stacklevel=2)
    return classifier


def _load_student_folder(folder: Path, model: dict):
    """A student's model folder (already checked whole), with its teacher's folder when it is averaged with one."""
    try:
        student = load_student(folder, model)
    except FewgenError:
        raise
    except DAMAGED as exc:
        raise _damaged(folder / MODEL_FILE, f"it does not rebuild the student's network: {type(exc).__name__}: {exc}",
                       model) from None
    if "averaged_with" not in model:
        return student
    if model["averaged_with"] != TEACHER_DIR:  # fit writes only this name; another could point anywhere, even here
        raise _damaged(folder / MODEL_FILE, f"its averaged_with is {model['averaged_with']!r}, not the teacher folder "
                       f"{TEACHER_DIR!r}", model)
    teacher = load_classifier(folder / TEACHER_DIR)  # the teacher's own folder, checked as any
    try:
        return AveragedClassifier(student, teacher)
    except ValueError as exc:
        raise _damaged(folder / MODEL_FILE, str(exc), model) from None


def _check_fits_together(classifier: Classifier, folder: Path, model: dict) -> None:
    """Run one black image through the loaded parts: the head must take the backbone's features and name its
    classes from ``class_names``, else one sentence names the file that disagrees."""
    classes = np.asarray(classifier.head.classes_)
    if classes.min() < 0 or classes.max() >= len(classifier.class_names):
        raise _damaged(folder / MODEL_FILE, f"its class_names ({len(classifier.class_names)}) do not cover the head's "
                       f"classes {classes.tolist()}")
    try:
        black = torch.zeros((1, *classifier.backbone.image_shape), dtype=torch.uint8)
        features = classifier.backbone.features(black, classifier.spec).numpy()  # [1, D]
    except DAMAGED as exc:
        raise _damaged(folder / MODEL_FILE, f"its spec cannot be read from the backbone: {exc}", model) from None
    try:
        classifier.proba_of_features(features)
    except DAMAGED as exc:
        raise _damaged(folder / HEAD_META, f"the head does not take the backbone's {features.shape[1]} features: {exc}", model) from None
