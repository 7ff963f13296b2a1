"""Heads that learn from the unlabeled pool: the y == -1 convention, known answers, and the label-free cache."""

from __future__ import annotations

import numpy as np
import pytest

from fewgen.errors import FewgenError
from fewgen.heads import HEADS, PoolMemory, make_head, uses_pool
from fewgen.heads.pool import labeled_mask

POOL_HEADS = ["umap", "selftrain", "propagate"]


def rings(n=600, seed=0):
    """Two concentric rings: not linearly separable, but each ring is one connected curve of close neighbours."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(np.arange(n) % 2 == 0, 1.0, 3.0) + 0.03 * rng.standard_normal(n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)], np.arange(n) % 2


def one_label_per_class(y: np.ndarray) -> np.ndarray:
    """``y`` with every label but the first of each class replaced by -1."""
    partial = np.full_like(y, -1)
    for c in np.unique(y):
        first = np.flatnonzero(y == c)[0]
        partial[first] = c
    return partial


def test_registry_says_which_heads_use_the_pool():
    assert {name for name in HEADS if uses_pool(name)} == set(POOL_HEADS)


def test_labeled_mask_follows_sklearn_semi_supervised():
    assert labeled_mask(np.array([0, -1, 2, -1])).tolist() == [True, False, True, False]
    assert labeled_mask(np.array(["a", "b"])).tolist() == [True, True]  # string labels are never "unlabeled"


@pytest.mark.parametrize("name", ["linear", "mlp", "logreg", "knn"])
def test_supervised_heads_ignore_unlabeled_rows(name):
    X, y = rings(n=60)
    noise = np.random.default_rng(1).normal(size=(40, 2)) * 50  # far-away unlabeled rows that would move anything fitted on them
    with_pool = make_head(name, random_state=0).fit(np.r_[X, noise], np.r_[y, -np.ones(40, dtype=int)])
    without = make_head(name, random_state=0).fit(X, y)
    assert list(with_pool.classes_) == [0, 1]
    np.testing.assert_allclose(with_pool.predict_proba(X), without.predict_proba(X), atol=1e-8)


@pytest.mark.parametrize("name", POOL_HEADS)
def test_pool_heads_take_classes_from_labeled_rows_only(name):
    X, y = rings()
    head = make_head(name, memory=PoolMemory()).fit(X, one_label_per_class(y))
    assert list(head.classes_) == [0, 1] and head.n_labeled_ == 2 and head.n_unlabeled_ == len(X) - 2
    assert head.predict_proba(X[:5]).shape == (5, 2)


@pytest.mark.parametrize("name", POOL_HEADS)
def test_all_unlabeled_is_a_clear_error(name):
    X, _ = rings(n=40)
    with pytest.raises(FewgenError, match="every row is unlabeled"):
        make_head(name).fit(X, -np.ones(len(X), dtype=int))


def test_propagation_solves_rings_from_one_label_each():
    """Label spreading follows each ring from its one label; a linear head on two labels cannot."""
    X, y = rings(seed=0)
    X_new, y_new = rings(n=200, seed=1)
    partial = one_label_per_class(y)
    spread = make_head("propagate", memory=PoolMemory()).fit(X, partial)
    assert (spread.predict(X_new) == y_new).mean() > 0.97
    assert (make_head("logreg").fit(X, partial).predict(X_new) == y_new).mean() < 0.75


def test_selftrain_pseudo_labels_a_balanced_quota_per_class():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (300, 4)), rng.normal(6, 1, (100, 4))]  # classes of unequal size
    y = np.r_[np.zeros(300, int), np.ones(100, int)]
    head = make_head("selftrain", rounds=4, fraction=0.4).fit(X, one_label_per_class(y))
    quota = [round(r / 4 * 0.4 * 398 / 2) for r in range(1, 5)]
    assert head.n_pseudo_ == [2 * q for q in quota]  # each class gets the same quota, whatever its share of the pool
    assert (head.predict(X) == y).mean() > 0.98


@pytest.mark.parametrize("name,params", [("umap", {}), ("propagate", {"space": "umap"}), ("selftrain", {"space": "umap"})])
def test_heads_in_umap_space_separate_blobs_from_one_label_each(name, params):
    rng = np.random.default_rng(0)
    centres = 8 * np.eye(5)[:3]
    X = np.concatenate([c + rng.normal(0, 0.5, (80, 5)) for c in centres])
    y = np.repeat(np.arange(3), 80)
    head = make_head(name, memory=PoolMemory(), umap_neighbors=10, **params).fit(X, one_label_per_class(y))
    X_new = np.concatenate([c + rng.normal(0, 0.5, (20, 5)) for c in centres])
    assert (head.predict(X_new) == np.repeat(np.arange(3), 20)).all()


def test_the_embedding_is_fitted_once_per_pool_and_reused_by_every_draw(tmp_path):
    X, y = rings(n=300)
    memory = PoolMemory(tmp_path)
    for seed in range(3):  # three draws: different labels, the same pool
        partial = np.full_like(y, -1)
        partial[[seed, seed + 1]] = y[[seed, seed + 1]]
        head = make_head("umap", random_state=seed, memory=memory, umap_neighbors=10).fit(X, partial)
        head.predict(X[:50])
    umap_fits = [key for key in memory.computed if key.startswith("umap-") and key.count("-") == 2]
    assert len(set(umap_fits)) == 1 and len(umap_fits) == 2  # the model and its pool coordinates, once each
    queries = [key for key in memory.computed if key.startswith("umap-") and key.count("-") == 3]
    assert len(queries) == 1  # the 50 new rows were embedded once, not once per draw
    # a later process reads the embedding from disk instead of fitting UMAP again
    again = PoolMemory(tmp_path)
    head = make_head("umap", memory=again, umap_neighbors=10).fit(X, one_label_per_class(y))
    head.predict(X[:50])
    assert not [key for key in again.computed if key.startswith("umap-")]
    # a different pool is a different key
    make_head("umap", memory=again, umap_neighbors=10).fit(X[:-1], one_label_per_class(y[:-1]))
    assert [key for key in again.computed if key.startswith("umap-")]


def test_a_pool_smaller_than_umaps_neighbourhood_is_a_clear_error():
    X, y = rings(n=10)
    with pytest.raises(FewgenError, match="too few for UMAP with n_neighbors=15"):
        make_head("umap").fit(X, one_label_per_class(y))


def test_memory_is_shared_not_copied_by_clone():
    from sklearn.base import clone

    memory = PoolMemory()
    assert clone(make_head("propagate", memory=memory)).memory is memory


@pytest.mark.parametrize("name", ["selftrain", "propagate"])
def test_new_rows_are_standardised_with_the_pools_statistics(name):
    """A new image is placed with the pool's mean and scale, never its batch's own: one row alone, or a batch
    shifted as a whole, must land where it lands among others."""
    from fewgen.heads.pool import PoolSpace

    rng = np.random.default_rng(0)
    X = np.concatenate([c + rng.normal(0, 0.5, (80, 4)) for c in (np.zeros(4), 6 * np.ones(4))])
    y = one_label_per_class(np.repeat([0, 1], 80))
    X_new = rng.normal(3, 3, (12, 4))
    head = make_head(name, memory=PoolMemory(), space="features").fit(X, y)
    together = head.predict_proba(X_new)
    alone = np.concatenate([head.predict_proba(X_new[i : i + 1]) for i in range(len(X_new))])
    np.testing.assert_allclose(alone, together, rtol=0, atol=1e-12)
    space = PoolSpace("features", "feature", PoolMemory())
    space.fit(X)
    np.testing.assert_allclose(space.transform(X_new[:3]), (X_new[:3] - X.mean(0)) / X.std(0), rtol=1e-9, atol=1e-9)
