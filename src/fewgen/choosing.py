"""Which images to label: strategies that choose B images of an unlabeled pool, on a run's features.

scikit-activeml does the choosing; this module prepares the space, keeps the candidates honest and names the results.

- ``random``: B images drawn uniformly: what a user without labels does (the honest no-knowledge baseline).
- ``typiclust`` (Hacohen, Dekel & Weinshall, ICML 2022; cold start): k-means into (labeled + B) clusters; from each of
  the B largest clusters that hold no labeled image, the most *typical* image (the inverse of the mean distance to its
  20 nearest neighbours in the cluster).
- ``probcover`` (Yehuda et al., NeurIPS 2022; cold start): the images whose balls of radius delta cover the most
  images not yet covered, delta the largest whose balls stay 95% pure with respect to a k-means into C clusters. It
  holds an N x N distance matrix, so it runs on at most :data:`PROBCOVER_CANDIDATES` images (a seeded subsample).
- ``clue`` (Prabhu et al., ICCV 2021; later rounds, needs labels of two classes or more): k-means over the pool
  weighted by the current model's entropy, and the image nearest each centre: uncertain images, spread out.
- ``margin`` (Scheffer et al. 2001; later rounds): the B images whose two most probable classes are closest. Pure
  uncertainty, which picks near-duplicates in one batch; kept as a comparison.

Every strategy reads the same space: the features standardised, then PCA-whitened to at most :data:`SPACE_DIMS`
dimensions (fitted on the images given, never on test or validation images, which the caller leaves out). The model of
``clue`` and ``margin`` is a logistic regression on that space (the head ``fit`` uses by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fewgen.errors import FewgenError

UNLABELED = -1
SPACE_DIMS = 50  # PCA-whitened dimensions every strategy reads
TYPICALITY_NEIGHBOURS = 20  # TypiClust's k (the paper's 20)
PROBCOVER_CANDIDATES = 5000  # ProbCover's N x N distances stay under 200 MB
PROBCOVER_PURITY = 0.95  # the paper's alpha

STRATEGIES = {
    "random": "B images drawn uniformly from the pool (no knowledge)",
    "typiclust": "typical images of the largest clusters without a label (Hacohen et al. 2022; cold start)",
    "probcover": "images whose neighbourhoods cover the most of the pool (Yehuda et al. 2022; cold start)",
    "clue": "uncertain images spread over the pool: k-means weighted by the model's entropy (Prabhu et al. 2021)",
    "margin": "the images whose two most probable classes are closest (needs labels)",
}
NEEDS_LABELS = ("clue", "margin")


@dataclass(frozen=True)
class Chosen:
    """The images a strategy chose, best first: ``indices [B]`` (positions in the features given), the strategy's
    ``scores [B]`` (typicality, coverage, uncertainty; NaN for random) and ``clusters [B]`` (the k-means cluster of
    the (labeled + B) partition each image falls in, so a user sees that the batch is spread out; -1 for random)."""

    strategy: str
    indices: np.ndarray
    scores: np.ndarray
    clusters: np.ndarray


def check_strategy(strategy: str, n_labeled_classes: int, option: str = "--strategy") -> None:
    """One sentence for an unknown strategy, or a model-based one without labels of two classes."""
    if strategy not in STRATEGIES:
        raise FewgenError(f"unknown {option} '{strategy}'; use one of: {', '.join(STRATEGIES)}")
    if strategy in NEEDS_LABELS and n_labeled_classes < 2:
        raise FewgenError(f"{option} {strategy} chooses with a model, which needs labeled images of two classes or more "
                          f"({n_labeled_classes} labeled now); use typiclust or probcover for the first round")


def check_choice(budget: int, strategy: str, labels: np.ndarray) -> None:
    """One sentence for a budget outside 1..(unlabeled images), an unknown strategy, or one that needs labels."""
    labels = np.asarray(labels)
    n_candidates = int((labels == UNLABELED).sum())
    if n_candidates == 0:
        raise FewgenError("every image of the pool is labeled already; add unlabeled images to choose from")
    if not 1 <= budget <= n_candidates:
        raise FewgenError(f"--budget must be between 1 and the {n_candidates} unlabeled images of the pool, got {budget}")
    check_strategy(strategy, len(np.unique(labels[labels != UNLABELED])))


# The strategy ``suggest`` uses when none is given, in every round (cold and later). Chosen on validation
# (docs/DECISIONS.md): as the later rounds' strategy, typiclust beat clue by 1.8 to 6.2
# points on Fashion-MNIST's validation draw at B = 20 ... 160 and trailed it by at most 1.6 on digits'.
DEFAULT_STRATEGY = "typiclust"


def embed(features: np.ndarray, seed: int) -> np.ndarray:
    """float ``[N, D]`` -> float ``[N, min(SPACE_DIMS, N, D)]``: standardised, then PCA-whitened."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    dims = min(SPACE_DIMS, x.shape[0], x.shape[1])
    return PCA(n_components=dims, whiten=True, random_state=seed).fit_transform(x)


