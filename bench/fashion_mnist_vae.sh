#!/usr/bin/env bash
# Benchmark (issue 2): VAE features (each part, every head) vs pixels+logreg vs ResNet-18
# on Fashion-MNIST, k in {1,2,4,8,16}, full 10k test split, all on the same seeded draws.
# Needs: apt-get install -y dataset-fashion-mnist. Record the output in docs/BENCHMARKS.md.
#   RUN=runs/x EPOCHS=5 SEEDS=5 RESNET_SEEDS=5 bench/fashion_mnist_vae.sh      (RESUME=1 continues a killed pretrain)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/bench-fashion-vae-$(date +%Y%m%d-%H%M%S)}
EPOCHS=${EPOCHS:-5}
SEEDS=${SEEDS:-5}
RESNET_SEEDS=${RESNET_SEEDS:-5}
BIN=${BIN:-.venv/bin}
echo "run folder: $RUN"
/usr/bin/time -f "pretrain wall %e s" "$BIN/fewgen" pretrain --data fashion-mnist --backbone vae --run "$RUN" \
    --epochs "$EPOCHS" --no-progress ${RESUME:+--resume}
/usr/bin/time -f "evaluate (vae + pixels) wall %e s" "$BIN/fewgen" evaluate "$RUN" --shots 1,2,4,8,16 --seeds "$SEEDS" \
    --heads linear,mlp,logreg,knn --baselines pixels --no-progress > /dev/null
/usr/bin/time -f "evaluate (resnet18) wall %e s" "$BIN/fewgen" evaluate "$RUN" --shots 1,2,4,8,16 --seeds "$RESNET_SEEDS" \
    --heads "" --parts stacked --baselines resnet18 --no-progress > /dev/null
"$BIN/python" bench/summarise.py "$RUN"
