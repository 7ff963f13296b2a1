"""scikit-learn's bundled 8x8 digits: the embedded default, no download needed.

The split is fixed and stratified: 1,297 train / 500 test
(``train_test_split(test_size=500, stratify=y, random_state=0)``). Pixel values
0..16 are rescaled to 0..255.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fewgen.data.sources import ImageSet, Source, SourceOptions, register_source

DIGITS_TEST_SIZE = 500
DIGITS_SPLIT_SEED = 0


@register_source("digits")
def load_digits_source(options: SourceOptions) -> Source:
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # [N, 1, 8, 8]
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=DIGITS_TEST_SIZE, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    idx_train.sort()
    idx_test.sort()

    def make(idx: np.ndarray) -> ImageSet:
        return ImageSet(torch.from_numpy(images[idx]), torch.from_numpy(labels[idx]))

    return Source(
        name="digits",
        train=make(idx_train),
        test=make(idx_test),
        class_names=[str(d) for d in range(10)],
        hflip_preserves_label=False,
    )
