"""UMAP projections of cached test features, coloured by class: 2-D, and 3-D seen from three angles.

UMAP (McInnes, Healy & Melville, 2018) through umap-learn. Features are
standardised per dimension first (the heads' default scaling), so one block's
large activations do not decide the neighbourhoods. The projection is seeded
(``random_state``, which makes umap-learn run single-threaded and
deterministic) and cached under ``RUN/umap/``: the report recomputes nothing
else, and a second report of the same run reuses it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fewgen.atomic import save_figure, save_npy  # noqa: E402
from fewgen.feature_files import FeatureFiles  # noqa: E402

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"}
SINGLE_THREAD = {"n_jobs": 1}  # a seeded UMAP runs on one thread anyway; saying so avoids its warning
THREE_VIEWS = ((20, 30), (20, 150), (20, 270))  # (elevation, azimuth) in degrees: three sides, 120° apart
MAX_LEGEND_CLASSES = 20


def cached_test_features(cache: FeatureFiles, backbone: str, checkpoint: str, spec: dict) -> tuple[np.ndarray, Path] | None:
    """The cached test features ``[N_test, D]`` (row i = test image i) of this backbone, checkpoint and spec, or None."""
    for described, path in cache.cached("test"):
        if (described.get("backbone"), described.get("checkpoint"), described.get("spec")) != (backbone, checkpoint, spec):
            continue
        index_path = path.with_suffix(".index.npy")
        if not (path.is_file() and index_path.is_file()):
            continue
        features, index = np.load(path), np.load(index_path)
        ordered = np.empty_like(features)
        ordered[index] = features
        return ordered, path
    return None


def points_to_show(n: int, points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset of ``points`` of ``n`` test images (all of them when n <= points);
    the same subset for every backbone of a dataset, so their pictures compare."""
    if n <= points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=points, replace=False))


def project(features: np.ndarray, n_components: int, cache_dir: Path, source: Path, seed: int = 0) -> np.ndarray:
    """Features ``[N, D]`` -> UMAP embedding ``[N, n_components]``, cached by source, rows, size and settings."""
    import umap  # numba compiles on first import: keep it out of module import time

    described = {"source": source.name, "n_components": n_components, "seed": seed, "umap": umap.__version__, **UMAP_PARAMS}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode() + np.ascontiguousarray(features).tobytes())
    path = Path(cache_dir) / f"umap-{n_components}d-{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    scaled = StandardScaler().fit_transform(features.astype(np.float64))
    embedding = umap.UMAP(n_components=n_components, random_state=seed, **UMAP_PARAMS, **SINGLE_THREAD).fit_transform(scaled)
    save_npy(path, embedding.astype(np.float32))
    return embedding


def _marker_size(n_points: int, scale: float) -> float:
    """Dots big enough to see for a few hundred points, small enough not to hide each other for thousands."""
    return float(min(14.0, max(2.0, scale / n_points)))


def _colours(n_classes: int):
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "turbo")
    return [cmap(i % cmap.N) if n_classes <= 20 else cmap(i / max(n_classes - 1, 1)) for i in range(n_classes)]


def _legend(fig, class_names: list[str], colours) -> None:
    if len(class_names) > MAX_LEGEND_CLASSES:
        return  # a legend of 100 entries hides the plot; the caption says colours follow the class index
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours[i], label=name) for i, name in enumerate(class_names)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="class", frameon=False)


def plot_umap_2d(embedding: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path, title: str) -> Path:
    """A scatter of ``embedding [N, 2]`` coloured by ``labels [N]``, with a legend of class names."""
    colours = _colours(len(class_names))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(embedding[:, 0], embedding[:, 1], c=[colours[y] for y in labels], s=_marker_size(len(labels), 8000),
               alpha=0.8, linewidths=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    _legend(fig, class_names, colours)
    save_figure(fig, path)
    plt.close(fig)
    return Path(path)


def plot_umap_3d(embedding: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path, title: str) -> Path:
    """``embedding [N, 3]`` coloured by class, seen from the three angles of :data:`THREE_VIEWS`, side by side."""
    colours = _colours(len(class_names))
    fig = plt.figure(figsize=(12, 4.2))
    for i, (elevation, azimuth) in enumerate(THREE_VIEWS, start=1):
        ax = fig.add_subplot(1, 3, i, projection="3d")
        ax.scatter(*embedding.T[:3], c=[colours[y] for y in labels], s=_marker_size(len(labels), 6000), alpha=0.8,
                   linewidths=0)
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set_title(f"elevation {elevation}°, azimuth {azimuth}°", fontsize=8)
        ax.set_xticklabels([])
        ax.set_yticklabels([])
        ax.set_zticklabels([])
    fig.suptitle(title, fontsize=10)
    _legend(fig, class_names, colours)
    save_figure(fig, path)
    plt.close(fig)
    return Path(path)
