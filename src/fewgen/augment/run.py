"""``fewgen augment``: ResNet-18 trained on each labeled draw with each augmentation, cGLO included, and, when named,
MixMatch (Berthelot et al. 2019: ResNet-18 at the same steps, batch and lr, plus the draw's pool).

The draws are the ones ``fewgen evaluate`` uses (same shots, seeds and validation size give the same
images), so the rows compare with every other method. Each row's method is ``resnet18`` (standard
augmentation: the baseline itself), ``resnet18+none``, ``resnet18+cutout``, ``resnet18+erasing`` or
``resnet18+cglo`` (or ``mixmatch``, data=pool); an ablation adds its flags, e.g. ``resnet18+cglo(lerp,no-classifier)``. A cGLO is
fitted on each labeled draw alone (plus ``unlabeled`` images of the pool, or the test images in
transductive mode, for reconstruction only); its slerp grid for seed 0 of each k is saved as a PNG.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from fewgen.atomic import append_jsonl
from fewgen.augment.classic import AUGMENTATIONS, classic_augmentation
from fewgen.baselines.mixmatch import MixMatchBaseline
from fewgen.configs import MixMatchConfig
from fewgen.augment.glo import GLOConfig
from fewgen.augment.interpolate import INTERPOLATIONS
from fewgen.augment.train import CGLOReplacement, fit_cglo
from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig
from fewgen.data.sources import Source
from fewgen.errors import FewgenError
from fewgen.data.splits import Draws
from fewgen.draw_rows import DrawRows
from fewgen.results import read_rows
from fewgen.rundir import RESULTS_FILE, save_sample_grid
from fewgen.progress import bar_disabled

GRID_TS = torch.linspace(0, 1, 8)
SEMI_SUPERVISED = "mixmatch"  # named in --augmentations: MixMatch with ResNet-18 at the augmentations' budget


@dataclass
class AugmentConfig:
    """Which augmentations, on which draws, and the cGLO's settings and ablation flags."""

    shots: tuple[int, ...] = (1, 2, 5, 10)
    seeds: int = 5
    augmentations: tuple[str, ...] = AUGMENTATIONS
    val_per_class: int = 16
    resnet: ResNetConfig = field(default_factory=ResNetConfig)
    glo: GLOConfig = field(default_factory=GLOConfig)
    interpolation: str = "slerp"
    transductive: bool = False
    unlabeled: int = 0
    progress: bool = True

    def check(self) -> None:
        for name in self.augmentations:
            if name not in (*AUGMENTATIONS, SEMI_SUPERVISED):
                raise FewgenError(f"unknown augmentation '{name}' in --augmentations; use some of: "
                                  f"{', '.join((*AUGMENTATIONS, SEMI_SUPERVISED))}")
        if self.interpolation not in INTERPOLATIONS:
            raise FewgenError(f"--interpolation must be one of {', '.join(INTERPOLATIONS)}, got '{self.interpolation}'")
        if self.unlabeled < 0:
            raise FewgenError(f"--unlabeled must be 0 or more, got {self.unlabeled}")
        if self.seeds < 1:
            raise FewgenError(f"--seeds must be at least 1, got {self.seeds}")
        self.resnet.check(lambda key: f"--resnet-{key}", self.seeds)
        self.glo.check()

    def cglo_flags(self) -> list[str]:
        """The ablation flags that change the cGLO from the paper's full model."""
        return [flag for flag, on in (("lerp", self.interpolation == "lerp"), ("no-classifier", self.glo.gamma == 0),
                                      ("no-noise", self.glo.noise_dim == 0), ("transductive", self.transductive),
                                      (f"unlabeled={self.unlabeled}", self.unlabeled > 0)) if on]

    def method(self, augmentation: str) -> str:
        if augmentation == "standard":
            return "resnet18"
        if augmentation == SEMI_SUPERVISED:
            return SEMI_SUPERVISED
        flags = self.cglo_flags() if augmentation == "cglo" else []
        return f"resnet18+{augmentation}" + (f"({','.join(flags)})" if flags else "")


