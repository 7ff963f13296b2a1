"""fewgen: label-efficient image classification with features from generative models.

``fewgen.pretrain``, ``fewgen.fit``, ``fewgen.load_classifier`` and ``fewgen.Classifier`` are the Python API
(:mod:`fewgen.api`); they are imported on first use, so ``import fewgen`` stays light.
"""

__version__ = "0.1.0"


def major(version: str) -> str:
    """The compatibility part of a version: ``0.1`` for 0.x releases (semver: a 0.x minor may break), else ``1``. Run
    and model folders written by another major version are refused."""
    parts = version.split(".")
    return ".".join(parts[:2]) if parts[0] == "0" else parts[0]

_API = ("Classifier", "fit", "load_classifier", "pretrain")


def __getattr__(name: str):
    if name in _API:
        from fewgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'fewgen' has no attribute {name!r}")
