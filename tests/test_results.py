"""Result rows: method names, the documented defaults of fields older rows lack, and reading a results file."""

from __future__ import annotations

import pytest

from fewgen.errors import FewgenError
from fewgen.results import data_use, head_params, method_name, read_rows, stage, tuned


def test_method_names_hide_default_settings_and_mark_transductive_rows():
    row = {"backbone": "vae", "head": "mlp", "spec": {"part": "stacked", "pool": "mean"}, "head_params": {"scaling": "feature"}}
    assert method_name(row) == "vae[part=stacked]+mlp"
    assert method_name({**row, "head_params": {"scaling": "global"}, "data": "test"}) == "vae[part=stacked]+mlp(scaling=global,transductive)"
    assert method_name({"backbone": "pixels", "head": "logreg", "spec": {}}) == "pixels+logreg"
    assert method_name({"backbone": "resnet18", "head": "resnet18", "spec": {"steps": 200}}) == "resnet18"


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
