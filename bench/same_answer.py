"""Same image, same answer: what fixed feature batches and fp32 inference cost, and how far CPU kinds differ.

    .venv/bin/python bench/same_answer.py                      # this CPU
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python bench/same_answer.py --save avx2.npz
    .venv/bin/python bench/same_answer.py --compare avx2.npz   # features here vs under the AVX2 cap

Untrained backbones with their default configs at 28x28 (the arithmetic, not the weights, is what is measured):
ms per image reading 256 images in calls of B images (B <= 64 pads to one batch of 64), in fp32 and bf16.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import fewgen.backbones  # noqa: F401  (the registry)
from fewgen.backbones.base import get_backbone_class

NAMES = ("vae", "vqvae", "alae", "ddpm")


def backbone(name: str, precision: str):
    torch.manual_seed(1)
    cls = get_backbone_class(name)
    model = cls(cls.Config(), (1, 28, 28))
    model.precision = precision
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--save"), parser.add_argument("--compare")
    args = parser.parse_args()
    x = torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    features = {}
    for name in NAMES:
        for precision in ("fp32", "bf16"):
            model = backbone(name, precision)
            spec = model.default_specs()[0]
            features[f"{name}-{precision}"] = model.features(x[:64], spec).numpy()
            if args.save or args.compare:
                continue
            timings = []
            for calls in (1, 16, 64, 256):
                t = time.perf_counter()
                for start in range(0, 64 if calls == 1 else 256, calls):
                    model.features(x[start : start + calls], spec)
                timings.append(f"B={calls}: {(time.perf_counter() - t) / (64 if calls == 1 else 256) * 1e3:.2f}")
            print(f"{name} {precision} ms/image  " + "  ".join(timings))
    if args.save:
        np.savez(args.save, **features)
    if args.compare:
        other = np.load(args.compare)
        for key, here in features.items():
            print(f"{key}: max |here - there| / max |here| = {np.abs(here - other[key]).max() / np.abs(here).max():.1e}")


if __name__ == "__main__":
    main()
