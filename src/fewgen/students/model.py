"""A student as a deployable classifier: the interface of every kept classifier
(:class:`~fewgen.image_classifier.ImageClassifier`: images in any form, ``predict``, ``predict_proba``, ``classes_``), and a model folder of safetensors and JSON a few MB in size.

A student's model folder holds no backbone copy and no pool::

    MODEL/model.json            kind "student", fewgen version, the network's description, its weights' hash,
                                class names, preprocessing, the teacher, the held-out estimate
    MODEL/student.safetensors   the network's weights (for the encoder student: the fine-tuned backbone path too)

With ``fewgen fit --student NAME --with-teacher`` the folder also holds the teacher, and the model is the mean of
the two's probabilities (:class:`AveragedClassifier`, evaluate's ``student-NAME+teacher``)::

    MODEL/teacher/              the teacher's own model folder (backbone, head; a pool head keeps the pool)

The network is run in fixed batches of :data:`~fewgen.backbones.base.FEATURE_BATCH` padded images, in fp32, so an
image's probabilities do not depend on the other images in the call (as the feature classifiers').
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from fewgen import __version__
from fewgen.atomic import atomic_folder, save_tensors, write_json
from fewgen.backbones.base import FEATURE_BATCH, Backbone, FeatureSpec, get_backbone_class
from fewgen.batching import in_fixed_batches
from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError
from fewgen.image_classifier import ImageClassifier
from fewgen.model_seal import refit_advice, seal
from fewgen.networks import build_network

MODEL_FILE, WEIGHTS_FILE, TEACHER_DIR = "model.json", "student.safetensors", "teacher"
KIND = "student"


def describe_network(network: str, image_shape: tuple[int, int, int], classes: np.ndarray, backbone: Backbone | None,
                     spec: FeatureSpec | None) -> dict:
    """What rebuilds the network's architecture (JSON): its name, image shape, classes and, for the encoder, the
    backbone's name and config and the feature spec."""
    described = {"network": network, "image_shape": list(image_shape), "classes": [int(c) for c in classes]}
    if network == "encoder":
        described |= {"backbone": backbone.name, "backbone_config": dataclasses.asdict(backbone.config),
                      "spec": spec.to_dict()}
    return described


def build_described(described: dict) -> nn.Module:
    """A fresh network of the architecture :func:`describe_network` wrote (its weights come from the folder)."""
    shape = tuple(described["image_shape"])
    backbone = spec = None
    if described["network"] == "encoder":
        cls = get_backbone_class(described["backbone"])
        backbone, spec = cls(cls.Config(**described["backbone_config"]), shape), FeatureSpec.from_dict(described["spec"])
    return build_network(described["network"], shape, len(described["classes"]), backbone, spec)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class StudentClassifier(ImageClassifier):
    """A trained student network ``uint8 [B, C, H, W] -> logits [B, len(classes)]`` with class names and preprocessing."""

    def __init__(self, network: nn.Module, described: dict, class_names: list[str], preprocess: Preprocess,
                 info: dict | None = None):
        self.network, self.described = network.eval(), described
        self.class_names, self.preprocess = list(class_names), preprocess
        self.head_name, self.info = f"student-{described['network']}", dict(info or {})
        self.backbone = self.spec = None
        self.checkpoint = "-"

    @torch.no_grad()
    def proba_of_batch(self, batch: torch.Tensor) -> np.ndarray:
        """``[B, C]`` probabilities of uint8 images ``[B, C, H, W]`` (columns: every class name), batch-independent."""
        proba = np.zeros((len(batch), len(self.class_names)))
        columns = np.asarray(self.described["classes"], dtype=np.int64)
        if len(batch):
            logits = in_fixed_batches(lambda padded: self.network(padded).float(), batch, FEATURE_BATCH)
            proba[:, columns] = torch.softmax(logits, dim=1).double().numpy()
        return proba

    def proba_of_split(self, images) -> np.ndarray:
        """``[N, C]`` of a split's uint8 images ``[N, C, H, W]`` in memory or in files (already preprocessed)."""
        from fewgen.data.files import image_batches

        chunks = [self.proba_of_batch(batch) for batch in image_batches(images, batch_size=4 * FEATURE_BATCH)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.class_names)))

    def features(self, images) -> np.ndarray:
        raise FewgenError("a student classifies images end to end; it has no separate features (use predict_proba)")

    def save(self, folder: Path, backbone_dir: Path | None = None) -> Path:
        """Write the model folder (a new one; written beside it, then renamed into place)."""
        folder = Path(folder)
        if folder.exists():
            raise FewgenError(f"{folder} already exists; choose a new --out folder for the model")
        with atomic_folder(folder) as tmp:
            self.write(tmp)
            seal(tmp)
        return folder

    def write(self, tmp: Path, **extra) -> None:
        """The weights and ``model.json`` (with ``extra`` fields) into the folder being written."""
        save_tensors(tmp / WEIGHTS_FILE, dict(self.network.state_dict()), {"fewgen": __version__})
        write_json(tmp / MODEL_FILE, {
            "kind": KIND, "fewgen_version": __version__, "network": self.described, "weights": _file_hash(tmp / WEIGHTS_FILE),
            "head": self.head_name, "class_names": self.class_names, "preprocess": self.preprocess.to_dict(), **self.info,
            **extra})


