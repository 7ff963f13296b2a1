"""`fewgen augment` end to end on digits with tiny budgets: rows for every augmentation and ablation, the grid."""

import json
import re

import pytest
import torch

from fewgen.augment.classic import classic_augmentation
from fewgen import __version__
from fewgen.cli import main
from fewgen.evaluate import method_name

TINY = ["--shots", "2", "--seeds", "1", "--resnet-steps", "3", "-o", "steps=10", "-o", "channels=4",
        "-o", "code_dim=8", "--no-progress"]


@pytest.fixture(scope="module")
def augment_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("augment") / "run"
    assert main(["augment", "--run", str(run), *TINY]) == 0
    return run


def rows_of(run):
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_every_augmentation_gets_rows_on_every_draw(augment_run):
    rows = rows_of(augment_run)
    assert sorted({method_name(r) for r in rows}) == ["resnet18", "resnet18+cglo", "resnet18+cutout", "resnet18+erasing",
                                                      "resnet18+none"]
    assert {(r["shots"], r["seed"]) for r in rows} == {(2, 0)} and len(rows) == 5
    cglo = [r for r in rows if r["backbone"] == "resnet18+cglo"]
    assert all(r["spec"]["glo_loss"] in ("laplacian", "perceptual") and r["glo_seconds"] > 0 for r in cglo)
    assert not any(r["transductive"] for r in rows)
    assert (augment_run / "slerp_grid_k2.png").is_file()
    assert json.loads((augment_run / "config.json").read_text())["samples"] == "slerp_grid_k2.png"


def test_standard_augmentation_rows_match_the_resnet18_baseline(augment_run, tmp_path):
    """Same draws, seeds and budget: `augment`'s resnet18 row equals `evaluate`'s (the baselines are shared)."""
    from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig
    from fewgen.data import load_source
    from fewgen.data.splits import Draws

    source = load_source("digits")
    idx = Draws.make(source, (2,), 1, 16).labeled[(2, 0)]
    model = ResNetBaseline(ResNetConfig(steps=3), source.hflip_preserves_label, 0)
    model.fit(source.train.images[torch.as_tensor(idx)], source.train.labels.numpy()[idx])
    accuracy = float((model.predict(source.test.images) == source.test.labels.numpy()).mean())
    row = next(r for r in rows_of(augment_run) if r["backbone"] == "resnet18" and r["shots"] == 2)
    assert row["accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize("flags, method, transductive", [
    (["--no-classifier"], "resnet18+cglo(no-classifier)", False),
    (["--no-noise"], "resnet18+cglo(no-noise)", False),
    (["--interpolation", "lerp"], "resnet18+cglo(lerp)", False),
    (["--transductive"], "resnet18+cglo(transductive)", True),
])
def test_each_ablation_is_a_flag_that_adds_its_rows(augment_run, flags, method, transductive):
    before = len(rows_of(augment_run))
    assert main(["augment", "--run", str(augment_run), *TINY, "--augmentations", "cglo", *flags]) == 0
    new = rows_of(augment_run)[before:]
    assert [method_name(r) for r in new] == [method] and new[0]["transductive"] is transductive
    flag = method[method.index("(") + 1 : -1]
    assert (augment_run / f"slerp_grid_k2_{flag}.png").is_file()  # beside, not over, the full model's grid
    assert json.loads((augment_run / "config.json").read_text())["samples"] == "slerp_grid_k2.png"


def test_classic_augmentations_come_from_torchvision():
    x = torch.full((1, 16, 16), 200, dtype=torch.uint8)
    cutout = classic_augmentation("cutout", 16, hflip=False)
    out = cutout(x)
    assert out.dtype == torch.uint8 and (out == 0).sum() >= 8 * 8  # an 8x8 square erased (plus crop padding)
    assert torch.equal(classic_augmentation("none", 16, False)(x), x)


def test_bad_input(tmp_path, capsys):
    assert main(["augment", "--run", str(tmp_path / "r"), "--augmentations", "mixup", *TINY]) == 2
    assert "unknown augmentation 'mixup'" in capsys.readouterr().err
    assert main(["augment", "--run", str(tmp_path / "r"), "--interpolation", "cubic", *TINY]) == 2
    assert "--interpolation must be one of" in capsys.readouterr().err
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"backbone": "vae", "dataset": "digits", "fewgen_version": __version__}))
    assert main(["augment", "--run", str(tmp_path / "vae"), *TINY]) == 2
    assert "give 'fewgen augment' a new --run folder" in capsys.readouterr().err


