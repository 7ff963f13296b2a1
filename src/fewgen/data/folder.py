"""A user's own images from a folder.

Layout::

    PATH/labeled/<class>/*.png|jpg|...   labeled training images, one subfolder per class
    PATH/unlabeled/*                     optional unlabeled training images
    PATH/test/<class>/*                  optional labeled test images

Images may be grayscale or colour and of any size. If any image has colour,
every image is read as RGB, else as grayscale; all are resized (bilinear) to
the size of the first labeled image unless ``image_size`` is given.

The file list is built once and only the headers are read here (mode and size);
pixels are decoded when a batch needs them (:class:`~fewgen.data.files.ImageFiles`),
so a folder larger than memory works. The labeled images, few by design, are decoded once
at load, so that a broken one is named before any work starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from fewgen.data.files import ImageFiles, open_image
from fewgen.data.sources import UNLABELED, ImageSet, Source
from fewgen.errors import FewgenError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _class_files(folder: Path) -> dict[str, list[Path]]:
    classes = {d.name: _image_files(d) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {name: files for name, files in classes.items() if files}


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """``(mode, (W, H))`` of the image at ``path`` from its header alone, or one sentence naming the file."""
    try:
        with Image.open(path) as image:
            return image.mode, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FewgenError(f"cannot read image {path} ({exc}); fix or remove the file") from None


def _files(paths: list[Path], image_size: int | None) -> ImageFiles:
    headers = [_header(p) for p in paths]
    mode = "L" if all(m in GRAY_MODES for m, _ in headers) else "RGB"
    size = (image_size, image_size) if image_size else headers[0][1]
    return ImageFiles(paths, mode, size)


def load_folder(path: Path, image_size: int | None = None) -> Source:
    """Read ``path`` laid out as in the module docstring into a :class:`Source`."""
    path = Path(path).expanduser()
    labeled_dir = path / "labeled"
    if not labeled_dir.is_dir():
        raise FewgenError(f"folder {path} has no 'labeled' subfolder; put labeled images in {labeled_dir}/<class>/")
    labeled = _class_files(labeled_dir)
    if not labeled:
        raise FewgenError(f"folder {labeled_dir} is empty; add one subfolder of images per class")
    class_names = sorted(labeled)
    unlabeled_dir = path / "unlabeled"
    unlabeled = _image_files(unlabeled_dir) if unlabeled_dir.is_dir() else []
    test_dir = path / "test"
    test = _class_files(test_dir) if test_dir.is_dir() else {}
    if test_dir.is_dir() and not test:
        raise FewgenError(f"folder {test_dir} is empty; add one subfolder of images per class, or remove it")
    unknown = sorted(set(test) - set(class_names))
    if unknown:
        raise FewgenError(f"test class '{unknown[0]}' in {test_dir} has no labeled images; add {labeled_dir / unknown[0]}/ or remove it")

    train_paths = [p for c in class_names for p in labeled[c]] + unlabeled
    train_labels = [i for i, c in enumerate(class_names) for _ in labeled[c]] + [UNLABELED] * len(unlabeled)
    test_paths = [p for c in class_names for p in test.get(c, [])]
    test_labels = [i for i, c in enumerate(class_names) for _ in test.get(c, [])]

    for labeled_path in (p for c in class_names for p in labeled[c]):
        open_image(labeled_path)  # the few labeled images are decoded now, so a broken one is named before any work
    files = _files(train_paths + test_paths, image_size)  # one mode and size for every split
    n_train = len(train_paths)
    train = ImageSet(files.take(np.arange(n_train)), torch.tensor(train_labels, dtype=torch.int64))
    test_set = (
        ImageSet(files.take(np.arange(n_train, len(files))), torch.tensor(test_labels, dtype=torch.int64)) if test_paths else None
    )
    return Source(name=f"folder:{path}", train=train, test=test_set, class_names=class_names, notes={"path": str(path)})
