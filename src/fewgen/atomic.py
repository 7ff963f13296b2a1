"""Atomic writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and a crash leaves the previous
version in place, so nothing already computed is lost.
"""

from __future__ import annotations

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


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the permissions a plain open() would
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_folder(target: str | Path) -> Iterator[Path]:
    """Yield a new temporary folder beside ``target``; rename it onto ``target`` (which must not exist) on success,
    remove it on failure. The folder appears whole or not at all."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp_path, 0o777 & ~_UMASK)
    try:
        yield tmp_path
        os.rename(tmp_path, target)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path, ignore_errors=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | Path, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_npy(target: str | Path, array: np.ndarray) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_tensors(target: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Save a flat dict of tensors as safetensors, atomically."""
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(target) as tmp:
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
    with open(target, "a") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())


def save_figure(fig, target: str | Path) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