class AveragedClassifier(ImageClassifier):
    """The mean of a student's and its teacher's probabilities, ``[B, C]`` per batch: the method that evaluate scores
    as ``student-NAME+teacher``. Both read the same preprocessed images and name the same classes; each is
    batch-independent, so the mean is too."""

    def __init__(self, student: StudentClassifier, teacher: ImageClassifier):
        if list(student.class_names) != list(teacher.class_names):
            raise ValueError("a student and its teacher must name the same classes, in the same order")
        self.student, self.teacher = student, teacher
        self.class_names, self.preprocess = student.class_names, student.preprocess
        self.head_name, self.info = f"{student.head_name}+teacher", student.info
        self.backbone, self.spec, self.checkpoint = teacher.backbone, teacher.spec, teacher.checkpoint

    def proba_of_batch(self, batch: torch.Tensor) -> np.ndarray:
        return (self.student.proba_of_batch(batch) + self.teacher.proba_of_batch(batch)) / 2

    def save(self, folder: Path, backbone_dir: Path) -> Path:
        """Write the model folder: the student's files, and the teacher's folder (with ``backbone_dir``) inside it."""
        folder = Path(folder)
        if folder.exists():
            raise FewgenError(f"{folder} already exists; choose a new --out folder for the model")
        with atomic_folder(folder) as tmp:
            self.teacher.save(tmp / TEACHER_DIR, backbone_dir)
            self.student.write(tmp, averaged_with=TEACHER_DIR)
            seal(tmp)  # the teacher's files too: a head swapped into teacher/ is refused by the folder above
        return folder


def load_student(folder: Path, model: dict) -> StudentClassifier:
    """The student in ``folder`` whose ``model.json`` is ``model``; one sentence if its weights changed. (When
    ``averaged_with`` names a teacher folder, :func:`fewgen.classifier.load_classifier` adds the teacher.)"""
    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file() or _file_hash(weights) != model.get("weights"):
        raise FewgenError(f"model folder file {weights} is missing or changed after the model was fitted; "
                          f"{refit_advice(model)}")
    network = build_described(model["network"])
    network.load_state_dict(load_file(weights))
    info = {k: v for k, v in model.items()
            if k not in ("kind", "network", "weights", "head", "class_names", "preprocess", "averaged_with")}
    return StudentClassifier(network, model["network"], [str(c) for c in model["class_names"]],
                             Preprocess.from_dict(model["preprocess"]), info)
