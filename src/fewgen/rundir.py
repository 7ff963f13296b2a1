"""The run folder's names and plumbing, in one module that the rest imports (the imports flow one way).

A run folder holds ``config.json`` (dataset, backbone, settings, command, machine), ``checkpoints/``
(for ``--resume``), ``backbone/`` (the final weights and their config), ``features/`` (cache),
``results.jsonl``, ``samples.png``, ``reconstructions.png``, ``accuracy_vs_labels.png``, ``summary.txt``
and, after ``fewgen select``, ``selection.json`` and ``timestep_sweep.png``.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image
from torchvision.utils import make_grid

from fewgen.atomic import atomic_path
from fewgen.data.sources import SourceOptions
from fewgen.errors import FewgenError

CONFIG_FILE = "config.json"
BACKBONE_DIR = "backbone"
RESULTS_FILE = "results.jsonl"
SELECTION_FILE = "selection.json"
SWEEP_PLOT = "timestep_sweep.png"
LOCK_FILE = ".lock"


@contextmanager
def run_lock(run_dir: Path, create: bool = False) -> Iterator[None]:
    """Hold ``RUN/.lock`` while a command writes the run folder; a second command gets one sentence, not a race.

    An advisory ``flock``: the kernel drops it when the holder exits, even by SIGKILL, so a killed run never
    leaves the folder locked. Without ``create``, a folder that does not exist is not made (the command that
    needs it says so); with it, a folder made here and left empty (the command failed at once) is removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() and not create:
        yield
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FewgenError(f"another fewgen command ({holder}) is writing {run_dir}; wait for it to finish, "
                              "or use another run folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()
        if created and [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:  # the command wrote nothing: leave no folder
            (run_dir / LOCK_FILE).unlink()
            run_dir.rmdir()


def read_run_config(run_dir: Path) -> dict:
    """``RUN/config.json``, or one sentence saying the folder is not a run."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FewgenError(f"{run_dir} is not a run folder ({CONFIG_FILE} is missing); run 'fewgen pretrain --run {run_dir}' first")
    return json.loads(path.read_text())


def source_options_record(options: SourceOptions) -> dict:
    """What a run's config.json keeps of how its data was read, so later commands read it the same way."""
    return {"data_root": str(options.data_root) if options.data_root else None, "image_size": options.image_size,
            "resize": options.resize}


def stored_source_options(run_config: dict, given: SourceOptions | None = None) -> SourceOptions:
    """The run's own data options, with ``given``'s data root (and download) when one is given."""
    root = given.data_root if given is not None and given.data_root is not None else run_config.get("data_root")
    return SourceOptions(Path(root) if root else None, bool(given and given.download), run_config.get("image_size"),
                         run_config.get("resize", "stretch" if "image_size" not in run_config else "crop"))


def save_sample_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """uint8 ``[N, C, H, W]`` -> one PNG grid (``nrow`` images per row, default square), upscaled so small images stay visible."""
    grid = make_grid(images, nrow=nrow or int(len(images) ** 0.5 + 0.999), padding=1, pad_value=128)  # [C', H', W']
    picture = Image.fromarray(grid.permute(1, 2, 0).numpy())
    scale = max(1, 256 // max(picture.size))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="png")
    return path
