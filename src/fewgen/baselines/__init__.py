"""The baselines' registry: what ``evaluate`` runs on the very draws the heads see, by name.

It imports no torch, so that the command line's ``--baselines`` help is made from it at once. Each entry names
the module and class of a trained baseline, loaded only when it runs. That class follows one protocol:

- ``Config``: a dataclass subclassing :class:`fewgen.configs.BaselineConfig`, whose fields are
  :func:`fewgen.configs.option` settings (``--baseline-option NAME.KEY=VALUE``; ``fewgen baselines`` lists them);
- ``__init__(config, hflip, seed)``: ``hflip`` says whether a horizontal flip keeps the label;
- ``fit(images, labels, pool)``: uint8 ``[N, C, H, W]``, labels ``[N]``, and the unlabeled pool (images
  ``[P, C, H, W]``) when the entry ``uses_pool``, else ``None``;
- ``predict(images)`` -> labels ``[N]`` and ``predict_proba(images)`` -> ``[N, K]`` over ``classes_``.

Adding a baseline is one module in this package plus one line in :data:`REGISTERED` (code outside fewgen may add
an entry to :data:`BASELINES` that names its own module). ``pixels`` is the one entry
without a class: it is the ``pixels`` backbone with a head (``--pixel-head``), run as the heads are.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from fewgen.errors import FewgenError


@dataclass(frozen=True)
class Baseline:
    """A registry entry: the baseline's ``name`` (its rows' method), one line of help, where its class lives
    (``module:Class``: a module of this package, else any importable module, e.g. ``mylab.baselines:Mine``; empty for
    ``pixels``), whether it learns from the unlabeled pool, and
    whether ``evaluate`` runs it when ``--baselines`` is not given."""

    name: str
    summary: str
    where: str = ""
    uses_pool: bool = False
    default: bool = False
    shortcuts: tuple[tuple[str, str], ...] = ()  # (setting, command-line option) for the few with their own option

    def flag(self, key: str) -> str:
        """How a user sets ``key`` on the command line: its shortcut option, else ``--baseline-option NAME.KEY``."""
        return dict(self.shortcuts).get(key, f"--baseline-option {self.name}.{key}")

    def model_class(self) -> type:
        """The baseline's class (imports its module, and with it torch)."""
        module, cls = self.where.split(":")
        local = f"fewgen.baselines.{module}"
        return getattr(importlib.import_module(local if importlib.util.find_spec(local) else module), cls)

    def config(self, settings: dict[str, str] | None = None):
        """The baseline's ``Config`` from ``KEY=VALUE`` strings (the defaults where a key is not given)."""
        from fewgen.configs import config_from_options

        return config_from_options(self.model_class().Config, settings or {}, f"--baseline-option {self.name}.")


REGISTERED = (
    Baseline("pixels", "raw pixels with --pixel-head", default=True),
    Baseline("resnet18", "ResNet-18 from scratch on the draw", "resnet:ResNetBaseline", default=True,
             shortcuts=(("steps", "--resnet-steps"), ("seeds", "--resnet-seeds"))),
    Baseline("fixmatch", "FixMatch with ResNet-18 on the draw plus the unlabeled pool; costly on a CPU, so only when "
             "named", "fixmatch:FixMatchBaseline", uses_pool=True, shortcuts=(("steps", "--fixmatch-steps"),)),
    Baseline("mixmatch", "MixMatch (seed 003's semi-supervised baseline) on the draw plus the unlabeled pool; costly on a "
             "CPU, so only when named", "mixmatch:MixMatchBaseline", uses_pool=True),
)
BASELINES: dict[str, Baseline] = {entry.name: entry for entry in REGISTERED}
DEFAULT_BASELINES = tuple(entry.name for entry in REGISTERED if entry.default)


def get_baseline(name: str, option: str = "--baselines") -> Baseline:
    """The entry called ``name``; an unknown name is one sentence that lists the known ones."""
    if name not in BASELINES:
        raise FewgenError(f"unknown baseline '{name}' in {option}; use some of: {', '.join(BASELINES)}")
    return BASELINES[name]
