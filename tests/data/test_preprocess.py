"""One preprocessing policy for every file: EXIF orientation, colour modes, and resizing that keeps the aspect ratio."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fewgen.data.preprocess import Preprocess
from fewgen.errors import FewgenError


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((10, 20), np.uint8)
    array[:, :5] = 255  # a bright left edge, stored sideways
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the bright edge ends at the top
    image.save(tmp_path / "r.png", exif=exif)
    out = Preprocess("L", (10, 20), "stretch").file(tmp_path / "r.png")[0]  # [H=20, W=10] upright
    assert out.shape == (20, 10) and out[:5].mean() > 250 and out[-5:].mean() < 5


def test_modes_become_eight_bit_and_transparency_lies_on_white():
    rgba = Image.fromarray(np.dstack([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)]), "RGBA")
    assert (Preprocess("RGB", (4, 4))(rgba) == 255).all()  # fully transparent black: white
    wide = Image.fromarray(np.full((4, 4), 65535, np.uint16))  # 16-bit white
    assert wide.mode.startswith("I;16") and (Preprocess("L", (4, 4))(wide) == 255).all()
    cmyk = Image.new("CMYK", (4, 4), (0, 0, 0, 0))  # no ink: white
    assert (Preprocess("RGB", (4, 4))(cmyk) == 255).all()
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert Preprocess("RGB", (4, 4))(palette)[:, 0, 0].tolist() == [10, 200, 30]


def test_crop_keeps_the_aspect_ratio_and_stretch_does_not():
    array = np.zeros((10, 30), np.uint8)
    array[:, 10:20] = 255  # a wide image whose centre third is bright
    image = Image.fromarray(array)
    cropped = Preprocess("L", (10, 10), "crop")(image)[0]
    stretched = Preprocess("L", (10, 10), "stretch")(image)[0]
    assert cropped.min() == 255  # the centre square, unsquashed
    assert stretched[:, 0].max() == 0 and stretched[:, 5].min() == 255  # squashed: dark edges stay


def test_bad_policy_and_size_are_one_sentence():
    with pytest.raises(FewgenError, match="resize policy"):
        Preprocess("L", (4, 4), "zoom")
    with pytest.raises(FewgenError, match="image size must be positive"):
        Preprocess("L", (0, 4))
