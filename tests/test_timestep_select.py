"""`fewgen select`: the timestep/block sweep scores on the validation draw only, and evaluate uses its choice."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fewgen.backbones import FeatureSpec, load_backbone
from fewgen.backbones.ddpm import DDPMBackbone, DDPMConfig
from fewgen.cli import main
from fewgen.data.splits import validation_draw
from fewgen.errors import FewgenError
from fewgen.report.summary import summarise
from fewgen.timestep_select import SelectConfig, read_selection, run_selection

FAST = SelectConfig(timesteps=(0, 100, 600), shots=2, seeds=2, heads=("logreg",), val_per_class=4, progress=False)


class Spy(DDPMBackbone):
    """Records every image the sweep reads."""

    seen: list = []

    def features(self, x, spec):
        Spy.seen.append(x.clone())
        return super().features(x, spec)


def test_selection_reads_only_the_train_split_and_scores_on_validation(digits, tmp_path):
    source = dataclasses.replace(digits, test=None)  # a source without a test split: nothing to leak
    backbone = Spy(DDPMConfig(preset="tiny"), digits.image_shape)
    chosen = run_selection(tmp_path, backbone, "ckpt", source, FAST)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 4 * 2  # timesteps x (up0, up1, up0+up1, up0+up1+mid) x seeds
    assert all(r["stage"] == "select" and r["accuracy"] is None and r["n_val"] == 40 for r in rows)
    val = validation_draw(digits.train.labels, 4, digits.class_names)
    read = np.concatenate([x.numpy() for x in Spy.seen])
    train = {bytes(img) for img in digits.train.images.numpy()}
    assert all(bytes(img) in train for img in read)
    assert {bytes(img) for img in digits.train.images[val].numpy()} <= {bytes(img) for img in read}
    # the choice is the best mean validation accuracy, and is stored and plotted
    means = {}
    for r in rows:
        means.setdefault((tuple(r["spec"]["layers"]), r["spec"]["timestep"][0]), []).append(r["val_accuracy"])
    best = max(means, key=lambda key: np.mean(means[key]))  # computed here, not by choose()
    assert (tuple(chosen["spec"]["layers"]), chosen["spec"]["timestep"][0]) == best
    assert chosen["val_accuracy"] == pytest.approx(np.mean(means[best])) and chosen["n_seeds"] == 2
    assert read_selection(tmp_path, "ckpt") == FeatureSpec.from_dict(chosen["spec"])
    assert read_selection(tmp_path, "another-checkpoint") is None
    assert (tmp_path / "timestep_sweep.png").stat().st_size > 1000
    assert summarise(rows) == {}  # sweep rows never enter accuracy tables


def test_select_rejects_a_backbone_without_timesteps(digits, tmp_path):
    from fewgen.backbones.vae import VAEBackbone

    with pytest.raises(FewgenError, match="has none"):
        run_selection(tmp_path, VAEBackbone(image_shape=digits.image_shape), "c", digits, FAST)
    with pytest.raises(FewgenError, match="no block up9"):
        run_selection(tmp_path, DDPMBackbone(DDPMConfig(preset="tiny"), digits.image_shape), "c", digits,
                      dataclasses.replace(FAST, blocks=(("up9",),)))


def test_cli_select_then_evaluate_uses_the_choice(ddpm_run, capsys):
    assert main(["select", str(ddpm_run), "--timesteps", "0,200", "--shots", "2", "--seeds", "2", "--heads", "logreg",
                 "--val-per-class", "4", "--blocks", "up0,up0+up1", "--no-progress"]) == 0
    assert "chosen on validation" in capsys.readouterr().out
    selection = json.loads((ddpm_run / "selection.json").read_text())
    assert selection["scored_on"].startswith("validation")
    assert main(["evaluate", str(ddpm_run), "--shots", "1", "--seeds", "1", "--heads", "logreg,umap,selftrain,propagate",
                 "--baselines", "", "--val-per-class", "4", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (ddpm_run / "results.jsonl").read_text().splitlines()]
    evaluated = [r for r in rows if r.get("stage", "evaluate") == "evaluate"]
    assert evaluated and all(r["spec"] == selection["spec"] for r in evaluated)
    assert {r["head"] for r in evaluated} == {"logreg", "umap", "selftrain", "propagate"}  # every head works on the ddpm
    assert all(r["accuracy"] is not None and r["n_test"] == 500 for r in evaluated)
    assert all(r["feature_precision"] in ("bf16", "fp32") for r in evaluated)


def test_cli_evaluate_spec_options(ddpm_run, capsys):
    assert main(["evaluate", str(ddpm_run), "--shots", "1", "--seeds", "1", "--heads", "knn", "--baselines", "",
                 "--val-per-class", "4", "--timesteps", "10,0+50", "--blocks", "up1", "--spatial-pool", "2x2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "ddpm[layers=up1,timestep=10,pool=2x2]+knn" in out and "ddpm[layers=up1,timestep=0+50,pool=2x2]+knn" in out
    backbone = load_backbone(ddpm_run / "backbone")
    assert backbone.block_dims("2x2")["up1"] == 4 * backbone.block_dims()["up1"]


def test_cli_select_errors(ddpm_run, tmp_path, capsys):
    assert main(["select", str(ddpm_run), "--timesteps", "5,2000", "--no-progress"]) == 2
    assert "must lie in 0..999" in capsys.readouterr().err
    assert main(["evaluate", str(ddpm_run), "--parts", "stacked", "--timesteps", "5"]) == 2
    assert "one or the other" in capsys.readouterr().err
    vae = tmp_path / "vae"
    assert main(["pretrain", "--run", str(vae), "--backbone", "vae", "--epochs", "1", "-o", "channels=8", "--no-progress"]) == 0
    assert main(["select", str(vae), "--no-progress"]) == 2
    assert "has none" in capsys.readouterr().err


def test_select_scores_pool_heads_without_the_validation_images(digits, tmp_path, monkeypatch):
    from fewgen.heads import PropagateHead
    import fewgen.timestep_select as select_module

    fitted = []

    class Recording(PropagateHead):
        def fit(self, X, y):
            fitted.append((np.asarray(X), np.asarray(y)))
            return super().fit(X, y)

    cfg = dataclasses.replace(FAST, timesteps=(100,), heads=("logreg", "propagate"), blocks=(("up0",),))
    original = select_module.make_head
    monkeypatch.setattr(select_module, "make_head",
                        lambda name, layout=None, **kw: Recording(**kw) if name == "propagate" else original(name, **kw))
    chosen = run_selection(tmp_path, DDPMBackbone(DDPMConfig(preset="tiny"), digits.image_shape), "ckpt", digits, cfg)
    val = validation_draw(digits.train.labels, 4, digits.class_names)
    assert fitted and all(len(X) == len(digits.train) - len(val) and (y != -1).sum() == 20 for X, y in fitted)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["head"]: r["data"] for r in rows} == {"logreg": "labeled", "propagate": "pool"}
    assert chosen["head"] in ("logreg", "propagate")


def test_a_sweep_score_is_the_accuracy_on_the_validation_draw_not_on_the_labeled_draw():
    """Features in which the labeled draw is separable and each validation image sits in the other class's
    cluster: a head fitted on the draw is right on every labeled image and wrong on every validation image."""
    from fewgen.timestep_select import SelectionDraws

    y = np.array([0, 0, 1, 1, 0, 1])
    x = np.array([[-1.0], [-1.1], [1.0], [1.1], [1.05], [-1.05]])
    draws = SelectionDraws(val=np.array([4, 5]), labeled={0: np.array([0, 1, 2, 3])}, union=np.arange(6), y=y,
                           pool=np.arange(4))
    assert draws.score(x, 0, "logreg") == 0.0
