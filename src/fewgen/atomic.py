"""Atomic writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and a crash leaves the previous
version in place, so nothing already computed is lost. A full disk (``ENOSPC``,
whichever library wrote) becomes :class:`DiskFull`: one sentence naming the path,
the space it needed and the space left, after the temporary file is removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors.torch import save_file

from fewgen.errors import FewgenError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(FewgenError):
    """A write that found no space left on its disk: one sentence naming the path, the space needed and left."""

    def __init__(self, message: str, path: Path, needed: int | None):
        super().__init__(message)
        self.path, self.needed = path, needed

    def advising(self, advice: str) -> "DiskFull":
        """The same sentence with the caller's ``advice`` (what to rerun so that nothing computed is redone)."""
        return disk_full(self.path, self.needed, advice)


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def free_bytes(path: str | Path) -> int:
    """Bytes free on the disk that holds ``path`` (its nearest existing folder)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def disk_full(path: str | Path, needed: int | None = None, advice: str = "run the command again") -> DiskFull:
    """The sentence for a full disk at ``path``: what it needed (when known), what is free, and what to do."""
    need = f"about {_megabytes(needed)} needed, " if needed else ""
    return DiskFull(f"no space left on the disk of {path} ({need}{_megabytes(free_bytes(path))} free); free some "
                    f"space there and {advice}", Path(path), needed)


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full: an OSError with ENOSPC/EDQUOT, or a library's error that carries one
    only in its text (safetensors' ``SafetensorError``, ``shutil.Error`` from copytree)."""
    return (isinstance(exc, OSError) and exc.errno in NO_SPACE) or "No space left on device" in str(exc) \
        or "Disk quota exceeded" in str(exc)


@contextmanager
def full_disk_as_sentence(path: str | Path, needed: int | None = None, advice: str = "run the command again",
                          whole: bool = False) -> Iterator[None]:
    """Run the body; a full disk in it becomes :func:`disk_full` for ``path`` (other errors pass unchanged). With
    ``whole``, ``path`` is what the user asked for (a folder being written): a full disk at a file inside it is
    said of ``path`` too, with this ``advice``."""
    try:
        yield
    except DiskFull as exc:
        if whole:
            raise disk_full(path, needed or exc.needed, advice) from None
        raise
    except Exception as exc:
        if is_no_space(exc):
            raise disk_full(path, needed, advice) from None
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(target: str | Path, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success (a full disk: one
    sentence for ``target``, with the ``needed`` bytes when known)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the permissions a plain open() would
    try:
        with full_disk_as_sentence(target, needed):
            yield tmp_path
            os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_folder(target: str | Path, needed: int | None = None, advice: str = "run the command again") -> Iterator[Path]:
    """Yield a new temporary folder beside ``target``; rename it onto ``target`` (which must not exist) on success,
    remove it on failure. The folder appears whole or not at all; a full disk is one sentence for ``target`` (with
    ``needed`` bytes and ``advice`` in it)."""
    target = Path(target)
    with full_disk_as_sentence(target, needed, advice):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp_path, 0o777 & ~_UMASK)
    try:
        with full_disk_as_sentence(target, needed, advice, whole=True):
            yield tmp_path
            os.rename(tmp_path, target)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path, ignore_errors=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target, len(text.encode())) as tmp:
        tmp.write_text(text)


def write_json(target: str | Path, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_npy(target: str | Path, array: np.ndarray) -> None:
    with atomic_path(target, array.nbytes) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_tensors(target: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Save a flat dict of tensors as safetensors, atomically."""
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(target, sum(v.numel() * v.element_size() for v in contiguous.values())) as tmp:
        save_file(contiguous, str(tmp), metadata=metadata)
        plain_permissions(tmp)  # safetensors recreates the file with mode 0600


def plain_permissions(path: str | Path) -> None:
    """Give ``path`` the permissions a plain ``open()`` would (0666 less the umask)."""
    os.chmod(path, 0o666 & ~_UMASK)


def append_jsonl(target: str | Path, rows: list[dict]) -> None:
    """Append rows to a JSON-lines file in one write, flushed to disk."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    data = payload.encode()
    with full_disk_as_sentence(target, len(data)):
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except BaseException:
                os.ftruncate(fd, start)  # no half-written row: the file ends where it ended before
                raise
        finally:
            os.close(fd)


def save_figure(fig, target: str | Path) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
