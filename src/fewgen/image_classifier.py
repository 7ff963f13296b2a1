"""What every classifier a user keeps shares: the forms of images it takes and how it names its classes.

It takes images in any of the forms people hold them (file paths, PIL images, uint8 arrays ``[H, W]``/``[H, W, C]``,
uint8 tensors ``[C, H, W]``/``[N, C, H, W]``) and preprocesses them exactly as the run's training images were
(:class:`~fewgen.data.preprocess.Preprocess`). A subclass says how a preprocessed batch becomes probabilities:
:class:`fewgen.classifier.Classifier` (a backbone's features and a head) and
:class:`fewgen.students.model.StudentClassifier` (a network trained end to end).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fewgen.backbones.base import FEATURE_BATCH
from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError

BATCH = FEATURE_BATCH  # images decoded at a time: one forward pass, no padding but the last


class ImageClassifier:
    """``class_names`` and ``preprocess``; ``proba_of_batch(uint8 [B, C, H, W]) -> [B, C]`` is the subclass's."""

    class_names: list[str]
    preprocess: Preprocess

    @property
    def classes_(self) -> np.ndarray:
        """The class names, in the order of :meth:`predict_proba`'s columns."""
        return np.asarray(self.class_names)

    # -- images in, features out -------------------------------------------------
    @staticmethod
    def _as_list(images) -> list:
        """One image or many (a list, an iterable, a 4-D array or tensor) -> a list of single images."""
        if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
            return list(images)
        if isinstance(images, (list, tuple)) or _is_iterable_of_images(images):
            return list(images)
        return [images]

    def to_batch(self, images) -> torch.Tensor:
        """Any of the accepted forms (one image or many) -> uint8 ``[N, C, H, W]``, preprocessed."""
        arrays = [self._one(image) for image in self._as_list(images)]
        if not arrays:
            return torch.empty((0, self.preprocess.channels, self.preprocess.size[1], self.preprocess.size[0]), dtype=torch.uint8)
        return torch.from_numpy(np.stack(arrays))

    def _one(self, image) -> np.ndarray:
        if isinstance(image, (str, Path)):
            return self.preprocess.file(Path(image))
        if isinstance(image, Image.Image):
            return self.preprocess(image)
        array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if array.dtype != np.uint8:
            raise FewgenError(f"images given as arrays or tensors must be uint8 (0..255), got {array.dtype}; "
                              "convert them, or pass file paths or PIL images")
        if isinstance(image, torch.Tensor) and array.ndim == 3:
            array = array.transpose(1, 2, 0)  # tensors are [C, H, W]
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise FewgenError(f"an image array must be [H, W] or [H, W, 3|4] (a tensor: [C, H, W]), got shape {image.shape}")
        return self.preprocess(Image.fromarray(np.ascontiguousarray(array)))

    def proba_of_batch(self, batch: torch.Tensor) -> np.ndarray:
        """``[B, C]`` from uint8 images ``[B, C, H, W]`` already preprocessed (what ``fewgen predict`` streams)."""
        raise NotImplementedError

    def predict_proba(self, images) -> np.ndarray:
        """``[N, C]`` class probabilities, columns in the order of :attr:`classes_`."""
        items = self._as_list(images)
        chunks = [self.proba_of_batch(self.to_batch(items[i : i + BATCH])) for i in range(0, len(items), BATCH)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.class_names)))

    def predict(self, images) -> np.ndarray:
        """``[N]`` class names."""
        return self.classes_[np.argmax(self.predict_proba(images), axis=1)]


def _is_iterable_of_images(images) -> bool:
    return isinstance(images, Iterable) and not isinstance(images, (str, Path, Image.Image, np.ndarray, torch.Tensor))
