"""The parsers of the command line's option text: each bad value is one sentence that names its option."""

from __future__ import annotations

import pytest

from fewgen.cli.options import alternatives, baseline_configs, feature_specs, ints, key_values, names, validation
from fewgen.errors import FewgenError
from fewgen.feature_spec import FeatureSpec


def test_comma_separated_whole_numbers():
    assert ints("1, 2,4,", "--shots") == (1, 2, 4)
    with pytest.raises(FewgenError, match="--shots takes comma-separated whole numbers like 1,2,4, got '1,two'"):
        ints("1,two", "--shots")
    with pytest.raises(FewgenError, match="--shots is empty"):
        ints(" , ", "--shots")


def test_names_alternatives_and_validation():
    assert names(" logreg, ,knn ") == ("logreg", "knn")
    assert alternatives("50+350, 100", "--timesteps", int) == [(50, 350), (100,)]
    with pytest.raises(FewgenError, match="--timesteps takes values like 50,350 or 50\\+350, got 'x'"):
        alternatives("x", "--timesteps", int)
    assert validation(" 16 ") == 16 and validation("CV") == "cv" and validation("auto") == "auto"


def test_feature_specs_come_from_one_kind_of_option():
    assert feature_specs("", "", "", "", "") is None  # the run's default (select's choice, else the backbone's)
    assert feature_specs("", "", "", "mean", "") == [FeatureSpec(pool="mean")]  # asked for: the global average
    specs = feature_specs("", "50,100", "mid+up0", "mean", "")
    assert [(s.timestep, s.layers) for s in specs] == [((50,), ("mid", "up0")), ((100,), ("mid", "up0"))]
    assert [s.part for s in feature_specs("mu,z", "", "", "mean", "")] == ["mu", "z"]
    with pytest.raises(FewgenError, match="--parts is for the vae and vqvae, --timesteps/--blocks for the ddpm"):
        feature_specs("mu", "50", "", "mean", "")


def test_key_values():
    assert key_values(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(FewgenError, match="-o takes KEY=VALUE, got 'channels'"):
        key_values(["channels"], "-o")


def test_baseline_settings_from_names_and_shortcuts():
    configs = baseline_configs(["resnet18.steps=7", "fixmatch.mu=3"], {("resnet18", "seeds"): 2, ("fixmatch", "steps"): None})
    assert (configs["resnet18"].steps, configs["resnet18"].seeds, configs["fixmatch"].mu) == (7, 2, 3)
    with pytest.raises(FewgenError, match="--resnet-steps and --baseline-option resnet18.steps both set it; give one"):
        baseline_configs(["resnet18.steps=7"], {("resnet18", "steps"): 9})
    with pytest.raises(FewgenError, match="--baseline-option takes NAME.KEY=VALUE"):
        baseline_configs(["resnet18=7"])
    with pytest.raises(FewgenError, match="unknown baseline 'nope' in --baseline-option"):
        baseline_configs(["nope.steps=1"])


def test_the_old_pool_spelling_still_works_and_warns():
    from fewgen.cli.options import spatial_pool_of
    from fewgen.errors import FewgenWarning

    assert spatial_pool_of("4x4", None) == "4x4"
    with pytest.warns(FewgenWarning, match="--pool is now spelled --spatial-pool"):
        assert spatial_pool_of("4x4", "2x2") == "2x2"


def test_evaluate_and_select_take_the_old_pool_spelling_hidden():
    from typer.testing import CliRunner

    from fewgen.cli.app import app

    for command in ("evaluate", "select"):
        shown = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
        assert "--spatial-pool" in shown and "--pool " not in shown
