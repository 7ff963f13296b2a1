"""The classic augmentations cGLO is compared with, all from torchvision's transforms (v2), on uint8 images.

- ``none``: the images as drawn.
- ``standard``: random crop with padding and, only where it keeps the label, horizontal flips (the
  ResNet-18 baseline's augmentation; the cGLO paper uses it in every experiment, its own included).
- ``cutout`` (DeVries & Taylor, 2017): standard, then one square of half the image side set to 0, always.
  torchvision's ``RandomErasing`` with a fixed scale of 1/4 and aspect ratio 1 is exactly that square
  (kept inside the image).
- ``erasing`` (Zhong et al., 2020, Random Erasing): standard, then with probability 0.5 a rectangle of
  2-33% of the area and aspect ratio 0.3-3.3 set to 0 (torchvision's defaults).
- ``cglo``: standard, after half of each minibatch is replaced by cGLO samples (see
  :class:`fewgen.augment.train.CGLOReplacement`).
"""

from __future__ import annotations

from torchvision.transforms import v2

from fewgen.baselines.resnet import standard_augmentation
from fewgen.errors import FewgenError

AUGMENTATIONS = ("none", "standard", "cutout", "erasing", "cglo")


def classic_augmentation(name: str, image_size: int, hflip: bool) -> v2.Transform:
    """The per-image transform of augmentation ``name`` (``cglo`` uses ``standard``'s)."""
    if name not in AUGMENTATIONS:
        raise FewgenError(f"unknown augmentation '{name}' in --augmentations; use some of: {', '.join(AUGMENTATIONS)}")
    if name == "none":
        return v2.Identity()
    standard = standard_augmentation(image_size, hflip)
    if name == "cutout":
        return v2.Compose([standard, v2.RandomErasing(p=1.0, scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0)])
    if name == "erasing":
        return v2.Compose([standard, v2.RandomErasing(p=0.5, value=0)])
    return standard
