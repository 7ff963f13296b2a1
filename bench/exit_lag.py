"""Seconds from a command's last printed line to its exit, for pretrain, evaluate, fit and predict on a folder.

usage: python bench/exit_lag.py WORKDIR [BACKBONE=ddpm]
Writes the digits as a folder source (5 labeled and 20 test images per class, the rest unlabeled, 28x28 PNGs) under
WORKDIR, runs the four commands through the installed ``fewgen`` script with a tiny preset, and prints each command's
wall time and the time between its last line (stdout or stderr) and its exit.
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from fewgen.cpu import vector_flags


def write_folder(root: Path) -> None:
    digits = load_digits()
    images, labels = (digits.images * 16).clip(0, 255).astype(np.uint8), digits.target
    seen: dict[int, int] = {}
    for i in np.random.default_rng(0).permutation(len(labels)):
        label = int(labels[i])
        n = seen[label] = seen.get(label, 0) + 1
        part = f"labeled/{label}" if n <= 5 else f"test/{label}" if n <= 25 else "unlabeled"
        path = root / part / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).resize((28, 28)).save(path)


def timed(command: list[str]) -> tuple[float, float, int]:
    """(total seconds, seconds from the last line to the exit, exit code)."""
    started = time.perf_counter()
    last = started
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in process.stdout:
        last = time.perf_counter()
    process.wait()
    ended = time.perf_counter()
    return ended - started, ended - last, process.returncode


work = Path(sys.argv[1])
backbone = sys.argv[2] if len(sys.argv) > 2 else "ddpm"
fewgen = str(Path(sys.executable).with_name("fewgen"))
write_folder(work / "photos")
run, model = str(work / "runs" / backbone), str(work / "models" / backbone)
preset = ["-o", "preset=tiny"] if backbone in ("ddpm", "vae") else []
commands = {
    "pretrain": ["pretrain", "--run", run, "--data", f"folder:{work / 'photos'}", "--backbone", backbone, *preset,
                 "--epochs", "1", "--no-progress"],
    "evaluate": ["evaluate", run, "--shots", "1,4", "--seeds", "2", "--heads", "logreg,propagate", "--no-progress"],
    "fit": ["fit", run, "--out", model],
    "predict": ["predict", model, str(work / "photos" / "test"), "--out", str(work / "predictions.csv")],
}
print(f"cpu flags: {vector_flags()}")
for name, arguments in commands.items():
    total, lag, code = timed([fewgen, *arguments])
    print(f"{name:9s} exit {code}  {total:6.1f}s in all  {lag:5.2f}s from the last line to the exit")
