"""The source registry and the embedded digits split."""

import pytest
import torch

from fewgen.data import SOURCES, load_source
from fewgen.errors import FewgenError


def test_registry_names():
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "cifar100"} <= set(SOURCES)


def test_unknown_dataset():
    with pytest.raises(FewgenError, match="unknown dataset 'imagenet'"):
        load_source("imagenet")


def test_digits_split(digits):
    assert digits.train.images.shape == (1297, 1, 8, 8) and digits.test.images.shape == (500, 1, 8, 8)
    assert digits.train.images.dtype == torch.uint8 and int(digits.train.images.max()) == 255
    counts = digits.test.labels.bincount()
    assert counts.tolist() == [50, 51, 49, 51, 50, 51, 50, 50, 48, 50]  # stratified, fixed
    assert not digits.hflip_preserves_label


def test_digits_split_is_fixed(digits):
    again = load_source("digits")
    assert torch.equal(again.train.images, digits.train.images) and torch.equal(again.test.labels, digits.test.labels)
