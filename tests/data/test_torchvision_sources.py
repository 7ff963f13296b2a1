"""torchvision's real loaders read small files fabricated in the real on-disk formats."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from torchvision import datasets

from fewgen.data import SourceOptions, load_source
from fewgen.data import torchvision_sources as tvs
from fewgen.errors import FewgenError


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: magic (0, 0, dtype 0x08 = ubyte, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fabricate_idx(raw: Path, n_train=30, n_test=20, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, array in arrays.items():
        write_idx(raw / name, array)
    return arrays


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_sources(tmp_path, monkeypatch, name, folder):
    monkeypatch.setattr(tvs, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    arrays = fabricate_idx(tmp_path / folder / "raw")
    source = load_source(name, SourceOptions(data_root=tmp_path))
    assert source.train.images.shape == (30, 1, 28, 28) and source.test.images.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(source.train.images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(source.test.labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert len(source.class_names) == 10
    assert source.hflip_preserves_label == (name == "fashion-mnist")


def _pickle(path: Path, obj: dict) -> str:
    path.write_bytes(pickle.dumps(obj))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar10(tmp_path, monkeypatch):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    train_list, batches = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        batches.append(data)
        md5 = _pickle(base / f"data_batch_{i}", {"data": data, "labels": [i % 10, 1, 2, 3]})
        train_list.append([f"data_batch_{i}", md5])
    test_md5 = _pickle(base / "test_batch", {"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3, 4, 5]})
    meta_md5 = _pickle(base / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    # torchvision checks each file's md5 against its class lists; point them at the fabricated files
    monkeypatch.setattr(datasets.CIFAR10, "train_list", train_list)
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", test_md5]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": meta_md5})
    source = load_source("cifar10", SourceOptions(data_root=tmp_path))
    assert source.train.images.shape == (20, 3, 32, 32) and source.test.images.shape == (6, 3, 32, 32)
    expected = batches[0][0].reshape(3, 32, 32)  # CIFAR rows are channel-major
    np.testing.assert_array_equal(source.train.images[0].numpy(), expected)
    assert source.class_names == [f"c{i}" for i in range(10)]


def test_cifar100(tmp_path, monkeypatch):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    rng = np.random.default_rng(1)
    train_md5 = _pickle(base / "train", {"data": rng.integers(0, 256, (5, 3072), dtype=np.uint8), "fine_labels": [0, 1, 2, 3, 99]})
    test_md5 = _pickle(base / "test", {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), "fine_labels": [5, 6, 7]})
    meta_md5 = _pickle(base / "meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    monkeypatch.setattr(datasets.CIFAR100, "train_list", [["train", train_md5]])
    monkeypatch.setattr(datasets.CIFAR100, "test_list", [["test", test_md5]])
    monkeypatch.setattr(datasets.CIFAR100, "meta", {"filename": "meta", "key": "fine_label_names", "md5": meta_md5})
    source = load_source("cifar100", SourceOptions(data_root=tmp_path))
    assert source.num_classes == 100 and source.train.labels.tolist() == [0, 1, 2, 3, 99]


def test_fashion_mnist_prepared_from_debian_layout(tmp_path, monkeypatch):
    fake_debian = tmp_path / "debian"
    arrays = fabricate_idx(tmp_path / "staging")
    fake_debian.mkdir()
    for name in arrays:
        (fake_debian / f"{name}.gz").write_bytes(gzip.compress((tmp_path / "staging" / name).read_bytes()))
    monkeypatch.setattr(tvs, "DEBIAN_FASHION_MNIST", fake_debian)
    root = tmp_path / "root"
    root.mkdir()
    source = load_source("fashion-mnist", SourceOptions(data_root=root))
    assert (root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert len(source.train) == 30


def test_missing_data_root_is_a_clear_error(tmp_path):
    with pytest.raises(FewgenError, match="--data-root .* does not exist"):
        load_source("mnist", SourceOptions(data_root=tmp_path / "nope"))


def test_root_without_files_is_a_clear_error(tmp_path):
    with pytest.raises(FewgenError, match="no readable mnist files under data root"):
        load_source("mnist", SourceOptions(data_root=tmp_path))


@pytest.mark.skipif(not tvs.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(tmp_path):
    source = load_source("fashion-mnist", SourceOptions(data_root=tmp_path))
    assert source.train.images.shape == (60000, 1, 28, 28) and source.test.images.shape == (10000, 1, 28, 28)
    assert source.train.labels.bincount().tolist() == [6000] * 10
