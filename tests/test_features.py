"""The feature cache: what its key holds, so that a new checkpoint, spec, split, precision or image set never
reads another's features."""

from __future__ import annotations

import os

import numpy as np
import torch

from fewgen.backbones import FeatureSpec, get_backbone_class
from fewgen.features import FeatureCache


def _vae(seed: int):
    torch.manual_seed(seed)
    cls = get_backbone_class("vae")
    backbone = cls(cls.Config(channels=8, latent_dim=4), (1, 8, 8))
    backbone.precision = "fp32"
    return backbone


def test_a_retrained_checkpoint_never_reads_the_old_features(tmp_path):
    """Same backbone name, spec, split and images; other weights (a resumed or retrained run): another key."""
    images = torch.randint(0, 256, (10, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    old, new = _vae(0), _vae(1)
    spec, rows = FeatureSpec(part="encoder"), np.arange(10)
    cache = FeatureCache(tmp_path)
    first = cache.get(old, "checkpoint-a", spec, "train", rows, images)
    second = cache.get(new, "checkpoint-b", spec, "train", rows, images)
    assert not np.allclose(first, second)
    assert np.array_equal(second, new.features(images, spec).numpy())
    assert np.array_equal(cache.get(old, "checkpoint-a", spec, "train", rows, images), first)  # a hit, still old's


def test_each_part_of_the_key_gives_its_own_file(tmp_path):
    images = torch.randint(0, 256, (10, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    backbone, cache = _vae(0), FeatureCache(tmp_path)
    calls = [("c", FeatureSpec(part="encoder"), "train", np.arange(10)), ("d", FeatureSpec(part="encoder"), "train", np.arange(10)),
             ("c", FeatureSpec(part="decoder"), "train", np.arange(10)), ("c", FeatureSpec(part="encoder"), "test", np.arange(10)),
             ("c", FeatureSpec(part="encoder"), "train", np.arange(5))]
    for checkpoint, spec, split, rows in calls:
        cache.get(backbone, checkpoint, spec, split, rows, images)
    assert len(cache.cached("train")) + len(cache.cached("test")) == len(calls)


def test_a_folder_whose_files_moved_never_reads_another_images_features(tmp_path):
    """The suggest workflow moves files from unlabeled/ to labeled/, which renumbers a folder's train split: the same
    indices then name other files, and must not read the features cached for the old ones (nor for a replaced file)."""
    from PIL import Image

    from fewgen.data.files import ImageFiles
    from fewgen.data.preprocess import Preprocess

    paths = []
    for i in range(4):
        paths.append(tmp_path / "images" / f"{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(paths[-1])
    preprocess = Preprocess("L", (8, 8))
    backbone, cache, spec, rows = _vae(0), FeatureCache(tmp_path / "run"), FeatureSpec(part="encoder"), np.arange(4)
    before = cache.get(backbone, "c", spec, "train", rows, ImageFiles(paths, preprocess))
    moved = ImageFiles([paths[3], paths[0], paths[1], paths[2]], preprocess)  # one labeled now comes first
    after = cache.get(backbone, "c", spec, "train", rows, moved)
    assert np.array_equal(after, before[[3, 0, 1, 2]])
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(paths[0])  # an image replaced in place
    os.utime(paths[0], ns=(1, 1))
    replaced = cache.get(backbone, "c", spec, "train", rows, ImageFiles(paths, preprocess))
    assert np.array_equal(replaced, backbone.features(ImageFiles(paths, preprocess)[rows], spec).numpy())
    assert not np.array_equal(replaced[0], before[0])
