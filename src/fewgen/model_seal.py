"""A model folder checked whole: ``model.json`` records a SHA-256 digest of every other file in the folder (the
backbone's files, the head's arrays and settings, a student's weights, a nested teacher folder's files) and a digest
of its own fields (class names and their order, preprocessing, spec, head), so that :func:`check_seal` can refuse a
folder in which anything that decides a prediction changed after ``fewgen fit`` wrote it, naming the file.

Written last, inside the folder that :func:`fewgen.atomic.atomic_folder` renames into place: a folder is sealed
whole or not there at all. Hidden files (a ``.DS_Store``) and files the seal does not list (a README a user adds)
decide nothing and are not checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fewgen.atomic import write_json
from fewgen.errors import FewgenError

MODEL_FILE = "model.json"
FILES, DIGEST = "files", "digest"  # model.json's keys: {relative path: sha256} and the sha256 of its other fields


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fields_digest(model: dict) -> str:
    """sha256 of ``model.json``'s fields but the digest itself, in a canonical JSON form."""
    fields = {key: value for key, value in model.items() if key != DIGEST}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def folder_files(folder: Path) -> dict[str, str]:
    """``{path relative to folder: sha256}`` of every plain, non-hidden file under ``folder`` but its ``model.json``."""
    folder = Path(folder)
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.as_posix() != MODEL_FILE and not any(p.startswith(".") for p in relative.parts):
            found[relative.as_posix()] = _sha256(path)
    return found


def seal(folder: Path) -> None:
    """Add the digests to ``folder/model.json`` (the folder is otherwise complete)."""
    path = Path(folder) / MODEL_FILE
    model = json.loads(path.read_text())
    model[FILES] = folder_files(folder)
    model[DIGEST] = _fields_digest(model)
    write_json(path, model)


def refit_advice(model: dict) -> str:
    """The one piece of advice for a model folder that cannot be used: fit it again, into a new folder."""
    return f"fit the model again into a new folder ('fewgen fit {model.get('run', 'RUN')} --out NEW_FOLDER')"


def check_seal(folder: Path, model: dict) -> None:
    """Refuse ``folder`` (whose ``model.json`` holds ``model``) when a file it lists is missing or changed, or when
    ``model.json``'s own fields changed: one sentence naming the file."""
    folder = Path(folder)
    advice = refit_advice(model)
    if not isinstance(model.get(FILES), dict) or model.get(DIGEST) != _fields_digest(model):
        raise FewgenError(f"model folder file {folder / MODEL_FILE} is damaged: it was changed after the model was "
                          f"fitted, or written by a fewgen that did not seal it; {advice}")
    for relative, expected in model[FILES].items():
        path = folder / relative
        if not path.is_file():
            raise FewgenError(f"model folder file {path} is missing; {advice}")
        if _sha256(path) != expected:
            raise FewgenError(f"model folder file {path} is damaged: it changed after the model was fitted; {advice}")
