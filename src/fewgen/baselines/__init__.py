"""Baselines trained on the same labeled draws: ResNet-18 from scratch (raw pixels use the ``pixels`` backbone)."""

from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig, cifar_resnet18

__all__ = ["ResNetBaseline", "ResNetConfig", "cifar_resnet18"]
