#!/usr/bin/env bash
# Benchmark (issue 4): one generative backbone (vqvae, alae, ...) on Fashion-MNIST. Pretrain (<= 60 CPU-minutes
# on 2 cores), then evaluate k in {1,2,4,8,16}, 5 seeds, every head and every default feature spec. The pixels,
# ResNet-18, VAE and DDPM rows on the same seeded draws come from the earlier runs given as OTHER_RUNS.
# Needs: apt-get install -y dataset-fashion-mnist. Record the output in docs/BENCHMARKS.md.
#   BACKBONE=vqvae OPTIONS="channels=128" EPOCHS=20 RUN=runs/bench-fashion-vqvae \
#     OTHER_RUNS="runs/bench-fashion-vae runs/bench-fashion-ddpm" bench/fashion_mnist_backbone.sh
# (RESUME=1 continues a killed pretrain.)
set -euo pipefail
cd "$(dirname "$0")/.."
BACKBONE=${BACKBONE:?set BACKBONE, e.g. vqvae}
RUN=${RUN:-runs/bench-fashion-$BACKBONE-$(date +%Y%m%d-%H%M%S)}
EPOCHS=${EPOCHS:-20}
LR=${LR:-1e-3}
SCHEDULE=${SCHEDULE:-cosine}
SEEDS=${SEEDS:-5}
BIN=${BIN:-.venv/bin}
option_args=()
for kv in ${OPTIONS:-}; do option_args+=(-o "$kv"); done
echo "run folder: $RUN"
/usr/bin/time -f "pretrain wall %e s" "$BIN/fewgen" pretrain --data fashion-mnist --backbone "$BACKBONE" "${option_args[@]}" \
    --run "$RUN" --epochs "$EPOCHS" --lr "$LR" --schedule "$SCHEDULE" --no-progress ${RESUME:+--resume}
"$BIN/python" - "$RUN" <<'PY'
import json, sys
history = json.load(open(f"{sys.argv[1]}/config.json"))["pretrain"]["history"]
for row in history:
    print("epoch", row["epoch"], " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
PY
/usr/bin/time -f "evaluate wall %e s" "$BIN/fewgen" evaluate "$RUN" --shots 1,2,4,8,16 --seeds "$SEEDS" \
    --heads linear,mlp,logreg,knn --baselines "" --no-progress > /dev/null
"$BIN/python" bench/summarise.py "$RUN" ${OTHER_RUNS:-}
