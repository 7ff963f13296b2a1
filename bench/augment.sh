#!/usr/bin/env bash
# Benchmark (issue 6): ResNet-18 on each labeled draw with each augmentation (none, standard, Cutout,
# Random Erasing, cGLO), 5 seeds, on the draws 'fewgen evaluate' uses. A cGLO is fitted on every draw.
#   DATA=digits SHOTS=1,2,5,10 RUN=runs/bench-augment-digits bench/augment.sh
#   DATA=fashion-mnist SHOTS=1,2,4,8,16 RUN=runs/bench-augment-fashion bench/augment.sh
# EXTRA passes more options, e.g. EXTRA="--augmentations cglo --no-classifier" for an ablation's rows.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
/usr/bin/time -f "augment wall %e s, peak RSS %M KB" "$BIN/fewgen" augment --run "$RUN" --data "$DATA" --shots "$SHOTS" \
  --seeds "${SEEDS:-5}" --resnet-steps "${RESNET_STEPS:-200}" --no-progress ${EXTRA:-}
