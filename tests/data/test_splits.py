"""Split invariants: disjointness, determinism per seed, per-class counts, nesting, the too-few error."""

import numpy as np
import pytest

from fewgen.data.splits import labeled_draw, unlabeled_pool, validation_draw
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
