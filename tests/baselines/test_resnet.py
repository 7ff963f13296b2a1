"""The ResNet-18 baseline: CIFAR stem, label-preserving augmentation, learning on a tiny draw."""

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from fewgen.baselines.resnet import ResNetBaseline, ResNetConfig, cifar_resnet18, standard_augmentation


def test_cifar_stem():
    net = cifar_resnet18(1, 10)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1) and net.conv1.in_channels == 1
    assert isinstance(net.maxpool, nn.Identity)
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_flip_only_where_it_preserves_the_label():
    assert not any(isinstance(t, v2.RandomHorizontalFlip) for t in standard_augmentation(28, hflip=False).transforms)
    assert any(isinstance(t, v2.RandomHorizontalFlip) for t in standard_augmentation(32, hflip=True).transforms)
    crop = standard_augmentation(8, hflip=False).transforms[0]
    assert crop.padding == [1, 1, 1, 1] and crop.size == (8, 8)


def test_learns_a_trivial_draw():
    # class 0: dark images, class 1: bright images
    g = torch.Generator().manual_seed(0)
    dark = torch.randint(0, 60, (6, 1, 8, 8), generator=g, dtype=torch.uint8)
    bright = torch.randint(190, 256, (6, 1, 8, 8), generator=g, dtype=torch.uint8)
    images, labels = torch.cat([dark, bright]), np.array([0] * 6 + [1] * 6)
    model = ResNetBaseline(ResNetConfig(steps=30, batch_size=12), hflip=False, seed=0).fit(images, labels)
    test = torch.cat([torch.full((3, 1, 8, 8), 20, dtype=torch.uint8), torch.full((3, 1, 8, 8), 230, dtype=torch.uint8)])
    assert model.predict(test).tolist() == [0, 0, 0, 1, 1, 1]
