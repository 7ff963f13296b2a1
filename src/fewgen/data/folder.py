"""A user's own images from a folder.

Layout::

    PATH/labeled/<class>/*.png|jpg|...   labeled training images, one subfolder per class
    PATH/unlabeled/*                     optional unlabeled training images
    PATH/test/<class>/*                  optional labeled test images

Images may be grayscale or colour and of any size. If any image has colour,
every image is read as RGB, else as grayscale; all are resized (bilinear) to
the size of the first labeled image unless ``image_size`` is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from fewgen.data.sources import UNLABELED, ImageSet, Source
from fewgen.errors import FewgenError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _class_files(folder: Path) -> dict[str, list[Path]]:
    classes = {d.name: _image_files(d) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {name: files for name, files in classes.items() if files}


def _open_image(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()  # forces a full decode, so truncated files fail here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FewgenError(f"cannot read image {path} ({exc}); fix or remove the file") from None
    return image


def _to_array(image: Image.Image, mode: str, size: tuple[int, int]) -> np.ndarray:
    """PIL image -> uint8 ``[C, H, W]`` in ``mode`` ('L' or 'RGB') at ``size`` (W, H)."""
    image = image.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _read_all(paths: list[Path], image_size: int | None) -> np.ndarray:
    images = [_open_image(p) for p in paths]
    mode = "L" if all(im.mode in GRAY_MODES for im in images) else "RGB"
    size = (image_size, image_size) if image_size else images[0].size
    return np.stack([_to_array(im, mode, size) for im in images])


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

    all_images = _read_all(train_paths + test_paths, image_size)  # one mode and size for every split
    n_train = len(train_paths)
    train = ImageSet(torch.from_numpy(all_images[:n_train]), torch.tensor(train_labels, dtype=torch.int64))
    test_set = (
        ImageSet(torch.from_numpy(all_images[n_train:]), torch.tensor(test_labels, dtype=torch.int64)) if test_paths else None
    )
    return Source(name=f"folder:{path}", train=train, test=test_set, class_names=class_names, notes={"path": str(path)})
