"""The benchmark protocol for chosen labels: no validation image is ever chosen, the strategies read the pool's
features only, the oracle reveals the labels of the chosen images only, and evaluate's rows on chosen draws."""

import json
import re

import numpy as np
import pytest

import fewgen.chosen_draws as chosen_module
from fewgen.chosen_draws import chosen_draws
from fewgen.cli import main
from fewgen.data.splits import FIXED_VAL_PER_CLASS, validation_draw
from fewgen.errors import FewgenError


@pytest.fixture(scope="module")
def labels(digits):
    return digits.train.labels.numpy()


@pytest.fixture(scope="module")
def features(digits):
    return digits.train.images.reshape(len(digits.train.images), -1).numpy().astype(np.float32)


@pytest.mark.parametrize("selection", ["random", "balanced", "typiclust", "probcover", "typiclust+clue", "typiclust+margin"])
def test_no_validation_image_is_chosen_and_strategies_read_the_pool_only(selection, labels, features, digits):
    read = []
    draws = chosen_draws(labels, digits.class_names, (10, 30), 2, selection,
                         lambda pool: read.append(pool) or features[pool])
    val = validation_draw(labels, FIXED_VAL_PER_CLASS)
    assert draws.folds[0].tolist() == val.tolist() and draws.selection == selection
    for (budget, seed), idx in draws.labeled.items():
        assert len(set(idx.tolist())) == budget and not set(idx.tolist()) & set(val.tolist())
    if read:  # the features of the pool alone: the train split minus validation, never a test image
        assert read[0].tolist() == np.setdiff1d(np.arange(len(labels)), val).tolist()
    assert bool(read) == (selection not in ("random", "balanced"))


def test_balanced_is_todays_draw_and_rounds_grow(labels, features, digits):
    from fewgen.data.splits import labeled_draw

    val = validation_draw(labels, FIXED_VAL_PER_CLASS)
    balanced = chosen_draws(labels, digits.class_names, (20,), 1, "balanced", None)
    assert balanced.labeled[(20, 0)].tolist() == labeled_draw(labels, 2, 0, exclude=val).tolist()
    rounds = chosen_draws(labels, digits.class_names, (10, 20, 40), 1, "typiclust+clue", lambda pool: features[pool])
    assert set(rounds.labeled[(10, 0)]) < set(rounds.labeled[(20, 0)]) < set(rounds.labeled[(40, 0)])


def test_the_oracle_reveals_the_chosen_images_labels_only(labels, features, digits, monkeypatch):
    """In rounds, the later strategy is given the true labels of the images chosen before, and -1 everywhere else;
    each round's draw is exactly the images the strategies chose so far."""
    given, picked = [], []
    choose = chosen_module.choose

    def spy(*args, **kwargs):
        given.append(np.array(args[1]))
        chosen = choose(*args, **kwargs)
        picked.append(chosen.indices)
        return chosen

    monkeypatch.setattr(chosen_module, "choose", spy)
    draws = chosen_draws(labels, digits.class_names, (10, 20, 30), 1, "typiclust+margin", lambda pool: features[pool])
    pool = np.setdiff1d(np.arange(len(labels)), draws.folds[0])
    assert len(given) == 3 and (given[0] == -1).all()  # one choice per round, the first cold
    for budget, rounds in ((10, 1), (20, 2), (30, 3)):
        assert sorted(draws.labeled[(budget, 0)].tolist()) == sorted(pool[np.concatenate(picked[:rounds])].tolist())
    for seen, before in zip(given[1:], (draws.labeled[(10, 0)], draws.labeled[(20, 0)])):
        shown = pool[seen != -1]
        assert sorted(shown.tolist()) == sorted(before.tolist())
        assert (seen[seen != -1] == labels[shown]).all()


@pytest.mark.parametrize("budgets, selection, wanted", [
    ((15,), "balanced", "budget 15 is not a multiple of the 10 classes"),
    ((100000,), "random", "--budgets must be between 1 and the"),
    ((10,), "kmeans", "unknown --selection 'kmeans'"),
    ((10,), "balanced+clue", "unknown --selection 'balanced+clue'"),
])
def test_bad_selections_are_one_sentence(budgets, selection, wanted, labels, features, digits):
    with pytest.raises(FewgenError, match=re.escape(wanted)):
        chosen_draws(labels, digits.class_names, budgets, 1, selection, lambda pool: features[pool])


@pytest.fixture(scope="module")
def pixels_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "pixels"
    assert main(["pretrain", "--run", str(run), "--data", "digits", "--backbone", "pixels", "--epochs", "0",
                 "--no-progress"]) == 0
    return run


def test_evaluate_scores_each_selection_on_the_same_seeds_and_a_rerun_computes_nothing(pixels_run, labels, capsys):
    arguments = ["evaluate", str(pixels_run), "--budgets", "10,30", "--selection", "random,typiclust", "--seeds", "2",
                 "--heads", "logreg,propagate", "--baselines", "", "--no-progress"]
    assert main(arguments) == 0
    rows = [json.loads(line) for line in (pixels_run / "results.jsonl").read_text().splitlines()]
    assert {(r["selection"], r["shots"], r["seed"]) for r in rows} == {
        (s, b, seed) for s in ("random", "typiclust") for b in (10, 30) for seed in (0, 1)}
    assert all(1 <= r["classes_seen"] <= 10 and r["n_val"] == 10 * FIXED_VAL_PER_CLASS for r in rows)
    out = capsys.readouterr().out
    assert "pixels+logreg@typiclust" in out and "B=30" in out
    assert main(arguments) == 0
    assert len((pixels_run / "results.jsonl").read_text().splitlines()) == len(rows)  # nothing computed again
    assert "16 of these 16 rows were already in" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, wanted", [
    (["--budgets", "10", "--shots", "1"], "--shots (labels per class) and --budgets (labels in all, chosen) are two"),
    (["--budgets", "10", "--selection", "kmeans"], "unknown --selection 'kmeans'"),
    (["--budgets", "0"], "--budgets must be at least 1"),
    (["--budgets", "10", "--val-per-class", "cv"], "--budgets scores every selection on one fixed validation draw"),
])
def test_bad_protocol_options_are_one_sentence(pixels_run, arguments, wanted, capsys):
    assert main(["evaluate", str(pixels_run), *arguments, "--heads", "logreg", "--baselines", "", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert wanted in err and len(err.splitlines()) == 1


def test_a_round_grown_through_other_budgets_is_another_row_on_resume(pixels_run, capsys):
    """B = 30 grown from 10 then 20 is not B = 30 grown from 10: rows record the budgets a draw grew through, so a rerun
    with other budgets computes its rows instead of taking the old ones for done."""
    def rows_at_30(budgets):
        assert main(["evaluate", str(pixels_run), "--budgets", budgets, "--selection", "typiclust+typiclust", "--seeds",
                     "1", "--heads", "logreg", "--baselines", "", "--no-progress"]) == 0
        rows = [json.loads(line) for line in (pixels_run / "results.jsonl").read_text().splitlines()]
        return [r for r in rows if r.get("selection") == "typiclust+typiclust" and r["shots"] == 30]

    first = rows_at_30("10,30")
    assert [r["rounds"] for r in first] == [[10, 30]]
    second = rows_at_30("10,20,30")
    assert [r["rounds"] for r in second] == [[10, 30], [10, 20, 30]]
    capsys.readouterr()
