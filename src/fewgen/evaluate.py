"""Shots x seeds x heads, plus baselines, on identical seeded draws -> rows of results.

Every row records dataset, backbone, checkpoint hash, feature spec, head,
shots, seed, test accuracy and macro-F1, the number of test images, the
accuracy on the validation draw (the only number any selection may use), what
the head was fitted on (``data``: labeled, pool or test), the candidate setting
chosen on validation (``tuned``, of ``candidates``), and fit / predict seconds;
``extract_seconds`` (feature extraction for the spec, 0 when cached) and
``label_free_seconds`` (UMAP and neighbour-graph fits this fit triggered) are the
one-off costs, each counted once per evaluation. Rows are appended to ``RUN/results.jsonl`` as each
group finishes, so a killed evaluation keeps what it computed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fewgen.atomic import append_jsonl
from fewgen.chooser import Candidate, best, mean_validation
from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.backbones.pixels import PixelsBackbone
from fewgen.baselines import BASELINES
from fewgen.data.sources import Source
from fewgen.data.splits import Draws, pool_targets
from fewgen.draw_rows import DrawRows
from fewgen.eval_config import EvalConfig  # noqa: F401 (re-exported: the CLI and the API build it)
from fewgen.errors import FewgenError
from fewgen.features import FeatureCache
from fewgen.heads import PoolMemory, make_head, uses_pool
from fewgen.results import DATA_USES, HEAD_DEFAULTS, make_row, method_name  # noqa: F401 (re-exported)
from fewgen.resume import DoneRows, Journal
from fewgen.rundir import RESULTS_FILE
from fewgen.progress import bar_disabled
from fewgen.students import STUDENTS
from fewgen.teaching import choose_teachers, class_probabilities

# The settings a pool head tries on every draw; per k, the one with the best mean validation accuracy is kept.
# Few on purpose: every extra candidate scored on the same validation draw inflates the winner's estimate.
CANDIDATES: dict[str, list[dict]] = {
    "selftrain": [{"space": "features"}, {"space": "umap"}],
    "propagate": [{"space": "features"}, {"space": "umap"}],
}


class Evaluation(DrawRows):
    """Runs heads and baselines on one source's draws, appending rows to ``run_dir/results.jsonl``."""

    def __init__(self, run_dir: Path, source: Source, cfg: EvalConfig, eval_id: str | None = None,
                 draws: Draws | None = None):
        """``draws``: labels chosen by a selection (:mod:`fewgen.chosen_draws`); default, ``cfg.shots`` random
        images per class (:meth:`Draws.make`)."""
        cfg.check()
        source.require_test()  # before drawing: a missing test split is the first thing to say
        draws = draws or Draws.make(source, cfg.shots, cfg.seeds, cfg.val_per_class)
        super().__init__(run_dir, source, draws, eval_id)
        self.cfg = cfg
        self.pools = self.draws.pools  # [P_f] sorted: the train split minus fold f
        self.pool = self.pools[0]  # the pool of the fixed validation draw (of fold 0 when cross-validated)
        self.cache = FeatureCache(self.run_dir)
        self.memory = PoolMemory(self.cache.root / "pool")  # UMAP embeddings, neighbour lists: once per spec
        self.done = DoneRows(self.run_dir / RESULTS_FILE, cfg.redo)  # rows a killed or earlier run already wrote
        self.journal = Journal(self.cache.root / "candidates.jsonl", cfg.redo)  # the pool heads' scored candidates
        self.cache.save_labels("test", self.y_test, source.class_names)

    def run_features(self, backbone: Backbone, checkpoint: str, specs: list[FeatureSpec], heads: tuple[str, ...],
                     scaling: str | None = None) -> list[dict]:
        """Every spec x head x draw on ``backbone``'s (cached) features; every spec is checked before any work.

        Heads that learn from the pool get the pool's features (memory-mapped cache) with ``y == -1`` outside the
        draw; each of their candidate settings (:data:`CANDIDATES`) is fitted on every draw, and per k the setting
        with the best mean validation accuracy over the seeds is kept (the row's ``tuned``). A row already in
        ``results.jsonl`` is not computed again (:mod:`fewgen.resume`); it is returned with the new ones."""
        for spec in specs:
            backbone.check_spec(spec)
        head_params = {"scaling": scaling or self.cfg.scaling}
        rows = []
        for spec in specs:
            rows += self._run_spec(backbone, checkpoint, spec, heads, head_params)
        return rows

    def _run_spec(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, heads: tuple[str, ...],
                  head_params: dict) -> list[dict]:
        """The rows of one spec: those already written, and the others computed draw by draw, each appended as it is
        scored (a pool head's, per k once all its seeds are: :meth:`_finish_group`)."""
        precision = backbone.feature_precision()
        probes = {(head, draw): self.probe(backbone.name, checkpoint, spec.to_dict(), head, draw, head_params=head_params,
                                           data=self._data_use(head), feature_precision=precision)
                  for draw in self.draws.labeled for head in heads}
        seeds_of = defaultdict(list)
        for shots, seed in self.draws.labeled:
            seeds_of[shots].append(seed)
        rows, todo = self._split_done(probes, seeds_of)
        if not todo:
            return sorted(rows, key=lambda row: (row["shots"], row["seed"]))
        started = time.perf_counter()
        train_f = self.cache.get(backbone, checkpoint, spec, "train", self.draws.union, self.source.train.images)
        test_f = self.cache.get(backbone, checkpoint, spec, "test", np.arange(len(self.y_test)), self.test.images)
        timing = {"extract_seconds": time.perf_counter() - started}  # 0 when every array came from the cache
        scored: dict[tuple, list[dict]] = defaultdict(list)  # (head, candidate) -> a row per draw
        by_fold, layout = {}, backbone.token_layout(spec)  # fold -> (validation, pool features); how tokens are cut
        for (shots, seed), idx in tqdm(self.draws.by_fold(), desc=f"{backbone.name} {spec.label()}",
                                       disable=bar_disabled(self.cfg.progress), leave=False):
            draw_heads = [head for head in heads if (head, (shots, seed)) in todo]
            if not draw_heads:
                continue
            fold = self.draws.fold_of[(shots, seed)]
            if fold not in by_fold:
                started = time.perf_counter()
                self.memory.forget_objects()  # the last fold's UMAP and neighbour models: another pool
                by_fold = {fold: (
                    self.cache.get(backbone, checkpoint, spec, "train", self.draws.folds[fold], self.source.train.images),
                    self._pool_features(backbone, checkpoint, spec, test_f, fold) if any(map(uses_pool, heads)) else None)}
                timing["extract_seconds"] += time.perf_counter() - started
            for head_name in draw_heads:
                if uses_pool(head_name):
                    x, y = by_fold[fold][1], self._pool_labels(idx, fold)
                else:
                    x, y = train_f[np.searchsorted(self.draws.union, idx)], self.y_train[idx]
                data = (x, y, by_fold[fold][0], test_f)
                fitted = self._fit_candidates(head_name, probes[(head_name, (shots, seed))], data, layout, timing, scored)
                if head_name not in CANDIDATES:
                    append_jsonl(self.run_dir / RESULTS_FILE, fitted)
                    rows += fitted
                elif all(len([r for r in scored[(head_name, n)] if r["shots"] == shots]) == len(seeds_of[shots])
                         for n in range(len(CANDIDATES[head_name]))):
                    rows += self._finish_group(head_name, shots, scored)
        self.memory.forget_objects()  # the next spec has another pool: its models are of no more use
        return sorted(rows, key=lambda row: (row["shots"], row["seed"]))

    def _split_done(self, probes: dict[tuple, dict], seeds_of: dict[int, list[int]]) -> tuple[list[dict], set]:
        """``(rows already written, the (head, draw) pairs to compute)`` for one spec. A head is done at k when every
        seed's row is there; a pool head's k that is not is computed whole (its candidate is chosen over all the
        seeds; the candidates already scored come from the journal), another head's draws one by one."""
        heads = dict.fromkeys(head for head, _ in probes)
        done = {(head, shots) for head in heads for shots in seeds_of
                if all(self.done.has(probes[(head, (shots, seed))]) for seed in seeds_of[shots])}
        todo = {(head, draw) for head, draw in probes if (head, draw[0]) not in done and (
            head in CANDIDATES or not self.done.has(probes[(head, draw)]))}
        rows = [self.done.get(probe) for key, probe in probes.items() if key not in todo]
        return rows, todo

    def _fit_candidates(self, head_name: str, probe: dict, data: tuple, layout, timing: dict,
                        scored: dict[tuple, list[dict]]) -> list[dict]:
        """Fit each candidate setting of ``head_name`` on one draw (``data``: x, y, validation and test features),
        or take it from the journal where a killed evaluation scored it; each new candidate row is journaled."""
        x, y, val_f, test_f = data
        candidates = CANDIDATES.get(head_name, [{}])
        fitted = []
        for number, tuned in enumerate(candidates):
            row = self.journal.get(probe, tuned) if head_name in CANDIDATES else None
            if row is None:
                params = {**probe["head_params"], **tuned, "memory": self.memory, "layout": layout}
                label_free_s = self.memory.seconds
                result = self._fit_head(head_name, probe["seed"], params, x, y, val_f, test_f)
                label_free_s = self.memory.seconds - label_free_s  # UMAP / graph fits this draw triggered
                row = self._row(probe["backbone"], probe["checkpoint"], probe["spec"], head_name, probe["shots"],
                                probe["seed"], *result, probe["head_params"], feature_precision=probe["feature_precision"],
                                data=probe["data"], tuned=tuned, transductive=probe["data"] == "test",
                                candidates=len(candidates), label_free_seconds=label_free_s, **timing)
                if head_name in CANDIDATES:
                    self.journal.add(row)
            scored[(head_name, number)].append(row)
            fitted.append(row)
        return fitted

    def _finish_group(self, head_name: str, shots: int, scored: dict[tuple, list[dict]]) -> list[dict]:
        """A pool head's rows at ``shots``, every seed's candidates scored: the candidate chosen on validation, its
        rows appended to results."""
        group = {key: [row for row in rows if row["shots"] == shots] for key, rows in scored.items() if key[0] == head_name}
        chosen = choose_candidates(group)
        append_jsonl(self.run_dir / RESULTS_FILE, chosen)
        return chosen

    def _pool_features(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, test_f: np.ndarray,
                       fold: int = 0) -> np.ndarray:
        """Features ``[P, D]`` of fold ``fold``'s pool (train split minus its validation set), cached and
        memory-mapped; cross-validated, the whole train split is cached once and each fold's pool copied out of it.
        In transductive mode the test features follow, unlabeled."""
        if len(self.pools) == 1:
            pool_f = self.cache.get(backbone, checkpoint, spec, "train", self.pool, self.source.train.images, mmap=True)
        else:
            every = self.cache.get(backbone, checkpoint, spec, "train", np.arange(len(self.y_train)),
                                   self.source.train.images, mmap=True)
            pool_f = np.asarray(every[self.pools[fold]])
        return np.concatenate([pool_f, test_f]) if self.cfg.transductive else pool_f

    def _pool_labels(self, idx: np.ndarray, fold: int = 0) -> np.ndarray:
        """``[P (+ test)]``: -1 everywhere but the labeled draw ``idx`` (train indices), which keeps its labels."""
        return pool_targets(self.pools[fold], idx, self.y_train, len(self.y_test) if self.cfg.transductive else 0)

    def _data_use(self, head_name: str) -> str:
        """What a head fitted on: ``labeled`` (the draw), ``pool`` (plus the unlabeled pool) or ``test`` (transductive)."""
        if not uses_pool(head_name):
            return "labeled"
        return "test" if self.cfg.transductive else "pool"

    @staticmethod
    def _fit_head(head_name: str, seed: int, params: dict, x: np.ndarray, y: np.ndarray, val_f: np.ndarray,
                  test_f: np.ndarray):
        """Fit on ``(x, y)``; returns ``(test predictions, validation predictions, fit seconds, predict seconds)``."""
        t0 = time.perf_counter()
        head = make_head(head_name, random_state=seed, **params).fit(x, y)
        t1 = time.perf_counter()
        pred = head.predict(test_f)
        t2 = time.perf_counter()
        return pred, head.predict(val_f) if len(val_f) else np.empty(0), t1 - t0, t2 - t1

    def run_pixels(self) -> list[dict]:
        pixels = PixelsBackbone(image_shape=self.source.image_shape)
        return self.run_features(pixels, "-", [FeatureSpec()], (self.cfg.pixel_head,), self.cfg.pixel_scaling)

    def run_trained(self, name: str) -> list[dict]:
        """Trained baseline ``name`` (the protocol of :mod:`fewgen.baselines`) on each labeled draw, and on that draw's
        pool too if it learns from the pool (its rows say data=pool); one row per draw, appended as it finishes."""
        entry, config = BASELINES[name], self.cfg.baseline_config(name)
        model_class = entry.model_class()
        seeds = getattr(config, "seeds", 0) or self.cfg.seeds  # a costly one may run on the first seeds only
        draws = {key: idx for key, idx in self.draws.labeled.items() if key[1] < seeds}
        rows = []
        for (shots, seed), idx in tqdm(draws.items(), desc=name, disable=bar_disabled(self.cfg.progress), leave=False):
            done = self.done.get(self.probe(name, "-", config.spec(), name, (shots, seed),
                                            data="pool" if entry.uses_pool else "labeled"))
            if done is not None:
                rows.append(done)
                continue
            model = model_class(config, self.source.hflip_preserves_label, seed)
            pool = self.draws.pool_of((shots, seed)) if entry.uses_pool else None
            row = self.classifier_row(name, config.spec(), model, idx, shots, seed, pool=pool)
            append_jsonl(self.run_dir / RESULTS_FILE, [row])
            rows.append(row)
        return rows

    def run_students(self, backbone: Backbone, checkpoint: str, feature_rows: list[dict]) -> list[dict]:
        """Each student of ``--students`` on each draw, taught by a head on ``backbone``'s frozen features: per k, the
        (spec, head, candidate) of ``feature_rows`` with the best mean validation accuracy (``--teacher`` limits it
        to one head), refitted on the draw. The teacher's probabilities for the draw's pool, and only the pool
        (the train split minus the validation set: never a validation or test image), are the student's targets.
        Two rows per draw and student (data=pool, the teacher's method in ``teacher``), appended as they finish: the
        student's, and ``student-NAME+teacher``'s, the mean of the student's and its teacher's probabilities (an
        ensemble of the two, scored like any method and chosen on validation like one)."""
        from fewgen.students.student import Student

        teachers = choose_teachers(feature_rows, self.cfg.teacher)
        if set(teachers) != set(self.cfg.shots):
            raise FewgenError(f"--students need a teacher's rows at every k, and the heads gave them at k = "
                              f"{', '.join(map(str, sorted(teachers))) or 'none'}; give --heads (or --teacher) a head to run")
        config = self.cfg.student_config
        seeds = config.seeds or self.cfg.seeds
        rows = []
        draws = {key: idx for key, idx in self.draws.labeled.items() if key[1] < seeds}
        for (shots, seed), idx in tqdm(draws.items(), desc="students", disable=bar_disabled(self.cfg.progress), leave=False):
            teacher = teachers[shots]
            spec, pool = FeatureSpec.from_dict(teacher["spec"]), self.draws.pool_of((shots, seed))
            fields = dict(data="pool", feature_precision=backbone.feature_precision(), student=config.spec(),
                          teacher=method_name(teacher))
            probes = [self.probe(backbone.name, checkpoint, spec.to_dict(), f"{STUDENTS[name].head}{suffix}", (shots, seed),
                                 **fields) for name in self.cfg.students for suffix in ("", "+teacher")]
            if all(self.done.has(probe) for probe in probes):
                rows += [self.done.get(probe) for probe in probes]
                continue
            started = time.perf_counter()
            head, pool_f = self.fit_teacher(backbone, checkpoint, spec, teacher, idx, pool, seed)  # once for every student
            targets = class_probabilities(head, pool_f, self.source.num_classes)
            teacher_s = time.perf_counter() - started
            teacher_proba = self.teacher_probabilities(backbone, checkpoint, spec, head, (shots, seed))
            for entry in (STUDENTS[name] for name in self.cfg.students):
                mine = [probe for probe in probes if probe["head"] in (entry.head, f"{entry.head}+teacher")]
                if all(self.done.has(probe) for probe in mine):
                    rows += [self.done.get(probe) for probe in mine]
                    continue
                student = Student(config, self.source.hflip_preserves_label, seed, entry.name, backbone, spec).teach(targets)
                fields = dict(backbone=backbone.name, checkpoint=checkpoint, teacher=method_name(teacher),
                              student=config.spec(), teacher_seconds=teacher_s, feature_precision=backbone.feature_precision())
                row = self.classifier_row(entry.head, spec.to_dict(), student, idx, shots, seed, pool=pool, **fields)
                both = self.ensemble_row(f"{entry.head}+teacher", spec.to_dict(), student, teacher_proba, row, fields)
                append_jsonl(self.run_dir / RESULTS_FILE, [row, both])
                rows += [row, both]
        return rows

    def teacher_probabilities(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, head: Any,
                              draw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """``(test [N_test, K], validation [N_val, K])``: a fitted teacher's probabilities for the test split and the
        draw's validation set, from the cached features (test is only scored, as every method's is)."""
        images, K = self.source.train.images, self.source.num_classes
        test_f = self.cache.get(backbone, checkpoint, spec, "test", np.arange(len(self.y_test)), self.test.images)
        val = self.draws.val_of(draw)
        val_f = self.cache.get(backbone, checkpoint, spec, "train", val, images) if len(val) else None
        return (class_probabilities(head, test_f, K),
                class_probabilities(head, val_f, K) if val_f is not None else np.empty((0, K), np.float32))

    def ensemble_row(self, method: str, spec: dict, fitted: Any, teacher_proba: tuple[np.ndarray, np.ndarray],
                     student_row: dict, fields: dict) -> dict:
        """The row of the mean of the ``fitted`` student's and its teacher's probabilities (``teacher_proba``: test,
        validation), on the student's draw (``student_row``, whose other ``fields`` it shares); its fit time is the
        student's plus the teacher's."""
        shots, seed = student_row["shots"], student_row["seed"]
        val = self.draws.val_of((shots, seed))
        started = time.perf_counter()
        test_p = (class_probabilities(fitted, self.test.images, self.source.num_classes) + teacher_proba[0]) / 2
        val_p = (class_probabilities(fitted, self.source.train.images[torch.as_tensor(val)], self.source.num_classes)
                 + teacher_proba[1]) / 2 if len(val) else np.empty((0, 0))
        return self._row(student_row["backbone"], student_row["checkpoint"], spec, method, shots, seed,
                         np.argmax(test_p, axis=1), np.argmax(val_p, axis=1) if len(val) else np.empty(0),
                         student_row["fit_seconds"] + student_row["teacher_seconds"],
                         time.perf_counter() - started, data="pool",
                         **{k: v for k, v in fields.items() if k not in ("backbone", "checkpoint")})

    def fit_teacher(self, backbone: Backbone, checkpoint: str, spec: FeatureSpec, teacher: dict, idx: np.ndarray,
                    pool: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
        """``(head, the pool's features [P, D] memory-mapped)``: ``teacher`` (a row's ``head``, with its
        ``head_params`` and ``tuned`` candidate if given) fitted on draw ``idx``, a pool head also on the features of
        ``pool`` (train indices) with ``y == -1`` outside the draw."""
        images = self.source.train.images
        pool_f = self.cache.get(backbone, checkpoint, spec, "train", pool, images, mmap=True)
        if uses_pool(teacher["head"]):
            x, y = pool_f, pool_targets(pool, idx, self.y_train)
        else:
            x, y = self.cache.get(backbone, checkpoint, spec, "train", np.sort(idx), images), self.y_train[np.sort(idx)]
        params = {**teacher.get("head_params", {}), **teacher.get("tuned", {}), "memory": self.memory,
                  "layout": backbone.token_layout(spec)}
        return make_head(teacher["head"], random_state=seed, **params).fit(x, y), pool_f

    def run_baselines(self, skip: tuple[str, ...] = ()) -> list[dict]:
        """Every baseline of ``--baselines`` but ``skip``, in that order: pixels as the heads are run, the others trained."""
        rows = []
        for name in (name for name in self.cfg.baselines if name not in skip):
            rows += self.run_trained(name) if BASELINES[name].where else self.run_pixels()
        return rows


def choose_candidates(scored: dict[tuple[str, int], list[dict]]) -> list[dict]:
    """Rows of each head's chosen candidate: ``scored[(head, candidate)]`` holds a row per draw; per head and k,
    the candidate with the best mean validation accuracy over the seeds wins (:func:`fewgen.chooser.best`: one
    head, so ties go to fewer settings, then the first numbered). Test accuracy is never read here."""
    by_head: dict[str, dict[int, list[dict]]] = defaultdict(dict)
    for (head, number), rows in scored.items():
        by_head[head][number] = rows
    chosen = []
    for candidates in by_head.values():
        for shots in sorted({row["shots"] for rows in candidates.values() for row in rows}):
            at_k = {number: [row for row in rows if row["shots"] == shots] for number, rows in candidates.items()}
            winner = best(Candidate(number, mean_validation(rows), settings=len(rows[0].get("tuned", {})))
                          for number, rows in sorted(at_k.items()) if rows)
            chosen += at_k[winner.key]
    return sorted(chosen, key=lambda row: (row["shots"], row["seed"]))
