"""The baselines' registry: each entry keeps the protocol, and a new baseline is one class plus one entry."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from fewgen.baselines import BASELINES, Baseline, DEFAULT_BASELINES
from fewgen.cli import main
from fewgen.configs import BaselineConfig, option, option_help
from fewgen.data import load_source


@dataclasses.dataclass
class CentroidConfig(BaselineConfig):
    shrink: float = option(0.0, "Pull each centroid towards the mean of all by this fraction.")
    seeds: int = option(0, "Train on the draws of seeds 0..N-1 only; 0: every seed.")


class NearestCentroid:
    """A throwaway baseline, defined here and not in fewgen: the nearest class mean of the raw pixels. It records
    what it was fitted on, so that the tests can check which images reached it."""

    Config = CentroidConfig
    fitted: list[tuple[int, int, int | None]] = []  # (seed, labeled images, pool images or None)

    def __init__(self, config: CentroidConfig, hflip: bool, seed: int):
        self.config, self.seed = config, seed

    def fit(self, images: torch.Tensor, labels: np.ndarray, pool=None) -> "NearestCentroid":
        NearestCentroid.fitted.append((self.seed, len(images), None if pool is None else len(pool)))
        x = images.flatten(1).float().numpy()
        self.classes_ = np.unique(labels)
        centroids = np.stack([x[labels == c].mean(0) for c in self.classes_])
        self.centroids_ = centroids + self.config.shrink * (centroids.mean(0) - centroids)
        return self

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        distance = ((images.flatten(1).float().numpy()[:, None] - self.centroids_[None]) ** 2).sum(-1)
        scores = np.exp(-(distance - distance.min(1, keepdims=True)) / distance.std())
        return scores / scores.sum(1, keepdims=True)

    def predict(self, images: torch.Tensor) -> np.ndarray:
        return self.classes_[self.predict_proba(images).argmax(1)]


@pytest.fixture
def centroid(monkeypatch):
    """The registration line, as a new baseline's author writes it (here into the live registry)."""
    NearestCentroid.fitted.clear()
    for name, uses_pool in (("centroid", False), ("centroid-pool", True)):
        monkeypatch.setitem(BASELINES, name, Baseline(name, "nearest class mean of the pixels",
                                                      f"{__name__}:NearestCentroid", uses_pool=uses_pool))
    return NearestCentroid


@pytest.mark.parametrize("entry", [entry for entry in BASELINES.values() if entry.where], ids=lambda entry: entry.name)
def test_every_trained_baseline_keeps_the_protocol(entry):
    cls = entry.model_class()
    assert issubclass(cls.Config, BaselineConfig)
    assert all(text for _, _, text in option_help(cls.Config)), "every setting has its help"
    assert {key for key, _ in entry.shortcuts} <= {f.name for f in dataclasses.fields(cls.Config)}
    assert all(callable(getattr(cls, method, None)) for method in ("fit", "predict", "predict_proba"))
    assert set(DEFAULT_BASELINES) <= set(BASELINES)


def test_resnet_probabilities_agree_with_its_predictions():
    from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 1, 8, 8), generator=g, dtype=torch.uint8)
    model = ResNetBaseline(ResNetConfig(steps=2, batch_size=6, precision="fp32")).fit(images, np.arange(12) % 3)
    proba = model.predict_proba(images)
    assert proba.shape == (12, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (model.classes_[proba.argmax(1)] == model.predict(images)).all()


def test_a_registered_baseline_runs_on_the_heads_draws_with_its_settings(tmp_path, capsys, centroid):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--heads", "", "--baselines", "centroid,centroid-pool", "--shots", "1,2",
                 "--seeds", "2", "--val-per-class", "4", "-B", "centroid.shrink=0.5", "-B", "centroid.seeds=1",
                 "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    plain = [r for r in rows if r["backbone"] == "centroid"]
    pooled = [r for r in rows if r["backbone"] == "centroid-pool"]
    assert [(r["shots"], r["seed"]) for r in plain] == [(1, 0), (2, 0)]  # seeds=1: the first seed only
    assert len(pooled) == 4 and all(r["data"] == "pool" for r in pooled) and all(r["data"] == "labeled" for r in plain)
    assert plain[0]["spec"] == {"shrink": 0.5} and 0 < plain[0]["accuracy"] <= 1
    n_train = len(load_source("digits").train.labels)  # the pool: the train split minus the 10 x 4 validation images
    assert [fit[2] for fit in centroid.fitted] == [None, None] + [n_train - 40] * 4
    assert "centroid" in capsys.readouterr().out
    assert main(["baselines"]) == 0
    assert "-B centroid.shrink=0.0  Pull each centroid" in capsys.readouterr().out


def test_a_baseline_setting_out_of_range_is_one_sentence(tmp_path, capsys, centroid):
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    capsys.readouterr()
    code = main(["evaluate", str(run), "--baselines", "centroid", "--seeds", "2", "-B", "centroid.seeds=3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--baseline-option centroid.seeds must lie in 1..--seeds (2)" in err
    assert not (run / "results.jsonl").exists()
    assert main(["evaluate", str(run), "--resnet-steps", "5", "-B", "resnet18.steps=6", "--no-progress"]) == 2
    assert "--resnet-steps and --baseline-option resnet18.steps both set it; give one" in capsys.readouterr().err
