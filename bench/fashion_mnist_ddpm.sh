#!/usr/bin/env bash
# Benchmark (issue 3): DDPM `small` preset on Fashion-MNIST. Pretrain (<= 60 CPU-minutes on 2 cores),
# choose timestep and blocks with `fewgen select` (validation draw only), then evaluate k in {1,2,4,8,16},
# 5 seeds, every head, beside pixels+logreg on the same seeded draws. ResNet-18 and VAE rows on the same
# draws come from the issue-2 run (bench/fashion_mnist_vae.sh); pass it as VAE_RUN to print them together.
# Needs: apt-get install -y dataset-fashion-mnist. Record the output in docs/BENCHMARKS.md.
#   RUN=runs/x EPOCHS=8 VAE_RUN=runs/bench-fashion-vae bench/fashion_mnist_ddpm.sh   (RESUME=1 continues a killed pretrain)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/bench-fashion-ddpm-$(date +%Y%m%d-%H%M%S)}
EPOCHS=${EPOCHS:-8}
SEEDS=${SEEDS:-5}
PRESET=${PRESET:-small}
BIN=${BIN:-.venv/bin}
echo "run folder: $RUN"
/usr/bin/time -f "pretrain wall %e s" "$BIN/fewgen" pretrain --data fashion-mnist --backbone ddpm -o preset="$PRESET" \
    --run "$RUN" --epochs "$EPOCHS" --lr 1e-3 --schedule cosine --no-progress ${RESUME:+--resume}
"$BIN/python" bench/ddpm_throughput.py "$RUN"
/usr/bin/time -f "select wall %e s" "$BIN/fewgen" select "$RUN" --no-progress
/usr/bin/time -f "evaluate (ddpm + pixels) wall %e s" "$BIN/fewgen" evaluate "$RUN" --shots 1,2,4,8,16 --seeds "$SEEDS" \
    --heads linear,mlp,logreg,knn --baselines pixels --no-progress > /dev/null
"$BIN/python" bench/summarise.py "$RUN" ${VAE_RUN:-}
