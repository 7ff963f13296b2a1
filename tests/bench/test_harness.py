"""The benchmark harness: the digits recipe runs through it end to end, docs/RESULTS.md is what bench/results/
says, every recorded result names its recipe, and no bench script reaches into fewgen's private names."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import results_page  # noqa: E402
import run as harness  # noqa: E402


def test_the_digits_recipe_runs_and_records_what_it_measured(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    path = harness.run_recipe("digits-tiny", tmp_path / "work", out, {"seeds": "2"})
    record = json.loads(path.read_text())
    assert record["recipe"] == "digits-tiny" and record["made"] == "run" and record["vars"]["seeds"] == "2"
    assert record["machine"]["cpus"] and "cpu_flags" in record["machine"] and record["machine"]["cpu_model"]
    assert len(record["steps"]) == 2 and all(step["seconds"] > 0 for step in record["steps"])
    assert "{run}" not in record["steps"][0]["command"]
    rows = {row["label"]: row for row in record["headline"]["digits"]["rows"]}
    fewgen = rows["fewgen: vae, method chosen on validation"]
    assert set(fewgen["cells"]) == {"1", "2"} and fewgen["cells"]["1"]["n"] == 2
    assert fewgen["cells"]["1"]["method"] in record["summary"]["digits"]["methods"]
    assert "pixels, head chosen on validation" in rows
    page = results_page.render([record])
    assert "| fewgen: vae, method chosen on validation |" in page and "digits-tiny" in page
    with pytest.raises(SystemExit, match="exists"):  # never mixes new rows into an old run folder
        harness.run_recipe("digits-tiny", tmp_path / "work", out, {})


def test_bad_recipe_input_is_one_sentence(tmp_path):
    with pytest.raises(SystemExit, match="no recipe 'nope'; choose one of: .*digits-tiny"):
        harness.run_recipe("nope", tmp_path, tmp_path, {})
    with pytest.raises(SystemExit, match="--set steps is not a var of recipe digits-tiny"):
        harness.run_recipe("digits-tiny", tmp_path, tmp_path, {"steps": "3"})


def test_the_results_page_and_the_readme_table_are_generated_from_the_recorded_results():
    records = results_page.read_records()
    assert results_page.PAGE.read_text() == results_page.render(records), \
        "docs/RESULTS.md is stale: run python bench/run.py --page"
    readme = results_page.README.read_text()
    assert readme == results_page.with_headline(readme, records), "README.md's table is stale: run python bench/run.py --page"
    assert "| fewgen: " in results_page.readme_headline(records)


def test_every_recorded_result_names_a_recipe_its_machine_and_where_it_came_from():
    records = results_page.read_records()
    assert records
    for record in records:
        assert (harness.RECIPES / f"{record['recipe']}.toml").is_file(), record["recipe"]
        assert record["machine"]["cpus"] and record["date"] and record["commit"]
        if record["made"] == "carried":
            assert (results_page.PAGE.parent / record["source"]).is_file(), record["source"]


def test_every_recipe_parses_and_says_what_it_is():
    for name in harness.recipe_names():
        recipe = harness.load_recipe(name)
        assert recipe["description"].strip() and recipe["step"], name
        for step in recipe["step"]:
            step["run"].format(run="R", work="W", bin="B", **{k: str(v) for k, v in recipe.get("vars", {}).items()})


def test_no_bench_script_imports_or_touches_a_private_name():
    for path in BENCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fewgen"):
                assert not any(a.name.startswith("_") for a in node.names), f"{path.name} imports a private name"
                assert not any(part.startswith("_") for part in node.module.split(".")), path.name
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                raise AssertionError(f"{path.name}:{node.lineno} uses the private name .{node.attr}")
