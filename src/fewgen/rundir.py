"""The run folder: its layout and names, its lock, its config, and opening a pretrained run (the imports flow one way).

A run folder holds ``config.json`` (dataset, backbone, settings, command, machine, and ``pretrain_chunks``: each
pretrain invocation's checkpoint with the training seconds summed so far), ``checkpoints/``
(per epoch, or every ``--checkpoint-every`` steps, for ``--resume``), ``backbone/`` (the final weights and their
config), ``features/`` (the feature cache: :mod:`fewgen.feature_files`), ``results.jsonl`` (one result row per
line: :mod:`fewgen.results`), ``samples.png``, ``reconstructions.png`` (originals above their reconstructions),
``accuracy_vs_labels.png``, ``summary.txt`` and, after ``fewgen select``, ``selection.json`` and
``timestep_sweep.png``. A ``fewgen augment`` run holds ``config.json``, ``results.jsonl`` and its slerp grids.
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

from fewgen import __version__, major
from fewgen.atomic import atomic_path
from fewgen.backbones import checkpoint_hash, load_backbone
from fewgen.data import load_source
from fewgen.data.sources import SourceOptions
from fewgen.errors import FewgenError

CONFIG_FILE = "config.json"
BACKBONE_DIR = "backbone"
RESULTS_FILE = "results.jsonl"
SELECTION_FILE = "selection.json"
SWEEP_PLOT = "timestep_sweep.png"
SUGGESTIONS_DIR = "suggestions"  # fewgen suggest's rounds: round-NN.csv, .png (contact sheet), .json
LOCK_FILE = ".lock"


@contextmanager
def run_lock(run_dir: Path, create: bool = False) -> Iterator[None]:
    """Hold ``RUN/.lock`` while a command writes the run folder; a second command gets one sentence, not a race.

    An advisory ``flock``: the kernel drops it when the holder exits, even by SIGKILL, so a killed run never
    leaves the folder locked. Without ``create``, a folder that does not exist is not made (the command that
    needs it says so); with it, a folder made here and left empty (the command failed at once) is removed. A lock
    file made here in a folder that is not a run (no config.json: the command refused it) is removed too."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() and not create:
        yield
        return
    created = not run_dir.exists()
    stray = not created and not (run_dir / LOCK_FILE).exists() and not (run_dir / CONFIG_FILE).exists()
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
        elif stray and not (run_dir / CONFIG_FILE).exists():  # not a run before or after: leave no lock file in it
            (run_dir / LOCK_FILE).unlink(missing_ok=True)


def read_run_config(run_dir: Path) -> dict:
    """``RUN/config.json``, or one sentence saying the folder is not a run."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FewgenError(f"{run_dir} is not a run folder ({CONFIG_FILE} is missing); run 'fewgen pretrain --run {run_dir}' first")
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FewgenError(f"{path} is damaged (not readable JSON: {exc}); pretrain a new run folder") from None
    if not isinstance(config, dict):
        raise FewgenError(f"{path} is damaged (not a JSON object); pretrain a new run folder")
    written = str(config.get("fewgen_version", __version__))  # the earliest runs did not record it
    if major(written) != major(__version__):
        raise FewgenError(f"run folder {run_dir} was written by fewgen {written}, and this is fewgen {__version__}; "
                          "pretrain a new run folder with this version")
    return config


def source_options_record(options: SourceOptions, source=None) -> dict:
    """What a run's config.json keeps of how its data was read, so later commands read it the same way: a folder's
    side as pretrain read it (chosen from the labeled images, or the unlabeled ones before any is labeled), so that
    labeling images later does not change the size the backbone reads."""
    side = options.image_size
    if side is None and source is not None and source.name.startswith("folder:"):
        side = source.preprocess.size[0]
    return {"data_root": str(options.data_root) if options.data_root else None, "image_size": side,
            "resize": options.resize}


def stored_source_options(run_config: dict, given: SourceOptions | None = None) -> SourceOptions:
    """The run's own data options, with ``given``'s data root (and download) when one is given."""
    root = given.data_root if given is not None and given.data_root is not None else run_config.get("data_root")
    return SourceOptions(data_root=root, download=bool(given and given.download), image_size=run_config.get("image_size"),
                         labels=given.labels if given is not None else None,
                         resize=run_config.get("resize", "stretch" if "image_size" not in run_config else "crop"))


def open_run(run_dir: Path, expected_backbone: str | None, source_options: SourceOptions | None, precision: str):
    """The run's backbone (with its feature precision), checkpoint hash and data source, for every command that reads
    a pretrained run (evaluate, select, fit); one sentence when the folder holds none or its data changed shape."""
    run_config = read_run_config(run_dir)
    if run_config.get("backbone") == "cglo":
        raise FewgenError(f"{run_dir} is a 'fewgen augment' run, which has no feature backbone to evaluate; its rows are in "
                          f"results.jsonl, and 'fewgen report {run_dir}' shows them")
    backbone = load_backbone(run_dir / BACKBONE_DIR, expected_backbone)
    backbone.precision = precision
    source = load_source(run_config["dataset"], stored_source_options(run_config, source_options))
    if tuple(source.image_shape) != tuple(backbone.image_shape):
        shape = "x".join(map(str, source.image_shape))
        raise FewgenError(f"{run_config['dataset']} now reads as {shape} images, but the backbone in {run_dir} was trained on "
                          f"{'x'.join(map(str, backbone.image_shape))} (for a folder, one colour image makes every image RGB; a run "
                          "pretrained without --image-size by an earlier fewgen kept no size, so its labeled images set it); restore the data, or pretrain a new run on it")
    return backbone, checkpoint_hash(run_dir / BACKBONE_DIR), source


def save_sample_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """uint8 ``[N, C, H, W]`` -> one PNG grid (``nrow`` images per row, default square), upscaled so small images stay visible."""
    grid = make_grid(images, nrow=nrow or int(len(images) ** 0.5 + 0.999), padding=1, pad_value=128)  # [C', H', W']
    picture = Image.fromarray(grid.permute(1, 2, 0).numpy())
    scale = max(1, 256 // max(picture.size))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="png")
    return path
