"""UMAP helpers: cached features in test-image order, a seeded shared subset, a cached projection, the plots."""

from __future__ import annotations

import numpy as np
import torch

from fewgen.backbones import FeatureSpec
from fewgen.backbones.pixels import PixelsBackbone
from fewgen.features import FeatureCache
from fewgen.report import umap as umap_plots


def test_cached_test_features_come_back_in_test_image_order(tmp_path):
    cache = FeatureCache(tmp_path)
    images = torch.arange(5 * 4, dtype=torch.uint8).reshape(5, 1, 2, 2)
    backbone = PixelsBackbone(image_shape=(1, 2, 2))
    order = np.array([3, 0, 4, 1, 2])
    cache.get(backbone, "-", FeatureSpec(), "test", order, images)  # stored row j is image order[j]
    found = umap_plots.cached_test_features(cache, "pixels", "-", FeatureSpec().to_dict())
    assert found is not None
    features, _ = found
    np.testing.assert_allclose(features, backbone.features(images, FeatureSpec()).numpy(), rtol=1e-6)
    assert umap_plots.cached_test_features(cache, "pixels", "other-checkpoint", FeatureSpec().to_dict()) is None


def test_labels_round_trip(tmp_path):
    cache = FeatureCache(tmp_path)
    assert cache.labels("test") is None
    cache.save_labels("test", np.array([2, 0, 1]), ["a", "b", "c"])
    labels, names = cache.labels("test")
    assert labels.tolist() == [2, 0, 1] and names == ["a", "b", "c"]
    assert cache.cached("test") == []  # the labels file is not a feature array


def test_the_subset_is_seeded_sorted_and_everything_when_small():
    assert umap_plots.points_to_show(5, 10).tolist() == [0, 1, 2, 3, 4]
    a = umap_plots.points_to_show(1000, 100)
    assert len(a) == 100 and np.all(np.diff(a) > 0) and np.array_equal(a, umap_plots.points_to_show(1000, 100))


def test_projection_is_cached_and_plots_are_written(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    features = rng.normal(size=(60, 8)).astype(np.float32) + 6 * labels[:, None]
    source = tmp_path / "test-abc.npy"
    first = umap_plots.project(features, 2, tmp_path / "umap", source)
    assert first.shape == (60, 2) and len(list((tmp_path / "umap").glob("umap-2d-*.npy"))) == 1
    np.testing.assert_array_equal(umap_plots.project(features, 2, tmp_path / "umap", source), first)
    names = ["zero", "one", "two"]
    assert umap_plots.plot_umap_2d(first, labels, names, tmp_path / "u2.png", "t").stat().st_size > 1000
    three = umap_plots.project(features, 3, tmp_path / "umap", source)
    assert umap_plots.plot_umap_3d(three, labels, names, tmp_path / "u3.png", "t").stat().st_size > 1000
