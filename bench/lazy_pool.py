"""Datasets larger than memory (issue 13): peak memory and images/s of pretraining and of pool feature
extraction on `folder:` data of growing size. For each size N, N generated 28x28 grayscale PNGs go into
ROOT/nN/unlabeled/ (plus 2 classes x 5 labeled images); then, each in its own process, `fewgen pretrain`
(VAE, 1 epoch over the N images, --workers W) and the extraction of every pool image's features into the
memory-mapped cache. A sampler adds up the resident memory of the process and its DataLoader workers
(PSS: shared pages divided among the processes that share them, so forked workers are not counted
twice) every 0.2 s; the peak is printed with the wall time and images/s. Prints the machine's CPU flags.

usage: python bench/lazy_pool.py [--sizes 10000,50000,200000] [--root /tmp/fewgen-lazy] [--workers 2]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from fewgen.cpu import vector_flags


def make_folder(folder: Path, n: int) -> float:
    """N smooth random 28x28 images (blurred noise: compressible like real ones); returns seconds (0 if present)."""
    unlabeled = folder / "unlabeled"
    if unlabeled.is_dir() and len(list(unlabeled.iterdir())) == n:
        return 0.0
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    unlabeled.mkdir(parents=True, exist_ok=True)
    for c in range(2):
        (folder / "labeled" / f"c{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        coarse = rng.integers(0, 256, (7, 7), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((28, 28), Image.BILINEAR)
        image.save(unlabeled / f"{i:07d}.png")
        if i < 10:
            image.save(folder / "labeled" / f"c{i % 2}" / f"{i}.png")
    return time.perf_counter() - started


def peak_rss(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; returns (peak PSS in MiB summed over the process tree, wall seconds, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_full_info().pss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out = process.stdout.read()
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{out[-3000:]}")
    return peak / 2**20, time.perf_counter() - started, out


EXTRACT = """
import sys, time, numpy as np
from fewgen.features import FeatureCache
from fewgen.rundir import open_run
from pathlib import Path
backbone, checkpoint, source = open_run(Path(sys.argv[1]), None, None, "auto")
t0 = time.perf_counter()
f = FeatureCache(sys.argv[1]).get(backbone, checkpoint, backbone.default_specs()[0], "train", np.arange(len(source.train)),
                                  source.train.images, mmap=True)
print(f"EXTRACT {time.perf_counter() - t0:.2f} {f.shape[0]} {f.shape[1]}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--root", type=Path, default=Path("/tmp/fewgen-lazy"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print("cpu flags:", vector_flags() or "none of avx2/avx512", "| cores:", psutil.cpu_count())
    print("| images | make PNGs (s) | pretrain peak PSS (MiB) | pretrain images/s | extract peak PSS (MiB) | extract images/s |")
    print("|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        folder, run = args.root / f"n{n}", args.root / f"run{n}"
        made = make_folder(folder, n)
        subprocess.run(["rm", "-rf", str(run)], check=True)
        pretrain = [sys.executable, "-m", "fewgen", "pretrain", "--run", str(run), "--data", f"folder:{folder}",
                    "--backbone", "vae", "--epochs", "1", "--workers", str(args.workers), "--no-progress"]
        train_mib, _, _ = peak_rss(pretrain)
        seconds = json.loads((run / "config.json").read_text())["pretrain"]["seconds"]
        extract_mib, _, out = peak_rss([sys.executable, "-c", EXTRACT, str(run)])
        extract_s, rows, _ = out.split("EXTRACT ")[1].split()[:3]
        print(f"| {n:,} | {made:.0f} | {train_mib:.0f} | {(n + 10) / seconds:.0f} | {extract_mib:.0f} | {int(rows) / float(extract_s):.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
