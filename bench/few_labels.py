"""A user's folder with 5 labeled images per class (issue 21): evaluate, fit and predict, honestly.

The folder is bench/folder_classifier.py's: Fashion-MNIST as PNG files, ROOT/photos/labeled/<class>/ with 5 per
class, ROOT/photos/unlabeled/ with 20,000 other train images, ROOT/photos/test/<class>/ with the 10,000 test images.
Then, each timed, through the CLI: `fewgen pretrain` (VAE), `fewgen evaluate --shots 1,2,4` (too few labels for a
fixed validation draw of 16 per class, so it cross-validates over the 50 labeled images, and says so), `fewgen fit`
(the method chosen from evaluate's rows on validation, ties to the simpler head) and `fewgen predict` on test/.
Prints evaluate's protocol lines and table, fit's choice and held-out accuracy, and the accuracy of predict's rows.

usage: python bench/few_labels.py [--root /tmp/fewgen-user] [--epochs 5] [--unlabeled 20000] [--seeds 5]
Needs: apt-get install -y dataset-fashion-mnist
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from folder_classifier import machine_line, make_folder, pretrain_vae, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/fewgen-user"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--unlabeled", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--heads", default="logreg,knn,mlp,selftrain")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    data, run = args.root / "photos", args.root / "run-few"
    make_folder(data, 5, args.unlabeled)
    seconds = pretrain_vae(data, run, args.epochs)
    print(f"pretrain vae, {args.epochs} epochs on {args.unlabeled + 50} images: {seconds:.0f} s", flush=True)
    seconds, out = timed(["evaluate", str(run), "--shots", "1,2,4", "--seeds", str(args.seeds), "--heads", args.heads,
                          "--no-progress"])
    print(f"evaluate --shots 1,2,4 --seeds {args.seeds} --heads {args.heads}: {seconds:.0f} s", flush=True)
    print("\n".join(line for line in out.splitlines() if not line.startswith("warning")), flush=True)
    model = args.root / "model-few"
    shutil.rmtree(model, ignore_errors=True)
    seconds, _ = timed(["fit", str(run), "--out", str(model)])
    meta = json.loads((model / "model.json").read_text())
    method = meta["method"]
    print(f"fit: {seconds:.0f} s; chose {method['head']} on {method['spec']} "
          f"(validation {100 * method['val_accuracy']:.1f}%, {method['chosen_by']}); "
          f"held-out accuracy on test/: {100 * meta['estimate']['accuracy']:.1f}%", flush=True)
    preds = args.root / "preds-few.csv"
    seconds, out = timed(["predict", str(model), str(data / "test"), "--out", str(preds)])
    rows = list(csv.DictReader(preds.open()))
    accuracy = np.mean([Path(r["path"]).parent.name == r["class"] for r in rows])
    print(f"predict {len(rows)} files: {seconds:.1f} s; accuracy of the rows {100 * accuracy:.1f}%", flush=True)


if __name__ == "__main__":
    main()
