"""Data: the source registry and seeded few-shot splits. Importing the package registers the built-in sources
(every import of a ``fewgen.data`` module runs this first)."""

from fewgen.data import digits as _digits  # noqa: F401  (registers 'digits')
from fewgen.data import folder as _folder  # noqa: F401  (registers folder:PATH)
from fewgen.data import torchvision_sources as _tv  # noqa: F401  (registers mnist, fashion-mnist, cifar10, cifar100)
from fewgen.data.sources import SOURCES, UNLABELED, ImageSet, Source, SourceOptions, load_source

__all__ = ["SOURCES", "UNLABELED", "ImageSet", "Source", "SourceOptions", "load_source"]
