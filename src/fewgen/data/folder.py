"""A user's own images from a folder.

Layout::

    PATH/labeled/<class>/**/*.png|jpg|...   labeled training images, one subfolder per class (at least two to fit)
    PATH/unlabeled/**/*                     unlabeled training images (optional when there are labeled ones)
    PATH/test/<class>/**/*                  optional labeled test images

Subfolders below a class folder and below ``unlabeled/`` are read too (``**``), as ``predict`` reads them.

Images may be of any size and mode (grayscale, RGB, RGBA, palette, 16-bit, CMYK). If any
image has colour, every image is read as RGB, else as grayscale. Each is turned upright by
its EXIF orientation and resized by the policy of :class:`~fewgen.data.preprocess.Preprocess`:
by default ``crop`` (aspect ratio kept: shorter side, then the centre), to a square whose
side is ``image_size`` (8..256) or, by default, the labeled images' median shorter side, at most 64
(:func:`image_side`; pretrain prints it). The policy is stored
in the run's ``config.json`` and in every model folder made from the run.

The file list is built once, with each file's header (mode and size); every unlabeled image is
decoded once then too (and let go), so a damaged one is skipped with one warning and counted in
``Source.notes`` before any work, and the count pretrain prints is the count it trains on. Pixels
are decoded again when a batch needs them (:class:`~fewgen.data.files.ImageFiles`), so a folder
larger than memory works. The labeled images, few by design, are decoded at load, so a broken one
is named before any work starts: a bad labeled or test image is an error that names the file. Hidden files and
folders (a name starting with '.') and files whose suffix is not an image's are left out and
counted; symbolic links are followed, and a broken one counts as a bad file.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fewgen.data.files import ImageFiles
from fewgen.data.label_file import read_label_file
from fewgen.data.preprocess import MAX_SIDE, MIN_SIDE, READ_ERRORS, Preprocess, check_image_size, is_gray, open_image, unreadable
from fewgen.data.sources import UNLABELED, ImageSet, Source, SourceOptions, register_prefix
from fewgen.errors import FewgenError, FewgenWarning

DEFAULT_MAX_SIDE = 64  # the largest side chosen without --image-size
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class Listing:
    """The files of one folder tree, with what was left out counted (hidden, not images by suffix)."""

    def __init__(self):
        self.hidden: list[Path] = []
        self.other: list[Path] = []

    def images(self, folder: Path) -> list[Path]:
        """The image files under ``folder``, its subfolders too (as ``predict`` searches), sorted by path."""
        files = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                self.hidden.append(path)
            elif path.is_dir():
                files += self.images(path)
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(path)  # a broken symbolic link too: it is named when its header is read
            else:
                self.other.append(path)
        return files

    def classes(self, folder: Path) -> dict[str, list[Path]]:
        """``{class name: image files}`` for each subfolder; an empty class or two names that differ only in case
        are errors."""
        classes: dict[str, list[Path]] = {}
        for sub in sorted(folder.iterdir()):
            if sub.name.startswith("."):
                self.hidden.append(sub)
            elif sub.is_dir():
                classes[sub.name] = self.images(sub)
                if not classes[sub.name]:
                    raise FewgenError(f"class folder {sub} holds no images; add images to it or remove it")
            else:
                self.other.append(sub)
        by_case: dict[str, str] = {}
        for name in classes:
            if name.casefold() in by_case:
                raise FewgenError(f"class folders '{by_case[name.casefold()]}' and '{name}' in {folder} differ only in case; "
                                  "merge them into one folder or rename one")
            by_case[name.casefold()] = name
        return classes


def _header(path: Path, decode: bool = False) -> tuple[bool, tuple[int, int]]:
    """``(is grayscale, (W, H))`` of the image at ``path`` from its header (EXIF orientation applied to the size),
    or one sentence naming the file. ``decode``: also decode the pixels, so a file whose header reads but whose
    data is damaged (a truncated JPEG) is found now, not mid-training."""
    if not path.exists():
        raise FewgenError(f"cannot read image {path} (a broken symbolic link); fix or remove it")
    try:
        with Image.open(path) as image:
            size = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that swap width and height
                size = size[::-1]
            gray = is_gray(image)
            if decode:
                image.load()
            return gray, size
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from None


def _readable(paths: list[Path]) -> tuple[list[Path], list[tuple[bool, tuple[int, int]]], list[Path]]:
    """The unlabeled files that decode, their headers, and the files skipped (one warning each). Every file is
    decoded once here (4 threads: PIL decodes outside the GIL), so the count that pretrain prints is the count it
    trains on, and a damaged file is not met again in every epoch and every worker."""

    def check(path: Path):
        try:
            return _header(path, decode=True)
        except FewgenError as exc:
            return exc

    kept, headers, skipped = [], [], []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, result in zip(paths, pool.map(check, paths, chunksize=64)):
            if isinstance(result, FewgenError):
                warnings.warn(f"skipped unlabeled image: {result}", FewgenWarning, stacklevel=3)
                skipped.append(path)
            else:
                headers.append(result)
                kept.append(path)
    return kept, headers, skipped


def image_side(image_size: int | None, shorter_sides: list[int], labeled_dir: Path) -> int:
    """The side of the square images: ``image_size`` when given (checked), else the labeled images' median
    shorter side, at most :data:`DEFAULT_MAX_SIDE` (photos are read small: the backbones are CPU-sized; pretrain
    prints the size). A side outside ``MIN_SIDE..MAX_SIDE`` is refused before any image is resized."""
    if image_size is not None:
        return check_image_size(image_size)
    median = int(np.median(shorter_sides))
    if median < MIN_SIDE:
        raise FewgenError(f"the labeled images in {labeled_dir} are {median} pixels on their shorter side (the median); "
                          f"give --image-size N (between {MIN_SIDE} and {MAX_SIDE}) or use larger images")
    return min(median, DEFAULT_MAX_SIDE)


def load_folder(path: Path, image_size: int | None = None, resize: str = "crop", labels: Path | None = None) -> Source:
    """Read ``path`` laid out as in the module docstring into a :class:`Source`. ``labels``: a CSV of ``path,label``
    rows (:mod:`fewgen.data.label_file`) that labels images of ``unlabeled/``. A folder of unlabeled images alone is
    read too (to pretrain on and to choose what to label); the commands that need labels ask
    :meth:`Source.require_labels`."""
    path = Path(path).expanduser()
    labeled_dir, unlabeled_dir, test_dir = path / "labeled", path / "unlabeled", path / "test"
    if not path.is_dir():
        raise FewgenError(f"folder {path} does not exist; give folder:PATH with PATH/labeled/<class>/ images")
    listing = Listing()
    labeled = listing.classes(labeled_dir) if labeled_dir.is_dir() else {}
    unlabeled = listing.images(unlabeled_dir) if unlabeled_dir.is_dir() else []
    if not labeled and not unlabeled:
        if not labeled_dir.is_dir():
            raise FewgenError(f"folder {path} has no 'labeled' subfolder; put labeled images in {labeled_dir}/<class>/ "
                              f"(or unlabeled ones in {unlabeled_dir}/)")
        raise FewgenError(f"folder {labeled_dir} is empty; add one subfolder of images per class")
    if labels is not None:
        labeled, unlabeled = _with_label_file(labels, path, labeled, unlabeled)
    class_names = sorted(labeled)
    test = listing.classes(test_dir) if test_dir.is_dir() else {}
    if test_dir.is_dir() and not test:
        raise FewgenError(f"folder {test_dir} is empty; add one subfolder of images per class, or remove it")
    unknown = sorted(set(test) - set(class_names))
    if unknown:
        raise FewgenError(f"test class '{unknown[0]}' in {test_dir} has no labeled images; add {labeled_dir / unknown[0]}/ or remove it")

    labeled_paths = [p for c in class_names for p in labeled[c]]
    test_paths = [p for c in class_names for p in test.get(c, [])]
    headers = [_header(p) for p in labeled_paths + test_paths]
    for labeled_path in labeled_paths:
        open_image(labeled_path)  # the few labeled images are decoded now, so a broken one is named before any work
    unlabeled, unlabeled_headers, skipped = _readable(unlabeled)
    gray = all(g for g, _ in headers + unlabeled_headers)
    sized = headers[: len(labeled_paths)] or unlabeled_headers  # the labeled images set the size, else the unlabeled
    side = image_side(image_size, [min(size) for _, size in sized], labeled_dir if labeled_paths else unlabeled_dir)
    preprocess = Preprocess("L" if gray else "RGB", (side, side), resize)

    train_labels = [i for i, c in enumerate(class_names) for _ in labeled[c]] + [UNLABELED] * len(unlabeled)
    test_labels = [i for i, c in enumerate(class_names) for _ in test.get(c, [])]
    optional = [False] * len(labeled_paths) + [True] * len(unlabeled)  # a bad unlabeled image is skipped when decoded
    train = ImageSet(ImageFiles(labeled_paths + unlabeled, preprocess, optional), torch.tensor(train_labels, dtype=torch.int64))
    test_set = ImageSet(ImageFiles(test_paths, preprocess), torch.tensor(test_labels, dtype=torch.int64)) if test_paths else None
    notes = {"path": str(path), "skipped_unlabeled": [str(p) for p in skipped],
             "hidden_left_out": len(listing.hidden), "non_images_left_out": len(listing.other)}
    if listing.hidden or listing.other:
        warnings.warn(f"left out {len(listing.hidden)} hidden files or folders and {len(listing.other)} files that are not "
                      f"images by their suffix ({', '.join(sorted(IMAGE_SUFFIXES))}) under {path}", FewgenWarning, stacklevel=2)
    return Source(name=f"folder:{path}", train=train, test=test_set, class_names=class_names, notes=notes,
                  preprocess=preprocess)


def _with_label_file(file: Path, folder: Path, labeled: dict[str, list[Path]],
                     unlabeled: list[Path]) -> tuple[dict[str, list[Path]], list[Path]]:
    """The labeled classes and the unlabeled images once the CSV's labels are applied: each listed image of
    ``unlabeled/`` moves to its class; a listed image of ``labeled/<class>/`` must name that class; any other path
    is one sentence."""
    listed = read_label_file(file, folder)
    in_folder = {p.resolve(): c for c, paths in labeled.items() for p in paths}
    pool = {p.resolve(): p for p in unlabeled}
    moved: dict[str, list[Path]] = {}
    for image, label in listed.items():
        if image in in_folder:
            if in_folder[image] != label:
                raise FewgenError(f"{file}: {image} has two labels, '{label}' in the file and '{in_folder[image]}' by its "
                                  "folder; keep one")
        elif image in pool:
            open_image(pool[image])  # a labeled image is decoded now, so a broken one is named before any work
            moved.setdefault(label, []).append(pool.pop(image))
        else:
            raise FewgenError(f"{file}: {image} is not an image of {folder / 'unlabeled'}/ or {folder / 'labeled'}/; "
                              "list only the folder's training images")
    merged = {c: sorted(labeled.get(c, []) + moved.get(c, [])) for c in sorted(set(labeled) | set(moved))}
    return merged, list(pool.values())


@register_prefix("folder:")
def _load_folder_source(path: str, options: SourceOptions) -> Source:
    return load_folder(Path(path), options.image_size, options.resize, options.labels)
