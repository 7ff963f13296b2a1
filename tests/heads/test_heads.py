"""Heads on hand-built features whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from fewgen.heads import HEADS, make_head, uses_pool
from fewgen.errors import FewgenError


def blobs(n_per_class=5, seed=0, offset=0.0):
    """Three well separated clusters in 6-D; clusters sit at 10 * e_c (+ offset)."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([10 * np.eye(6)[c] + offset + 0.3 * rng.standard_normal((n_per_class, 6)) for c in range(3)])
    return X, np.repeat(np.array(["a", "b", "c"]), n_per_class)


def rings(n=200, seed=0):
    """Two concentric rings: not linearly separable, trivially separable by radius."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(np.arange(n) % 2 == 0, 1.0, 3.0) + 0.05 * rng.standard_normal(n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)], np.arange(n) % 2


SUPERVISED = sorted(name for name in HEADS if not uses_pool(name))  # heads of the pool: tests/heads/test_semi.py


@pytest.mark.parametrize("name", SUPERVISED)
def test_separable_clusters_are_classified_perfectly(name):
    X, y = blobs(seed=0)
    X_test, y_test = blobs(n_per_class=20, seed=1)
    head = make_head(name).fit(X, y)
    assert list(head.classes_) == ["a", "b", "c"]
    assert (head.predict(X_test) == y_test).all()


@pytest.mark.parametrize("name", ["mlp", "knn"])
def test_nonlinear_heads_solve_rings(name):
    X, y = rings(seed=0)
    X_test, y_test = rings(seed=1)
    assert (make_head(name).fit(X, y).predict(X_test) == y_test).mean() > 0.95


@pytest.mark.parametrize("name", ["linear", "logreg"])
def test_linear_heads_cannot_solve_rings(name):
    X, y = rings(seed=0)
    X_test, y_test = rings(seed=1)
    assert (make_head(name).fit(X, y).predict(X_test) == y_test).mean() < 0.75


def test_one_nearest_neighbour_returns_the_nearest_label():
    X = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    head = make_head("knn").fit(X, [0, 1, 2])
    assert head.predict(np.array([[9.0, 1.0], [1.0, 8.0], [0.5, 0.5]])).tolist() == [1, 2, 0]


@pytest.mark.parametrize("name", SUPERVISED)
def test_standardisation_is_fitted_on_the_labeled_draw_only(name):
    X, y = blobs(offset=100.0)
    head = make_head(name).fit(X, y)
    np.testing.assert_allclose(head.scaler_.mean_, X.mean(axis=0))


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_torch_heads_are_reproducible_per_seed(name):
    X, y = blobs(seed=3)
    a = make_head(name, random_state=7).fit(X, y).predict_proba(X)
    b = make_head(name, random_state=7).fit(X, y).predict_proba(X)
    c = make_head(name, random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mlp_is_the_papers_head():
    X, y = blobs()
    net = make_head("mlp").fit(X, y).module_
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"] and net[0].out_features == 128


def test_unknown_head():
    with pytest.raises(FewgenError, match="unknown head 'svm'"):
        make_head("svm")


def test_global_scaling_keeps_relative_feature_sizes():
    X = np.array([[0.0, 0.0], [2.0, 0.2], [4.0, 0.4]])
    head = make_head("logreg", scaling="global").fit(X, [0, 1, 1])
    np.testing.assert_allclose(head.scaler_.mean_, [2.0, 0.2])
    centred = X - [2.0, 0.2]
    expected_scale = np.sqrt((8 / 3 + 0.08 / 3) / 2)  # root of the mean per-feature variance
    np.testing.assert_allclose(head.scaler_.transform(X), centred / expected_scale, atol=1e-12)


def test_unknown_scaling():
    with pytest.raises(ValueError, match="scaling"):
        make_head("knn", scaling="minmax").fit(np.eye(2), [0, 1])
