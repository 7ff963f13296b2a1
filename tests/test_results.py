"""Result rows: method names, the documented defaults of fields older rows lack, and reading a results file."""

from __future__ import annotations

import pytest

from fewgen.errors import FewgenError
from fewgen import __version__
from fewgen.results import (FIELDS, REQUIRED, data_use, head_label, head_params, make_row, method_base, method_name,
                            read_rows, stage, tuned)

CORE = {"dataset": "digits", "backbone": "vae", "checkpoint": "abc", "spec": {}, "head": "logreg", "shots": 1, "seed": 0,
        "val_accuracy": 0.5, "n_val": 160, "eval_id": "e"}


def test_method_names_hide_default_settings_and_mark_transductive_rows():
    row = {"backbone": "vae", "head": "mlp", "spec": {"part": "stacked", "pool": "mean"}, "head_params": {"scaling": "feature"}}
    assert method_name(row) == "vae[part=stacked]+mlp"
    assert method_name({**row, "head_params": {"scaling": "global"}, "data": "test"}) == "vae[part=stacked]+mlp(scaling=global,transductive)"
    assert method_name({"backbone": "pixels", "head": "logreg", "spec": {}}) == "pixels+logreg"
    assert method_name({"backbone": "resnet18", "head": "resnet18", "spec": {"steps": 200}}) == "resnet18"


def test_a_method_name_splits_into_what_it_reads_and_its_head():
    row = {"backbone": "ddpm", "head": "selftrain", "spec": {"layers": ["up0"], "timestep": [50]},
           "head_params": {"scaling": "global"}}
    assert f"{method_base(row)}+{head_label(row)}" == method_name(row)
    assert head_label(row) == "selftrain(scaling=global)" and "+" not in method_base(row)
    baseline = {"backbone": "fixmatch", "head": "fixmatch", "spec": {"steps": 5}}
    assert (method_base(baseline), head_label(baseline)) == ("fixmatch", "")


def test_a_students_name_shows_the_budget_that_is_not_the_default():
    from fewgen.configs import StudentConfig

    budget = StudentConfig().spec()
    row = {"backbone": "ddpm", "head": "student-small", "spec": {}, "student": budget}
    assert method_name(row) == "ddpm+student-small"
    assert method_name({**row, "student": {**budget, "steps": 7, "rounds": 2}}) == "ddpm+student-small(rounds=2,steps=7)"


def test_every_row_is_built_from_known_fields():
    assert set(REQUIRED) <= set(FIELDS)
    row = make_row(**CORE, accuracy=0.4, data="pool")
    assert row == {**CORE, "accuracy": 0.4, "data": "pool", "fewgen_version": __version__}
    with pytest.raises(ValueError, match=r"unknown fields \['acuracy'\]"):
        make_row(**CORE, acuracy=0.4)
    with pytest.raises(ValueError, match=r"missing fields \['n_val'\]"):
        make_row(**{k: v for k, v in CORE.items() if k != "n_val"})
    with pytest.raises(ValueError, match="data must be one of"):
        make_row(**CORE, data="unlabeled")


def test_fields_older_rows_lack_read_as_their_defaults():
    old = {"backbone": "vae", "head": "logreg", "spec": {}}
    assert (stage(old), data_use(old), head_params(old), tuned(old)) == ("evaluate", "labeled", {}, {})


def test_a_damaged_line_is_named(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"a": 1}\n\n{broken\n')
    with pytest.raises(FewgenError, match="results.jsonl line 3 is not valid JSON"):
        read_rows(path)
    path.write_text('{"a": 1}\n\n')
    assert read_rows(path) == [{"a": 1}]
