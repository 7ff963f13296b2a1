"""Choose the diffusion timestep and the UNet blocks on the validation draw only.

The paper (Sec. 2.2, Fig. 1) swept the forward-noise timestep with a two-layer
head on 16 images per class, 5 repeats, and kept the best t; it scored on the
test split. Here every score comes from the validation draw, taken from the
train split: a head is fitted on a seeded labeled draw (which excludes the
validation images) and scored on the validation images. The test split is
never touched; :func:`run_selection` does not even need one.

Heads that learn from the unlabeled pool (``--heads logreg,umap,propagate``) are
fitted on the pool's features at each (t, blocks); the pool excludes the
validation draw too. This costs one pool extraction per timestep and one UMAP or
neighbour graph per (t, blocks), so sweep few timesteps with them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score
from tqdm.auto import tqdm

from fewgen.atomic import append_jsonl, write_json
from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.data.sources import Source
from fewgen.data.splits import Draws, pool_targets
from fewgen.chooser import Candidate, best
from fewgen.configs import DEFAULT_TIMESTEPS
from fewgen.errors import FewgenError
from fewgen.features import FeatureCache
from fewgen.heads import HEADS, PoolMemory, make_head, uses_pool
from fewgen.report.plots import plot_timestep_sweep
from fewgen.report.summary import sweep_table
from fewgen.results import make_row, stage
from fewgen.rundir import RESULTS_FILE, SELECTION_FILE, SWEEP_PLOT
from fewgen.progress import bar_disabled



@dataclass
class SelectConfig:
    """The sweep: timesteps x block subsets x heads x seeded draws of ``shots`` per class."""

    timesteps: tuple[int, ...] = DEFAULT_TIMESTEPS
    blocks: tuple[tuple[str, ...], ...] | None = None  # None: each up block, all up blocks, all up blocks + mid
    shots: int = 16
    seeds: int = 5
    heads: tuple[str, ...] = ("mlp", "logreg")
    val_per_class: int = 16
    # 4x4 cells: above the global average in 59 of 60 (blocks, t <= 200, head) cells of Fashion-MNIST's
    # validation draw, by 5.5 points on average (docs/DECISIONS.md)
    pool: str = "4x4"
    weights: str | None = None
    progress: bool = True

    def check(self, backbone: Backbone) -> None:
        if not hasattr(backbone, "block_dims"):
            raise FewgenError(f"'fewgen select' sweeps diffusion timesteps and blocks; backbone '{backbone.name}' has none")
        for name in self.heads:
            if name not in HEADS:
                raise FewgenError(f"unknown head '{name}' in --heads; use some of: {', '.join(HEADS)}")
        if self.seeds < 1 or self.shots < 1:
            raise FewgenError("--seeds and --shots must be at least 1")
        if self.val_per_class < 1:
            raise FewgenError(f"--val-per-class must be at least 1 (select scores on the validation draw alone), got "
                              f"{self.val_per_class}")
        for subset in self.subsets(backbone):
            backbone.check_spec(FeatureSpec(layers=subset, timestep=self.timesteps, pool=self.pool, weights=self.weights))

    def subsets(self, backbone) -> tuple[tuple[str, ...], ...]:
        if self.blocks:
            return self.blocks
        up = tuple(b for b in backbone.block_names() if b != "mid")
        return (*((b,) for b in up), up, (*up, "mid"))


def _columns(dims: dict[str, int], subset: tuple[str, ...]) -> np.ndarray:
    """Column indices of ``subset`` inside features that concatenate every block in ``dims`` order."""
    starts = np.cumsum([0, *dims.values()])
    offsets = dict(zip(dims, starts))
    return np.concatenate([np.arange(offsets[b], offsets[b] + dims[b]) for b in subset])


@dataclass
class SelectionDraws:
    """The validation draw and one labeled draw per seed (all from the train split), and their union:
    features for ``union`` are all a selection needs."""

    val: np.ndarray
    labeled: dict[int, np.ndarray]
    union: np.ndarray
    y: np.ndarray
    pool: np.ndarray  # the unlabeled pool: train indices outside the validation draw, sorted

    @classmethod
    def make(cls, source: Source, shots: int, seeds: int, val_per_class: int) -> "SelectionDraws":
        """The draws of :meth:`Draws.make` at one ``shots`` with a fixed validation draw (a repeated draw left out)."""
        draws = Draws.make(source, (shots,), seeds, val_per_class)
        labeled = {seed: idx for (_, seed), idx in draws.labeled.items()}
        return cls(draws.val, labeled, np.unique(np.concatenate([draws.val, *labeled.values()])),
                   source.train.labels.numpy(), draws.pools[0])

    def score(self, x: np.ndarray, seed: int, head_name: str, x_pool: np.ndarray | None = None, **head_params) -> float:
        """Fit ``head_name`` on seed ``seed``'s draw of ``x`` (rows = ``union``), or for a pool head on ``x_pool``
        (rows = ``pool``, ``y == -1`` outside the draw); accuracy on the validation draw."""
        idx = self.labeled[seed]
        head = make_head(head_name, random_state=seed, **head_params)
        if uses_pool(head_name):
            head.fit(x_pool, pool_targets(self.pool, idx, self.y))
        else:
            head.fit(x[np.searchsorted(self.union, idx)], self.y[idx])
        return float(accuracy_score(self.y[self.val], head.predict(x[np.searchsorted(self.union, self.val)])))


def run_selection(run_dir: Path, backbone: Backbone, checkpoint: str, source: Source, cfg: SelectConfig,
                  eval_id: str | None = None) -> dict:
    """Sweep, append ``stage=select`` rows to results.jsonl, store and return the chosen spec."""
    cfg.check(backbone)
    run_dir = Path(run_dir)
    eval_id = eval_id or time.strftime("%Y%m%d-%H%M%S")
    draws = SelectionDraws.make(source, cfg.shots, cfg.seeds, cfg.val_per_class)
    dims = backbone.block_dims(cfg.pool)
    every_block = tuple(dims)
    precision = backbone.feature_precision()
    cache, rows = FeatureCache(run_dir), []
    memory = PoolMemory(cache.root / "pool")  # a pool head's UMAP / neighbour graph: once per (t, blocks)
    for t in tqdm(cfg.timesteps, desc="timesteps", disable=bar_disabled(cfg.progress), leave=False):
        full = FeatureSpec(layers=every_block, timestep=(t,), pool=cfg.pool, weights=cfg.weights)
        features = cache.get(backbone, checkpoint, full, "train", draws.union, source.train.images)
        pool = cache.get(backbone, checkpoint, full, "train", draws.pool, source.train.images, mmap=True) \
            if any(map(uses_pool, cfg.heads)) else None
        group = []
        for subset in cfg.subsets(backbone):
            x = features[:, _columns(dims, subset)]
            x_pool = np.ascontiguousarray(pool[:, _columns(dims, subset)]) if pool is not None else None
            spec = FeatureSpec(layers=subset, timestep=(t,), pool=cfg.pool, weights=cfg.weights)
            for seed in draws.labeled:
                for head_name in cfg.heads:
                    t0 = time.perf_counter()
                    score = draws.score(x, seed, head_name, x_pool, memory=memory, layout=backbone.token_layout(spec))
                    group.append(make_row(
                        stage="select", dataset=source.name, backbone=backbone.name, checkpoint=checkpoint,
                        spec=spec.to_dict(), head=head_name, head_params={}, shots=cfg.shots, seed=seed,
                        data="pool" if uses_pool(head_name) else "labeled",
                        accuracy=None, val_accuracy=score, n_val=int(len(draws.val)),
                        fit_seconds=time.perf_counter() - t0, feature_precision=precision, eval_id=eval_id))
        memory.forget_objects()  # the next timestep's pool is another one
        append_jsonl(run_dir / RESULTS_FILE, group)
        rows += group
    selection = choose(rows)
    selection.update(checkpoint=checkpoint, shots=cfg.shots, seeds=cfg.seeds, val_per_class=cfg.val_per_class,
                     timesteps=list(cfg.timesteps), blocks=[list(s) for s in cfg.subsets(backbone)],
                     heads=list(cfg.heads), eval_id=eval_id, scored_on="validation draw (train split)")
    write_json(run_dir / SELECTION_FILE, selection)
    plot_timestep_sweep(rows, run_dir / SWEEP_PLOT, selection, title=f"{source.name}: validation accuracy vs timestep")
    return selection


def choose(rows: list[dict]) -> dict:
    """The (blocks, t, head) with the best mean validation accuracy, chosen by :func:`fewgen.chooser.best` (ties:
    the simpler head, then the first swept)."""
    table = sweep_table(rows)
    (blocks, t, head) = best(Candidate(key, mean, key[2]) for key, (mean, _, _) in table.items()).key
    mean, half, n = table[(blocks, t, head)]
    spec = next(r["spec"] for r in rows if stage(r) == "select" and tuple(r["spec"]["layers"]) == blocks
                and r["spec"]["timestep"][0] == t)
    return {"spec": spec, "head": head, "val_accuracy": mean, "val_ci": half, "n_seeds": n}


def read_selection(run_dir: Path, checkpoint: str) -> FeatureSpec | None:
    """The spec ``fewgen select`` stored for this checkpoint, or None."""
    path = Path(run_dir) / SELECTION_FILE
    if not path.is_file():
        return None
    selection = json.loads(path.read_text())
    if selection.get("checkpoint") != checkpoint:
        return None
    return FeatureSpec.from_dict(selection["spec"])
