"""From a user's folder to predictions (issue 14): Fashion-MNIST laid out as a user would lay out their photos.

ROOT/labeled/<class>/ holds 5 PNGs per class (a seeded draw from the train split), ROOT/unlabeled/ 20,000 other
train images, ROOT/test/<class>/ the 10,000 test images. Then, each timed, through the CLI:
`fewgen pretrain` (VAE), `fewgen fit` (the default head, logreg; then selftrain, which also learns from the pool),
and `fewgen predict` on ROOT/test/ (10,000 files, decoded by DataLoader workers). Prints the held-out accuracy
`fit` recorded, the accuracy of predict's rows against the folder names, and predict's images/s, with the CPU flags.

usage: python bench/folder_classifier.py [--root /tmp/fewgen-user] [--epochs 5] [--unlabeled 20000]
Needs: apt-get install -y dataset-fashion-mnist
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from fewgen.cpu import vector_flags


def make_folder(root: Path, shots: int, unlabeled: int) -> None:
    from fewgen.data import load_source

    if (root / "test").is_dir():
        return
    source = load_source("fashion-mnist")
    labels = source.train.labels.numpy()
    rng = np.random.default_rng(0)
    chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), shots, replace=False) for c in range(10)])
    rest = rng.choice(np.setdiff1d(np.arange(len(labels)), chosen), unlabeled, replace=False)
    names = [n.replace("/", "-") for n in source.class_names]
    for i in chosen:
        save(root / "labeled" / names[labels[i]] / f"{i:05d}.png", source.train.images[i])
    for i in rest:
        save(root / "unlabeled" / f"{i:05d}.png", source.train.images[i])
    for i, c in enumerate(source.test.labels.numpy()):
        save(root / "test" / names[c] / f"{i:05d}.png", source.test.images[i])


def save(path: Path, image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[0].numpy()).save(path)


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fewgen", *argv], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"fewgen {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout + done.stderr


def machine_line() -> str:
    """The CPU flags that decide the kernels (AVX2, AVX-512, bf16) and the core count, for the record."""
    return f"cpu flags: {vector_flags() or 'none of avx2/avx512'} | cores: {psutil.cpu_count()}"


def pretrain_vae(data: Path, run: Path, epochs: int) -> float:
    """``fewgen pretrain`` of the VAE on the folder ``data`` into a fresh ``run``; its wall seconds."""
    shutil.rmtree(run, ignore_errors=True)
    seconds, _ = timed(["pretrain", "--run", str(run), "--data", f"folder:{data}", "--backbone", "vae",
                        "--epochs", str(epochs), "--no-progress"])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/fewgen-user"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--unlabeled", type=int, default=20000)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    data, run = args.root / "photos", args.root / "run"
    make_folder(data, 5, args.unlabeled)
    seconds = pretrain_vae(data, run, args.epochs)
    print(f"pretrain vae, {args.epochs} epochs on {args.unlabeled + 50} images: {seconds:.0f} s", flush=True)
    for head in ("logreg", "selftrain"):
        model = args.root / f"model-{head}"
        shutil.rmtree(model, ignore_errors=True)
        seconds, _ = timed(["fit", str(run), "--out", str(model), "--head", head])
        meta = json.loads((model / "model.json").read_text())
        print(f"fit {head} ({meta['data']}): {seconds:.0f} s (features of the pool and of test/ included); "
              f"held-out accuracy on test/: {100 * meta['estimate']['accuracy']:.1f}%", flush=True)
        preds = args.root / f"preds-{head}.csv"
        seconds, out = timed(["predict", str(model), str(data / "test"), "--out", str(preds)])
        rows = list(csv.DictReader(preds.open()))
        accuracy = np.mean([Path(r["path"]).parent.name == r["class"] for r in rows])
        print(f"predict {len(rows)} files: {seconds:.1f} s = {len(rows) / seconds:.0f} images/s (process start and "
              f"model load included); accuracy of the rows {100 * accuracy:.1f}%; {out.strip().splitlines()[-1]}", flush=True)


if __name__ == "__main__":
    main()
