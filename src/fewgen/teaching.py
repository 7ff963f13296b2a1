"""What a student is taught with: per k, the teacher chosen on validation among the heads' rows; a fitted model's
probabilities in the dataset's class columns (a teacher's for the pool, a student's for its average with the teacher);
and the check that a backbone can give the student its network. :class:`fewgen.evaluate.Evaluation` runs the students
with these."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from fewgen.backbones.base import Backbone
from fewgen.chooser import best_method
from fewgen.errors import FewgenError
from fewgen.students import get_student


def check_students_backbone(students: tuple[str, ...], backbone: Backbone) -> None:
    """One sentence when a student's network comes from the backbone and this one has no trained weights (pixels)."""
    from fewgen.backbones.torch_backbone import TorchBackbone

    for name in students:
        if get_student(name).from_backbone and not isinstance(backbone, TorchBackbone):
            raise FewgenError(f"the {name} student fine-tunes the backbone's own feature path, and the {backbone.name} "
                              "backbone has none; use --students small, or a run of vae, vqvae, alae or ddpm")


def class_probabilities(model: Any, x, num_classes: int) -> np.ndarray:
    """``[N, num_classes]``: a fitted ``model``'s probabilities for its inputs ``x`` (a head's features ``[N, D]``, a
    student's uint8 images ``[N, C, H, W]``) in the columns of its ``classes_`` (integer class ids), zero for a class
    it never saw."""
    proba = np.zeros((len(x), num_classes), dtype=np.float32)
    proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x)
    return proba


def choose_teachers(rows: list[dict], teacher: str = "auto") -> dict[int, dict]:
    """Per k, the row standing for the teacher: of the (spec, head, candidate) methods in ``rows`` (of ``teacher``
    only, unless auto), the one :func:`fewgen.chooser.best_method` chooses on validation (the same rule, on the same
    rows, as ``fewgen fit``'s choice of a teacher). Test accuracy is never read here."""
    by_k: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        if teacher == "auto" or row["head"] == teacher:
            by_k[row["shots"]].append(row)
    return {shots: best_method(at_k)[0][0] for shots, at_k in by_k.items()}