class AugmentationRun:
    """Trains the classifier per draw and augmentation, appending rows to ``run_dir/results.jsonl``."""

    def __init__(self, run_dir: Path, source: Source, cfg: AugmentConfig):
        cfg.check()
        self.run_dir, self.source, self.cfg = Path(run_dir), source, cfg
        self.scorer = DrawRows(  # scores each classifier on test and validation, as evaluate's baselines
            run_dir, source, Draws.make(source, cfg.shots, cfg.seeds, cfg.val_per_class))
        self.extra = self._extra_images()

    def _extra_images(self) -> torch.Tensor | None:
        """Images the cGLO reconstructs without labels: the test split (transductive) or part of the pool."""
        if self.cfg.transductive:
            return self.scorer.test.images
        if self.cfg.unlabeled:
            pool = np.setdiff1d(np.arange(len(self.source.train)), np.concatenate([self.scorer.draws.union, self.scorer.draws.val]))
            chosen = np.random.default_rng(0).choice(pool, size=min(self.cfg.unlabeled, len(pool)), replace=False)
            return self.source.train.images[torch.as_tensor(np.sort(chosen))]
        return None

    def _spec(self, augmentation: str) -> dict:
        """What a row was trained with: resnet18's budget (as in evaluate's rows), the augmentation, the cGLO."""
        cfg = self.cfg
        if augmentation == SEMI_SUPERVISED:
            return self.mixmatch().spec()  # as evaluate's mixmatch rows
        spec = cfg.resnet.spec()  # as evaluate's resnet18 rows
        if augmentation != "standard":
            spec["augmentation"] = augmentation
        if augmentation == "cglo":
            spec.update(glo=dataclasses.asdict(cfg.glo), interpolation=cfg.interpolation, unlabeled=cfg.unlabeled)
        return spec

    @staticmethod
    def _key(method: str, shots: int, seed: int, n_val: int, spec: dict) -> tuple:
        settings = {k: v for k, v in spec.items() if k != "glo_loss"}  # glo_loss is known only after fitting
        return method, shots, seed, n_val, json.dumps(settings, sort_keys=True)

    def _done(self) -> dict[tuple, dict]:
        """Rows already in results.jsonl with the same method, draw and settings: a rerun skips them (an
        interrupted benchmark resumes where it stopped) and returns them with the new ones."""
        path = self.run_dir / RESULTS_FILE
        rows = read_rows(path) if path.is_file() else []
        return {self._key(r["backbone"], r["shots"], r["seed"], r.get("n_val"), r["spec"]): r for r in rows}

    def run(self) -> list[dict]:
        rows, done = [], self._done()
        draws = self.scorer.draws.labeled.items()
        n_val = len(self.scorer.draws.val)
        for (shots, seed), idx in tqdm(draws, desc="augment", disable=bar_disabled(self.cfg.progress), leave=False):
            group = []
            for name in self.cfg.augmentations:
                key = self._key(self.cfg.method(name), shots, seed, n_val, self._spec(name))
                if key in done:
                    rows.append(done[key])
                    continue
                group.append(self._row(name, shots, seed, idx))
            append_jsonl(self.run_dir / RESULTS_FILE, group)
            rows += group
        return rows

    def mixmatch(self) -> MixMatchConfig:
        """MixMatch at the ResNet-18 rows' network, steps, labeled batch and learning rate (its own settings else)."""
        r = self.cfg.resnet
        return MixMatchConfig(steps=r.steps, batch_size=r.batch_size, lr=r.lr, weight_decay=r.weight_decay,
                              precision=r.precision, network="resnet18")

    def _row(self, augmentation: str, shots: int, seed: int, idx: np.ndarray) -> dict:
        cfg, source = self.cfg, self.source
        if augmentation == SEMI_SUPERVISED:
            config = self.mixmatch()
            return self.scorer.classifier_row(SEMI_SUPERVISED, config.spec(), MixMatchBaseline(config, source.hflip_preserves_label, seed),
                                              idx, shots, seed, pool=self.scorer.draws.pool_of((shots, seed)))
        images, labels = source.train.images[torch.as_tensor(idx)], source.train.labels.numpy()[idx]
        spec = self._spec(augmentation)
        replacement, glo_seconds = None, 0.0
        if augmentation == "cglo":
            t0 = time.perf_counter()
            _, y_idx = np.unique(labels, return_inverse=True)
            model, _ = fit_cglo(images, y_idx, cfg.glo, seed, self.extra, cfg.resnet.precision)
            glo_seconds = time.perf_counter() - t0
            replacement = CGLOReplacement(model, y_idx, cfg.interpolation)
            spec["glo_loss"] = model.loss_name
            if seed == 0:
                self._save_grid(model, images, y_idx, shots)
        transform = classic_augmentation(augmentation, images.shape[-1], source.hflip_preserves_label)
        classifier = ResNetBaseline(cfg.resnet, source.hflip_preserves_label, seed, transform, replacement)
        return self.scorer.classifier_row(cfg.method(augmentation), spec, classifier, idx, shots, seed,
                                              transductive=augmentation == "cglo" and cfg.transductive,
                                              glo_seconds=glo_seconds)

    def _save_grid(self, model, images: torch.Tensor, y_idx: np.ndarray, shots: int) -> None:
        """The paper's Fig. 5: per class, an image, 8 interpolants t = 0..1 to another image of its class, that image."""

        rows = []
        for c in np.unique(y_idx):
            members = np.flatnonzero(y_idx == c)
            i, j = members[0], members[min(1, len(members) - 1)]
            path = model.sample(torch.full((8,), int(i)), torch.full((8,), int(j)), GRID_TS, self.cfg.interpolation).cpu()
            rows.append(torch.cat([images[i : i + 1], path, images[j : j + 1]]))
        flags = "".join(f"_{flag}" for flag in self.cfg.cglo_flags())  # an ablation keeps the full model's grid
        save_sample_grid(torch.cat(rows), self.run_dir / f"slerp_grid_k{shots}{flags}.png", nrow=10)
