"""The students' networks: uint8 images ``[B, C, H, W]`` -> logits ``[B, K]``.

``small`` is a compact CNN from scratch, far cheaper on 2 CPU cores than the CIFAR-stem ResNet-18 (about 0.1 M
parameters against 11 M). ``encoder`` is the backbone's own feature path, fine-tuned: a copy of the pretrained
model whose ``_features`` (the very computation ``fewgen evaluate`` reads, for the teacher's spec) feed a
batch-normalised linear layer, as a linear probe that is then allowed to move the features (the standardisation
plays the part of the heads' StandardScaler).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from fewgen.backbones.base import Backbone, FeatureSpec
from fewgen.backbones.torch_backbone import TorchBackbone
from fewgen.errors import FewgenError


class Normalised(nn.Module):
    """uint8 ``[B, C, H, W]`` -> ``net(x / 127.5 - 1)``: a network on [-1, 1] images that takes uint8 ones."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float() / 127.5 - 1.0)


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Images in [-1, 1] ``[B, C, H, W]`` -> logits ``[B, K]``: three stages of 3x3 convolutions (32, 64, 128
    channels; two max-pools), global average pooling and a linear layer."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(*_conv(in_channels, width), *_conv(width, width), nn.MaxPool2d(2),
                                      *_conv(width, 2 * width), *_conv(2 * width, 2 * width), nn.MaxPool2d(2),
                                      *_conv(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EncoderNet(nn.Module):
    """uint8 ``[B, C, H, W]`` -> logits ``[B, K]`` through a trainable copy of ``backbone``'s model: its features for
    ``spec`` ``[B, D]``, standardised (BatchNorm1d), then a linear layer."""

    def __init__(self, backbone: TorchBackbone, spec: FeatureSpec, num_classes: int):
        super().__init__()
        self.body = copy.deepcopy(backbone.model).cpu().float()
        for parameter in self.body.parameters():
            parameter.requires_grad_(True)  # an EMA copy is kept frozen in pretraining
        view = copy.copy(backbone)
        view.model = self.body
        self.__dict__["view"], self.__dict__["spec"] = view, spec  # not submodules: the body is registered once
        was_training = self.body.training
        self.body.eval()
        with torch.no_grad():
            dim = view._features(torch.zeros((2, *backbone.image_shape), dtype=torch.uint8), spec).shape[1]
        self.body.train(was_training)
        self.norm = nn.BatchNorm1d(dim)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.norm(self.view._features(x, self.spec).float()))


def build_network(name: str, image_shape: tuple[int, int, int], num_classes: int, backbone: Backbone | None = None,
                  spec: FeatureSpec | None = None) -> nn.Module:
    """Student network ``name`` (the registry of :mod:`fewgen.students`) for uint8 images: ``small`` from scratch,
    or ``encoder`` from ``backbone``'s weights for ``spec``; one sentence if the backbone has none."""
    if name == "small":
        return Normalised(SmallCNN(image_shape[0], num_classes))
    if name == "encoder":
        if not isinstance(backbone, TorchBackbone):
            raise FewgenError(f"the {getattr(backbone, 'name', 'given')} backbone has no trained image-to-feature path for "
                              "the encoder student; use --students small, or a run of vae, vqvae, alae or ddpm")
        return EncoderNet(backbone, spec or backbone.default_specs()[0], num_classes)
    raise FewgenError(f"unknown student network '{name}'")
