"""The strategies that choose what to label: only unlabeled rows, the same choice for the same inputs, typical images
of distinct clusters, and one sentence for a bad budget or strategy."""

import numpy as np
import pytest

from fewgen.choosing import STRATEGIES, UNLABELED, choose
from fewgen.errors import FewgenError


def blobs(sizes, seed=0, dims=8):
    """Well-separated Gaussian blobs of the given sizes: ``(features [N, dims], blob id [N])``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 30, (len(sizes), dims))
    ids = np.repeat(np.arange(len(sizes)), sizes)
    return centres[ids] + rng.normal(0, 1, (len(ids), dims)), ids


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_only_unlabeled_rows_are_chosen_and_the_choice_repeats(strategy):
    x, ids = blobs([40, 30, 20, 10])
    labels = np.full(len(ids), UNLABELED)
    labels[[0, 1, 45, 75]] = ids[[0, 1, 45, 75]]  # labeled rows of three blobs: never chosen again
    first = choose(x, labels, 6, strategy, seed=3)
    assert len(set(first.indices)) == 6 and (labels[first.indices] == UNLABELED).all()
    again = choose(x, labels, 6, strategy, seed=3)
    assert first.indices.tolist() == again.indices.tolist() and len(first.scores) == len(first.clusters) == 6


def test_typiclust_takes_one_typical_image_from_each_cluster():
    """Ten blobs of unequal sizes and a budget of ten: one image per blob (random draws miss the small ones), each
    of the large blobs nearer its centre than half the blob (the most typical image: densest, not an outlier)."""
    x, ids = blobs([200, 120, 80, 60, 40, 30, 20, 15, 12, 10])
    chosen = choose(x, np.full(len(ids), UNLABELED), 10, "typiclust", seed=0)
    assert sorted(ids[chosen.indices]) == list(range(10))
    for i in chosen.indices[np.bincount(ids)[ids[chosen.indices]] >= 60]:
        members = x[ids == ids[i]]
        distance = np.linalg.norm(members - members.mean(0), axis=1)
        assert np.linalg.norm(x[i] - members.mean(0)) <= np.quantile(distance, 0.5)


def test_typiclust_skips_clusters_that_hold_a_label():
    x, ids = blobs([50, 50, 50])
    labels = np.full(len(ids), UNLABELED)
    labels[:3] = 0  # blob 0 is covered
    chosen = choose(x, labels, 2, "typiclust", seed=0)
    assert sorted(ids[chosen.indices]) == [1, 2]


@pytest.mark.parametrize("budget, strategy, labeled, wanted", [
    (0, "typiclust", 0, "--budget must be between 1 and the 100 unlabeled images"),
    (101, "typiclust", 0, "--budget must be between 1 and the 100 unlabeled images"),
    (5, "kmeans", 0, "unknown --strategy 'kmeans'; use one of: random, typiclust"),
    (5, "clue", 0, "--strategy clue chooses with a model, which needs labeled images of two classes"),
    (5, "margin", 1, "--strategy margin chooses with a model"),
])
def test_bad_choices_are_one_sentence(budget, strategy, labeled, wanted):
    x, _ = blobs([50, 50])
    labels = np.full(100 + labeled, UNLABELED)
    labels[:labeled] = 0
    with pytest.raises(FewgenError, match=wanted):
        choose(np.concatenate([x, x[:labeled]]), labels, budget, strategy, seed=0)
