"""Backbones: the protocol, the registry, and one module per generative model."""

from fewgen.backbones import pixels as _pixels  # noqa: F401  (registers 'pixels')
from fewgen.backbones import vae as _vae  # noqa: F401  (registers 'vae')
from fewgen.backbones import ddpm as _ddpm  # noqa: F401  (registers 'ddpm')
from fewgen.backbones import vqvae as _vqvae  # noqa: F401  (registers 'vqvae')
from fewgen.backbones import alae as _alae  # noqa: F401  (registers 'alae')
from fewgen.backbones.base import BACKBONES, Backbone, FeatureSpec, checkpoint_hash, get_backbone_class, load_backbone

__all__ = ["BACKBONES", "Backbone", "FeatureSpec", "checkpoint_hash", "get_backbone_class", "load_backbone"]
