"""Split invariants: disjointness, determinism per seed, per-class counts, nesting, the too-few error."""

import numpy as np
import pytest

from fewgen.data.splits import FIXED_VAL_PER_CLASS, labeled_draw, make_draws, unlabeled_pool, validation_draw
from fewgen.errors import FewgenError


def test_validation_is_disjoint_from_every_labeled_draw(digits):
    labels = digits.train.labels
    val = validation_draw(labels, 16)
    for seed in range(5):
        for k in (1, 5, 10):
            assert not set(labeled_draw(labels, k, seed, exclude=val)) & set(val)


def test_per_class_counts(digits):
    labels = digits.train.labels.numpy()
    draw = labeled_draw(labels, 7, seed=3)
    assert np.bincount(labels[draw]).tolist() == [7] * 10
    assert len(set(draw)) == len(draw)
    assert np.bincount(labels[validation_draw(labels, 16)]).tolist() == [16] * 10


def test_deterministic_per_seed_and_different_across_seeds(digits):
    labels = digits.train.labels
    assert np.array_equal(labeled_draw(labels, 5, 1), labeled_draw(labels, 5, 1))
    assert not np.array_equal(labeled_draw(labels, 5, 1), labeled_draw(labels, 5, 2))


def test_draws_are_nested(digits):
    labels = digits.train.labels
    assert set(labeled_draw(labels, 2, 0)) <= set(labeled_draw(labels, 5, 0))


def test_unlabeled_images_are_never_drawn():
    labels = np.array([0, 0, -1, 1, 1, -1])
    draw = labeled_draw(labels, 2, 0)
    assert sorted(draw) == [0, 1, 3, 4]
    assert len(unlabeled_pool(labels)) == 6


def test_too_few_images_names_the_class():
    labels = np.array([0, 0, 0, 1])
    with pytest.raises(FewgenError, match=r"class 'b' has only 1 labeled training images, fewer than --shots 2"):
        labeled_draw(labels, 2, 0, class_names=["a", "b"])


def test_too_few_after_validation(digits):
    labels = digits.train.labels
    val = validation_draw(labels, 100)
    with pytest.raises(FewgenError, match="outside the validation draw"):
        labeled_draw(labels, 40, 0, exclude=val)


def _few_labels(per_class: int = 5, classes: int = 3, unlabeled: int = 20) -> np.ndarray:
    """Labels of a user's folder: ``per_class`` labeled images per class, then unlabeled ones (-1)."""
    return np.concatenate([np.repeat(np.arange(classes), per_class), np.full(unlabeled, -1)])


def test_auto_validation_is_the_fixed_draw_when_there_is_room(digits):
    draws = make_draws(digits.train.labels, (1, 10), 3)
    assert draws.protocol == "fixed" and len(draws.folds) == 1
    assert np.array_equal(draws.val, validation_draw(digits.train.labels, FIXED_VAL_PER_CLASS))  # numbers unchanged
    assert not draws.repeats and len(draws.labeled) == 6


def test_five_labels_per_class_are_cross_validated():
    labels = _few_labels()
    draws = make_draws(labels, (1, 2, 4), 5)
    assert draws.protocol == "cv" and len(draws.folds) == 5
    folded = np.concatenate(draws.folds)
    assert sorted(folded) == list(np.flatnonzero(labels >= 0))  # every labeled image validated exactly once
    for key, idx in draws.labeled.items():
        assert not set(idx) & set(draws.val_of(key)) and draws.fold_of[key] == key[1] % 5
    at_4 = {draws.labeled[(4, seed)].tobytes() for seed in range(5)}
    assert len(at_4) == 5 and not draws.repeats  # 4 of 5: five different draws, one per left-out fold
    assert "5-fold cross-validation over the 15 labeled images" in draws.describe()


def test_a_repeated_draw_is_left_out_and_named():
    """4 of 5 labeled images beside a fixed validation image: every seed draws the same 4, which once counted
    three times and was reported as '± 0.0'."""
    draws = make_draws(_few_labels(), (2, 4), 3, val_per_class=1)
    assert set(draws.labeled) == {(2, 0), (2, 1), (2, 2), (4, 0)}
    assert draws.repeats == {(4, 1): 0, (4, 2): 0}
    assert "k=4: seeds 1 (= seed 0), 2 (= seed 0) would repeat an earlier draw" in draws.describe()
    cv = make_draws(_few_labels(), (4,), 7)
    assert cv.repeats == {(4, 5): 0, (4, 6): 1}  # seed s uses fold s mod 5, and 4 of 5 is all of it


def test_cross_validation_needs_two_labeled_images_per_class():
    labels = np.array([0, 0, 1, -1, -1])
    with pytest.raises(FewgenError, match="class '1' has only 1 labeled training image; validation needs at least 2"):
        make_draws(labels, (1,), 1)
    with pytest.raises(FewgenError, match="--val-per-class must be auto, cv or a whole number"):
        make_draws(_few_labels(), (1,), 1, val_per_class="half")
