"""The registry of image sources.

Every source yields a :class:`Source`: a train split and (usually) a test split
of uint8 images ``[N, C, H, W]`` with int64 labels ``[N]`` (``-1`` marks an
unlabeled image), plus its class names. Sources are looked up by name:
``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``, or
``folder:PATH`` for a user's own images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fewgen.data.files import ImageFiles
from fewgen.data.preprocess import Preprocess, check_image_size, check_resize
from fewgen.errors import FewgenError

UNLABELED = -1


@dataclass(frozen=True)
class ImageSet:
    """Images ``uint8 [N, C, H, W]`` with labels ``int64 [N]`` (-1 = unlabeled). The images are a tensor in
    memory or :class:`~fewgen.data.files.ImageFiles`, decoded when indexed (for folders of any size)."""

    images: torch.Tensor | ImageFiles
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must have one entry per image")

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: np.ndarray | torch.Tensor) -> "ImageSet":
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        if isinstance(self.images, ImageFiles):
            return ImageSet(self.images.take(index.numpy()), self.labels[index])
        return ImageSet(self.images[index], self.labels[index])


@dataclass(frozen=True)
class Source:
    """A dataset: train split (may hold unlabeled images), optional test split, class names.

    ``hflip_preserves_label`` says whether a horizontal flip keeps an image's
    class (true for CIFAR and clothing, false for digits), so that baselines
    only flip where it is label-preserving. ``preprocess`` is how a file becomes
    one of its images (a folder's stated policy; for the built-in sets, their fixed
    mode and size), which a deployed classifier applies to the files it is given.
    ``notes`` are facts for the run's config (path, files left out), never read back.
    """

    name: str
    train: ImageSet
    test: ImageSet | None
    class_names: list[str]
    hflip_preserves_label: bool = False
    notes: dict = field(default_factory=dict)
    preprocess: Preprocess | None = None

    def __post_init__(self) -> None:
        if self.preprocess is None:
            C, H, W = self.image_shape
            object.__setattr__(self, "preprocess", Preprocess("L" if C == 1 else "RGB", (W, H), "crop"))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def require_labels(self) -> np.ndarray:
        """The labels of the train split ``int64 [N]``, or one sentence when fewer than two classes have a labeled
        image (a folder of unlabeled images: 'fewgen suggest' says which to label)."""
        labels = self.train.labels.numpy()
        classes = np.unique(labels[labels != UNLABELED])
        where = self.notes.get("path", self.name)
        if len(classes) == 0:
            raise FewgenError(f"{where} has no labeled images yet; 'fewgen suggest RUN --budget 20' chooses which to "
                              "label: move them into labeled/<class>/ (or list path,label rows in a CSV for --labels FILE)")
        if len(classes) == 1:
            raise FewgenError(f"{where} has labeled images of one class ('{self.class_names[classes[0]]}'); a classifier "
                              "needs at least two, so label images of another class")
        return labels

    def require_test(self) -> ImageSet:
        if self.test is None:
            raise FewgenError(
                f"dataset '{self.name}' has no test split; for a folder, add PATH/test/<class>/ images"
            )
        return self.test


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    """Where to find data: ``data_root`` (a folder) and whether torchvision may download; for ``folder:`` data,
    the side of the square images (``image_size``, 8..256; default: the labeled images' median shorter side, at most 64) and the
    ``resize`` policy (``crop``: aspect ratio kept; ``stretch``), see :mod:`fewgen.data.preprocess`, and ``labels``, a CSV
    of ``path,label`` rows that labels some of its unlabeled images (:mod:`fewgen.data.label_file`).

    The options check themselves when made, so the Python API and the CLI refuse a bad value with the same sentence."""

    data_root: Path | None = None
    download: bool = False
    image_size: int | None = None
    resize: str = "crop"
    labels: Path | None = None

    def __post_init__(self) -> None:
        if self.data_root is not None:
            object.__setattr__(self, "data_root", Path(self.data_root))
        if self.labels is not None:
            object.__setattr__(self, "labels", Path(self.labels))
        if self.image_size is not None:
            check_image_size(self.image_size)
        check_resize(self.resize)


SourceLoader = Callable[[SourceOptions], Source]
SOURCES: dict[str, SourceLoader] = {}


def register_source(name: str) -> Callable[[SourceLoader], SourceLoader]:
    def decorator(loader: SourceLoader) -> SourceLoader:
        SOURCES[name] = loader
        return loader

    return decorator


PrefixLoader = Callable[[str, SourceOptions], Source]
PREFIXED: dict[str, PrefixLoader] = {}  # e.g. 'folder:' -> the loader of folder:PATH


def register_prefix(prefix: str) -> Callable[[PrefixLoader], PrefixLoader]:
    """Register a loader of names ``PREFIX...`` (it gets the rest of the name and the options)."""
    def decorator(loader: PrefixLoader) -> PrefixLoader:
        PREFIXED[prefix] = loader
        return loader

    return decorator


def load_source(name: str, options: SourceOptions | None = None) -> Source:
    """Load a source by registry name, or ``folder:PATH`` for a user's image folder."""
    options = options or SourceOptions()
    if options.labels is not None and not name.startswith("folder:"):
        raise FewgenError(f"--labels labels images of a folder source (folder:PATH); dataset '{name}' has its own labels, "
                          "so drop --labels")
    for prefix, loader in PREFIXED.items():
        if name.startswith(prefix):
            return loader(name.removeprefix(prefix), options)
    if name not in SOURCES:
        known = ", ".join(sorted(SOURCES) + [f"{prefix}PATH" for prefix in PREFIXED])
        raise FewgenError(f"unknown dataset '{name}'; use one of: {known}")
    return SOURCES[name](options)
