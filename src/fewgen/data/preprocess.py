"""How an image file becomes a uint8 ``[C, H, W]`` array: one policy, stated in the run's config and the model folder.

The same :class:`Preprocess` turns a user's files into training images, feature-extraction
images and, after ``fewgen fit``, the images ``fewgen predict`` classifies, so a deployed
classifier sees what the backbone was trained on. In order:

1. EXIF orientation is applied (a phone photo stored sideways is turned upright).
2. The colour mode is normalised: 16-bit and 32-bit grayscale are scaled to 8 bits, images
   with transparency (RGBA, LA, a palette with a transparent colour) are laid on white, and
   CMYK, YCbCr, palette and the rest are converted to ``mode`` ('L' or 'RGB').
3. The image is resized to ``size`` (W, H). ``resize='crop'`` (the default) keeps the aspect
   ratio: the image is scaled to cover ``size`` and the centre is cut out, as torchvision's
   ``Resize`` then ``CenterCrop`` do. ``resize='stretch'`` scales each side to fit, ignoring
   the aspect ratio. Both resize bilinearly with antialiasing (torchvision).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from fewgen.errors import FewgenError

RESIZE_POLICIES = ("crop", "stretch")
MIN_SIDE, MAX_SIDE = 8, 256  # the square image sides fewgen accepts for folder: data (--image-size)
MODES = ("L", "RGB")
WIDE_GRAY_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # more than 8 bits per pixel
GRAY_MODES = {"1", "L", "LA", "La", "P;L"} | WIDE_GRAY_MODES


READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)  # what PIL raises


def check_image_size(image_size: object) -> int:
    """``image_size`` if it is a whole number in ``MIN_SIDE..MAX_SIDE``, else one sentence (for the API and the CLI)."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not MIN_SIDE <= image_size <= MAX_SIDE:
        raise FewgenError(f"image size (--image-size) must be a whole number of pixels between {MIN_SIDE} and {MAX_SIDE}, "
                          f"got {image_size!r}")
    return image_size


def check_resize(resize: object) -> str:
    """``resize`` if it is a known policy, else one sentence (for the API and the CLI)."""
    if resize not in RESIZE_POLICIES:
        raise FewgenError(f"resize policy (--resize) must be one of {', '.join(RESIZE_POLICIES)}, got {resize!r}")
    return resize  # type: ignore[return-value]


def unreadable(path: Path, exc: Exception) -> FewgenError:
    """The one sentence for an image file that cannot be read."""
    return FewgenError(f"cannot read image {path} ({exc}); fix or remove the file")


def open_image(path: Path) -> Image.Image:
    """The fully decoded image at ``path`` (a truncated file fails here), or one sentence naming it."""
    image = None
    try:
        image = Image.open(path)
        image.load()
    except READ_ERRORS as exc:
        if image is not None:
            image.close()  # a file that fails to decode is not left open
        raise unreadable(path, exc) from None
    return image


def is_gray(image: Image.Image) -> bool:
    """Whether ``image`` holds one channel of intensities (any bit depth), judged from its mode alone."""
    if image.mode == "P":
        return False  # a palette may hold colours; reading it as RGB never loses them
    return image.mode in GRAY_MODES


def _eight_bit(image: Image.Image) -> Image.Image:
    """A mode 'L', 'LA', 'RGB' or 'RGBA' image with the content of ``image``: wide grayscale scaled to 0..255,
    transparency kept as alpha (so it can be laid on white), everything else converted by PIL."""
    if image.mode in WIDE_GRAY_MODES:
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") and values.max(initial=0) > 255 else 255.0
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            top = 1.0  # floats in 0..1
        return Image.fromarray(np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "L", "RGB"):
        return image
    if image.mode in ("PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")


def _on_white(image: Image.Image) -> Image.Image:
    """An image with an alpha channel laid on a white background (mode 'RGB' or 'L'); others unchanged."""
    if image.mode not in ("RGBA", "LA"):
        return image
    base = "RGB" if image.mode == "RGBA" else "L"
    background = Image.new(base, image.size, (255, 255, 255) if base == "RGB" else 255)
    background.paste(image.convert(base), mask=image.getchannel("A"))
    return background


@dataclass(frozen=True)
class Preprocess:
    """File -> uint8 ``[C, H, W]``: EXIF orientation, ``mode`` ('L' or 'RGB'), ``size`` (W, H) by ``resize`` policy."""

    mode: str
    size: tuple[int, int]
    resize: str = "crop"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FewgenError(f"image mode must be one of {', '.join(MODES)}, got '{self.mode}'")
        check_resize(self.resize)
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if min(self.size) < 1:
            raise FewgenError(f"image size must be positive, got {self.size[0]}x{self.size[1]}")

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def image(self, image: Image.Image) -> Image.Image:
        """The PIL image, upright, in ``mode``, at ``size``."""
        image = _on_white(_eight_bit(ImageOps.exif_transpose(image)))
        image = image.convert(self.mode)
        (W, H), (w, h) = self.size, image.size
        if (w, h) == (W, H):
            return image
        if self.resize == "stretch":
            return TF.resize(image, [H, W], interpolation=InterpolationMode.BILINEAR, antialias=True)
        scale = max(W / w, H / h)  # cover the target, then cut out its centre
        covering = [max(H, round(h * scale)), max(W, round(w * scale))]
        return TF.center_crop(TF.resize(image, covering, interpolation=InterpolationMode.BILINEAR, antialias=True), [H, W])

    def __call__(self, image: Image.Image) -> np.ndarray:
        """PIL image -> uint8 ``[C, H, W]`` (a writable copy, as torch wants)."""
        array = np.array(self.image(image), dtype=np.uint8)
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)

    def file(self, path: Path) -> np.ndarray:
        """The file at ``path`` -> uint8 ``[C, H, W]``, or one sentence naming the file."""
        with open_image(path) as image:
            return self(image)

    def to_dict(self) -> dict:
        return {**asdict(self), "size": list(self.size)}

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocess":
        return cls(mode=data["mode"], size=tuple(data["size"]), resize=data.get("resize", "crop"))