def test_the_report_reads_an_augment_run(augment_run, tmp_path):
    assert main(["report", str(augment_run), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.html").read_text()
    assert "resnet18+cglo" in text and "a cGLO is fitted on each draw" in text
    assert text.count("data:image/png") == 2  # the accuracy curves and the slerp grid; no UMAP of end-to-end classifiers
    accuracy = {method_name(r): r["accuracy"] for r in rows_of(augment_run)}  # one draw: the difference itself
    cells = re.findall(r'data-reference="([^"]+)" data-shots="2" data-mean="([^"]+)"', text)
    assert {"resnet18", "resnet18+none", "resnet18+cutout", "resnet18+erasing"} <= {ref for ref, _ in cells}
    for reference, mean in cells:
        assert float(mean) == pytest.approx(accuracy["resnet18+cglo"] - accuracy[reference])


def test_a_bad_cglo_option_is_named(tmp_path, capsys):
    assert main(["augment", "--run", str(tmp_path / "r"), *TINY, "-o", "depth=3"]) == 2
    assert "unknown option '-o depth'; the settings are: code_dim" in capsys.readouterr().err
    assert main(["augment", "--run", str(tmp_path / "r"), *TINY, "-o", "loss=l2"]) == 2
    assert "glo loss must be one of auto, perceptual, laplacian" in capsys.readouterr().err


def test_the_summary_pairs_cglo_with_every_other_augmentation(augment_run):
    summary = (augment_run / "summary.txt").read_text()
    assert "resnet18+cglo: paired accuracy difference" in summary
    rows = {method_name(r): r["accuracy"] for r in rows_of(augment_run)}
    for other in ("resnet18", "resnet18+none", "resnet18+cutout", "resnet18+erasing"):
        line = next(line for line in summary.splitlines() if line.startswith(f"− {other} "))
        assert f"{100 * (rows['resnet18+cglo'] - rows[other]):+6.1f} (n=1)" in line  # one draw: the difference, no CI
    assert "head chosen" not in summary  # augmented classifiers have no head to choose


def test_evaluate_on_an_augment_run_says_what_it_is(augment_run, capsys):
    assert main(["evaluate", str(augment_run), "--shots", "2", "--seeds", "1"]) == 2
    assert "is a 'fewgen augment' run, which has no feature backbone" in capsys.readouterr().err


def test_a_rerun_skips_the_draws_it_already_has(augment_run):
    before = rows_of(augment_run)
    invocations = len(json.loads((augment_run / "config.json").read_text())["invocations"])
    assert main(["augment", "--run", str(augment_run), *TINY, "--augmentations", "none,cutout"]) == 0
    assert rows_of(augment_run) == before
    config = json.loads((augment_run / "config.json").read_text())
    assert len(config["invocations"]) == invocations + 1  # every invocation's command and machine are kept
    assert config["invocations"][-1]["augment"]["augmentations"] == ["none", "cutout"]
    assert config["samples"] == "slerp_grid_k2.png"  # an invocation without cGLO keeps the earlier grid


def test_an_interrupted_invocation_keeps_the_grid_in_the_config(augment_run, monkeypatch):
    from fewgen.augment.run import AugmentationRun

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(AugmentationRun, "run", interrupted)
    assert main(["augment", "--run", str(augment_run), *TINY, "--augmentations", "cglo", "--no-noise"]) == 130  # Ctrl-C
    config = json.loads((augment_run / "config.json").read_text())
    assert config["status"] == "augmenting" and config["samples"] == "slerp_grid_k2.png"


def test_mixmatch_joins_the_comparison_at_the_resnet18_budget_when_named(tmp_path, monkeypatch):
    """--augmentations mixmatch: MixMatch with ResNet-18 at the rows' steps, batch and lr, on the draw plus its pool
    (never a validation image), as seed 003 set it beside cGLO, Cutout and Random Erasing."""
    from fewgen.baselines.mixmatch import MixMatchBaseline
    from fewgen.data import load_source
    from fewgen.data.splits import Draws

    pools, fit = [], MixMatchBaseline.fit
    monkeypatch.setattr(MixMatchBaseline, "fit", lambda self, images, labels, pool=None: pools.append(pool) or fit(self, images, labels, pool))
    run = tmp_path / "run"
    assert main(["augment", "--run", str(run), *TINY, "--augmentations", "standard,mixmatch"]) == 0
    rows = {r["backbone"]: r for r in rows_of(run)}
    assert set(rows) == {"resnet18", "mixmatch"}
    mixmatch = rows["mixmatch"]
    assert mixmatch["data"] == "pool" and mixmatch["spec"]["steps"] == rows["resnet18"]["spec"]["steps"] == 3
    assert mixmatch["spec"]["network"] == "resnet18" and mixmatch["spec"]["batch_size"] == rows["resnet18"]["spec"]["batch_size"]
    source = load_source("digits")
    pool = Draws.make(source, (2,), 1, 16).pool_of((2, 0))  # the train split minus the validation draw
    assert len(pools) == 1 and torch.equal(pools[0], source.train.images[torch.as_tensor(pool)])
