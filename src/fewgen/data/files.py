"""Images read from files when they are needed, not all at once.

:class:`ImageFiles` stands where a uint8 tensor ``[N, C, H, W]`` of a split stands: it has ``len``,
``shape``, ``dtype`` and ``ndim``, and indexing it (an int, a slice, an index array) decodes just
those images. :func:`image_batches` and :func:`as_dataset` hand any split, in memory or on disk, to a
torch ``DataLoader``, whose worker processes decode files in parallel. So pretraining and feature
extraction hold one batch of decoded images per worker, never the whole pool.
"""

from __future__ import annotations

import hashlib

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError, FewgenWarning, worker_sentence  # noqa: F401 (worker_sentence re-exported)


class ImageFiles:
    """``paths`` decoded on demand by ``preprocess`` (:class:`~fewgen.data.preprocess.Preprocess`): a lazy uint8
    ``[N, C, H, W]``.

    A file that cannot be decoded ends the work with one sentence naming it, unless it is ``optional``
    (``bool [N]``; the unlabeled pool of a folder): then it is skipped with a warning, and the next readable
    optional file in the list stands in its place, so batches keep their size and a run's data order stays.
    """

    dtype = torch.uint8
    ndim = 4

    def __init__(self, paths: Sequence[Path], preprocess: Preprocess, optional: Sequence[bool] | None = None):
        self.paths = [Path(p) for p in paths]
        self.preprocess = preprocess
        self.optional = np.zeros(len(self.paths), dtype=bool) if optional is None else np.asarray(optional, dtype=bool)
        self._warned: set[Path] = set()  # optional files found unreadable while decoding, each warned about once

    @property
    def mode(self) -> str:
        return self.preprocess.mode

    @property
    def size(self) -> tuple[int, int]:
        return self.preprocess.size

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), self.preprocess.channels, self.size[1], self.size[0]))

    def __len__(self) -> int:
        return len(self.paths)

    def decode(self, i: int) -> torch.Tensor:
        """Image ``i`` as uint8 ``[C, H, W]``."""
        try:
            return torch.from_numpy(self.preprocess.file(self.paths[i]))
        except FewgenError as exc:
            if not self.optional[i]:
                raise
            if self.paths[i] not in self._warned:  # once per file in this process, not once per epoch
                self._warned.add(self.paths[i])
                warnings.warn(f"skipped unlabeled image: {exc}", FewgenWarning, stacklevel=2)
        candidates = np.flatnonzero(self.optional)
        for j in np.roll(candidates, -int(np.searchsorted(candidates, i, side="right"))):
            try:
                return torch.from_numpy(self.preprocess.file(self.paths[j]))
            except FewgenError:
                continue
        raise FewgenError(f"no unlabeled image can be read (the first is {self.paths[candidates[0]]}); fix or remove the files")

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

    def fingerprint(self, index) -> str:
        """A digest of the files at ``index`` (path, size and modification time of each, in order): which images
        these are, so that a cache of their features is not read for other files (a folder relabeled, files moved
        from unlabeled/ to labeled/, an image replaced)."""
        digest = hashlib.sha256()
        for i in np.asarray(index, dtype=np.int64).reshape(-1):
            path = self.paths[int(i)]
            try:
                stat = path.stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{path}\0missing\n".encode())
        return digest.hexdigest()[:16]

    def take(self, index) -> "ImageFiles":
        """The images at ``index``, still undecoded."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        return ImageFiles([self.paths[int(i)] for i in index], self.preprocess, self.optional[index])


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


