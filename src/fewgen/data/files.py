"""Images read from files when they are needed, not all at once.

:class:`ImageFiles` stands where a uint8 tensor ``[N, C, H, W]`` of a split stands: it has ``len``,
``shape``, ``dtype`` and ``ndim``, and indexing it (an int, a slice, an index array) decodes just
those images. :func:`image_batches` and :func:`as_dataset` hand any split, in memory or on disk, to a
torch ``DataLoader``, whose worker processes decode files in parallel. So pretraining and feature
extraction hold one batch of decoded images per worker, never the whole pool.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, TensorDataset

from fewgen.errors import FewgenError


def open_image(path: Path) -> Image.Image:
    """The fully decoded image at ``path`` (a truncated file fails here), or one sentence naming it."""
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FewgenError(f"cannot read image {path} ({exc}); fix or remove the file") from None
    return image


def to_array(image: Image.Image, mode: str, size: tuple[int, int]) -> np.ndarray:
    """PIL image -> uint8 ``[C, H, W]`` in ``mode`` ('L' or 'RGB') at ``size`` (W, H), resized bilinearly."""
    image = image.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.BILINEAR)
    array = np.array(image, dtype=np.uint8)  # a writable copy, as torch wants
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


class ImageFiles:
    """``paths`` decoded on demand as ``mode`` ('L' or 'RGB') at ``size`` (W, H): a lazy uint8 ``[N, C, H, W]``."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, paths: Sequence[Path], mode: str, size: tuple[int, int]):
        self.paths = [Path(p) for p in paths]
        self.mode, self.size = mode, (int(size[0]), int(size[1]))

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), 1 if self.mode == "L" else 3, self.size[1], self.size[0]))

    def __len__(self) -> int:
        return len(self.paths)

    def decode(self, i: int) -> torch.Tensor:
        """Image ``i`` as uint8 ``[C, H, W]``."""
        return torch.from_numpy(to_array(open_image(self.paths[i]), self.mode, self.size))

    def __getitem__(self, index) -> torch.Tensor:
        """``[C, H, W]`` for an int; ``[M, C, H, W]`` for a slice or an index array (decoded now); a tuple indexes
        the images with its first item and the result with the rest, as a tensor would."""
        if isinstance(index, tuple):
            return self[index[0]][index[1:]]
        if isinstance(index, (int, np.integer)):
            return self.decode(int(index))
        rows = range(len(self))[index] if isinstance(index, slice) else np.asarray(index, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return torch.empty((0, *self.shape[1:]), dtype=torch.uint8)
        return torch.stack([self.decode(int(i)) for i in rows])

    def take(self, index) -> "ImageFiles":
        """The images at ``index``, still undecoded."""
        return ImageFiles([self.paths[int(i)] for i in np.asarray(index, dtype=np.int64).reshape(-1)], self.mode, self.size)


class _Decoded(Dataset):
    """Item ``i``: ``(image_i,)``, decoded in whichever process asks (a DataLoader worker)."""

    def __init__(self, files: ImageFiles):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor]:
        return (self.files.decode(i),)


def as_dataset(images: torch.Tensor | ImageFiles) -> Dataset:
    """A map-style dataset of ``(image,)`` items over a split in memory or on disk."""
    return _Decoded(images) if isinstance(images, ImageFiles) else TensorDataset(images)


def default_workers(images: torch.Tensor | ImageFiles) -> int:
    """DataLoader workers that decode: none for images in memory, up to 4 (one per core) for files."""
    return 0 if not isinstance(images, ImageFiles) else min(4, len(os.sched_getaffinity(0)))


def image_batches(images: torch.Tensor | ImageFiles, indices: np.ndarray | None = None, batch_size: int = 256,
                  workers: int | None = None) -> Iterator[torch.Tensor]:
    """uint8 batches ``[B, C, H, W]`` of ``images[indices]`` (all of them by default), in order."""
    indices = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64)
    if not isinstance(images, ImageFiles):
        for start in range(0, len(indices), batch_size):
            yield images[torch.as_tensor(indices[start : start + batch_size])]
        return
    workers = default_workers(images) if workers is None else workers
    loader = DataLoader(_Decoded(images.take(indices)), batch_size=batch_size, num_workers=workers,
                        prefetch_factor=2 if workers else None)
    try:
        for (batch,) in loader:
            yield batch
    except FewgenError as exc:  # raised in a worker: keep its sentence, not the worker's traceback text
        raise FewgenError(worker_sentence(exc)) from None


def worker_sentence(exc: Exception) -> str:
    """The original message of an exception a DataLoader worker raised (torch prefixes it with a traceback)."""
    text = str(exc)
    marker = f"{type(exc).__name__}: "
    return text.rsplit(marker, 1)[-1].strip() if "Original Traceback" in text else text
