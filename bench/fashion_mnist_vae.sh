#!/usr/bin/env bash
# Benchmark (issue 2): VAE features (each part, every head) vs pixels+logreg vs ResNet-18
# on Fashion-MNIST, k in {1,2,4,8,16}, 5 seeds, full 10k test split.
# Needs: apt-get install -y dataset-fashion-mnist. Results go to docs/BENCHMARKS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/bench-fashion-vae-$(date +%Y%m%d-%H%M%S)}
EPOCHS=${EPOCHS:-8}
FEWGEN=${FEWGEN:-.venv/bin/fewgen}
echo "run folder: $RUN"
/usr/bin/time -f "pretrain wall %e s" "$FEWGEN" pretrain --data fashion-mnist --backbone vae --run "$RUN" --epochs "$EPOCHS" --no-progress
/usr/bin/time -f "evaluate wall %e s" "$FEWGEN" evaluate "$RUN" --shots 1,2,4,8,16 --seeds 5 \
    --heads linear,mlp,logreg,knn --baselines pixels,resnet18 --no-progress