def choose(features: np.ndarray | None, labels: np.ndarray, budget: int, strategy: str, seed: int,
           n_classes: int | None = None, space: np.ndarray | None = None, clusters: bool = True) -> Chosen:
    """Choose ``budget`` of the unlabeled rows (``labels == -1``) of ``features [N, D]``; labeled rows (class ids)
    count as covered. ``n_classes``: the number of classes when known (ProbCover's purity clusters; default: the
    labeled classes, else 10). ``space``: ``embed(features, seed)`` when the caller has it already. ``clusters``: also
    say which cluster each chosen image falls in (one more k-means; -1 without). The same inputs and seed give the
    same choice."""
    labels = np.asarray(labels, dtype=np.int64)
    candidates = np.flatnonzero(labels == UNLABELED)
    classes = np.unique(labels[labels != UNLABELED])
    check_choice(budget, strategy, labels)
    if strategy == "random":
        picked = np.random.default_rng(seed).choice(candidates, size=budget, replace=False)
        return Chosen(strategy, picked, np.full(budget, np.nan), np.full(budget, -1))
    space = embed(features, seed) if space is None else space
    if strategy == "probcover":
        picked, scores = _probcover(space, labels, budget, seed, n_classes or max(len(classes), 10))
    else:
        picked, scores = _query(_strategy(strategy, seed), space, labels, budget, seed, classes)
    partition = _clusters(space, int((labels != UNLABELED).sum()) + budget, seed) if clusters else np.full(len(space), -1)
    return Chosen(strategy, np.asarray(picked, dtype=np.int64), np.asarray(scores, dtype=np.float64), partition[picked])


def _strategy(name: str, seed: int):
    from sklearn.cluster import KMeans
    from skactiveml.pool import Clue, TypiClust, UncertaintySampling

    kmeans = {"n_init": 1, "random_state": seed}
    if name == "typiclust":
        return TypiClust(k=TYPICALITY_NEIGHBOURS, cluster_algo=KMeans, cluster_algo_dict=kmeans, missing_label=UNLABELED,
                         random_state=seed)
    if name == "clue":
        return Clue(method="entropy", cluster_algo=KMeans, cluster_algo_dict=kmeans, missing_label=UNLABELED,
                    random_state=seed)
    return UncertaintySampling(method="margin_sampling", missing_label=UNLABELED, random_state=seed)


def _query(strategy, space: np.ndarray, labels: np.ndarray, budget: int, seed: int, classes: np.ndarray):
    """``(indices [B], scores [B])`` from a scikit-activeml query strategy (a model-based one gets a logistic
    regression on the labeled rows)."""
    from sklearn.linear_model import LogisticRegression
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import TypiClust

    if isinstance(strategy, TypiClust):
        picked, utilities = strategy.query(space, labels, batch_size=budget, return_utilities=True)
    else:
        model = SklearnClassifier(LogisticRegression(max_iter=1000), classes=classes, missing_label=UNLABELED,
                                  random_state=seed)
        picked, utilities = strategy.query(space, labels, model, batch_size=budget, return_utilities=True)
    scores = utilities[np.arange(budget), picked]
    return picked, scores


def _probcover(space: np.ndarray, labels: np.ndarray, budget: int, seed: int, n_classes: int):
    """ProbCover on the labeled rows and a seeded subsample of at most :data:`PROBCOVER_CANDIDATES` unlabeled ones."""
    import warnings

    from sklearn.cluster import KMeans
    from skactiveml.pool import ProbCover

    labeled = np.flatnonzero(labels != UNLABELED)
    unlabeled = np.flatnonzero(labels == UNLABELED)
    room = max(PROBCOVER_CANDIDATES - len(labeled), budget)
    if len(unlabeled) > room:
        unlabeled = np.sort(np.random.default_rng(seed).choice(unlabeled, size=room, replace=False))
    rows = np.concatenate([labeled, unlabeled])
    strategy = ProbCover(n_classes=n_classes, deltas=_deltas(space[rows], seed), alpha=PROBCOVER_PURITY,
                         cluster_algo=KMeans, cluster_algo_dict={"n_init": 1}, missing_label=UNLABELED, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "maximum purity smaller than alpha": the smallest delta is kept
        picked, utilities = strategy.query(space[rows], labels[rows], batch_size=budget, return_utilities=True)
    return rows[picked], utilities[np.arange(budget), picked]


def _deltas(space: np.ndarray, seed: int) -> list[float]:
    """ProbCover's candidate radii: quantiles of the distance to the nearest neighbour up to the median pairwise
    distance, smallest first (it keeps the largest that stays pure)."""
    sample = space[np.random.default_rng(seed).permutation(len(space))[:1000]]
    pairwise = np.sqrt(((sample[:, None] - sample[None, :]) ** 2).sum(-1))
    np.fill_diagonal(pairwise, np.inf)
    low, high = np.median(pairwise.min(1)), np.median(pairwise[np.isfinite(pairwise)])
    return list(np.linspace(low, high, 20))


def _clusters(space: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """``[N]`` cluster ids of a k-means into ``n_clusters`` (TypiClust's partition for the same seed)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=min(n_clusters, len(space)), n_init=1, random_state=seed).fit_predict(space)
