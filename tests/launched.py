"""Started under ``torchrun --nproc-per-node 2`` by tests that need several processes (CPU, gloo).

``launched.py trainer OUT``: every process builds the same NoisyRegressor (noise off) and trains it on the test
data: straight into ``OUT/straight/``, and resumed from the one-process checkpoint in ``OUT/killed/``. The main
process saves both results as ``OUT/{straight,resumed}.safetensors``.

``launched.py cli LOG_DIR ARGS...``: runs ``fewgen ARGS...`` and records the files each process renamed into
place (every write of fewgen is atomic, so every file it writes) in ``LOG_DIR/writes-RANK.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file


def trainer(out: Path) -> None:
    from fewgen.train import Trainer, is_main_process
    from tests.test_train import EXACT_CONFIG, NoisyRegressor, data

    class Recording(NoisyRegressor):
        def training_loss(self, x, y):
            seen.append(x[:, 0].tolist())  # which rows this process read, step by step
            return super().training_loss(x, y)

    results, seen = {}, []
    for name, resume in (("straight", False), ("killed", True)):
        torch.manual_seed(0)
        model = Recording(noise=0.0)
        Trainer(model, EXACT_CONFIG, out / name).fit(*data(), resume=resume)
        results["resumed" if resume else name] = model
        if not resume:
            (out / f"rows-{os.environ['RANK']}.json").write_text(json.dumps(seen))
    if is_main_process():
        for name, model in results.items():
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"{name}.safetensors"))


def cli(log_dir: Path, args: list[str]) -> int:
    from fewgen.cli import main

    writes, replace = [], os.replace

    def recording_replace(src, dst, *a, **k):
        writes.append(str(dst))
        return replace(src, dst, *a, **k)

    os.replace = recording_replace
    try:
        code = main(args)
    finally:
        os.replace = replace
        rank = os.environ.get("RANK", "0")
        (log_dir / f"writes-{rank}.json").write_text(json.dumps(writes))
    return code


if __name__ == "__main__":
    torch.set_num_threads(1)
    argv = sys.argv[2:] if sys.argv[1] == "--" else sys.argv[1:]  # torchrun passes on the "--" that ends its own options
    if argv[0] == "trainer":
        trainer(Path(argv[1]))
    else:
        sys.exit(cli(Path(argv[1]), argv[2:]))
