"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 through torchvision's own loaders.

Data lives under ``data_root`` in torchvision's layout (``ROOT/MNIST/raw``,
``ROOT/FashionMNIST/raw``, ``ROOT/cifar-10-batches-py``, ``ROOT/cifar-100-python``).
``download=True`` lets torchvision fetch it. For Fashion-MNIST, when Debian's
``dataset-fashion-mnist`` package is installed, the root is prepared from
``/usr/share/datasets/fashion-mnist`` (torchvision wants the IDX files unzipped).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from fewgen.atomic import atomic_path
from fewgen.data.sources import ImageSet, Source, SourceOptions, register_source
from fewgen.errors import FewgenError

DEFAULT_DATA_ROOT = Path("~/.cache/fewgen/datasets").expanduser()
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def resolve_root(options: SourceOptions) -> Path:
    """The data root to read; a root the user named must exist unless downloading."""
    if options.data_root is None:
        return DEFAULT_DATA_ROOT
    root = Path(options.data_root).expanduser()
    if not root.is_dir() and not options.download:
        raise FewgenError(f"--data-root {root} does not exist; create it with the dataset files in it, or pass --download")
    return root


def prepare_fashion_mnist_from_debian(root: Path, debian_dir: Path | None = None) -> bool:
    """Unzip Debian's Fashion-MNIST into ``root/FashionMNIST/raw``; True if the files are there afterwards."""
    debian_dir = debian_dir or DEBIAN_FASHION_MNIST
    raw = root / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in IDX_FILES):
        return True
    if not all((debian_dir / f"{name}.gz").is_file() for name in IDX_FILES):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        with gzip.open(debian_dir / f"{name}.gz", "rb") as src, atomic_path(raw / name) as tmp:
            with open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return True


def _open(cls, root: Path, train: bool, download: bool, label: str):
    try:
        return cls(root=str(root), train=train, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted..."
        hint = "pass --download (needs internet)" if not download else "check your connection"
        raise FewgenError(f"no readable {label} files under data root {root} ({exc}); {hint} or copy them there") from None


def _from_idx(ds) -> ImageSet:
    """torchvision MNIST-style dataset -> ImageSet; ``ds.data`` is uint8 ``[N, H, W]``."""
    return ImageSet(ds.data.to(torch.uint8).unsqueeze(1).contiguous(), ds.targets.to(torch.int64))


def _from_cifar(ds) -> ImageSet:
    """torchvision CIFAR dataset -> ImageSet; ``ds.data`` is uint8 numpy ``[N, H, W, 3]``."""
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.as_tensor(ds.targets, dtype=torch.int64))


def _load(options: SourceOptions, name: str, cls, convert, hflip: bool, root: Path | None = None) -> Source:
    root = root or resolve_root(options)
    train = _open(cls, root, True, options.download, name)
    test = _open(cls, root, False, options.download, name)
    return Source(
        name=name,
        train=convert(train),
        test=convert(test),
        class_names=list(train.classes),
        hflip_preserves_label=hflip,
        notes={"data_root": str(root)},
    )


@register_source("mnist")
def load_mnist(options: SourceOptions) -> Source:
    return _load(options, "mnist", datasets.MNIST, _from_idx, hflip=False)


@register_source("fashion-mnist")
def load_fashion_mnist(options: SourceOptions) -> Source:
    root = resolve_root(options)
    if not options.download and DEBIAN_FASHION_MNIST.is_dir():
        prepare_fashion_mnist_from_debian(root)
    return _load(options, "fashion-mnist", datasets.FashionMNIST, _from_idx, hflip=True, root=root)


@register_source("cifar10")
def load_cifar10(options: SourceOptions) -> Source:
    return _load(options, "cifar10", datasets.CIFAR10, _from_cifar, hflip=True)


@register_source("cifar100")
def load_cifar100(options: SourceOptions) -> Source:
    return _load(options, "cifar100", datasets.CIFAR100, _from_cifar, hflip=True)
