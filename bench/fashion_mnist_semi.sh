#!/usr/bin/env bash
# Benchmark (issue 12): heads that learn from the unlabeled pool (umap, selftrain, propagate) beside logreg, on
# Fashion-MNIST runs made earlier (bench/fashion_mnist_vae.sh, bench/fashion_mnist_backbone.sh, ...) and on raw
# pixels, k in {1,2,4,8,16}, 5 seeds, the same seeded draws; then the paired differences against logreg, the
# setting each head chose on validation, per-draw and one-off times, and the validation -> test gap.
# Needs: apt-get install -y dataset-fashion-mnist. Record the output in docs/BENCHMARKS.md.
#   RUNS="runs/fm-vae" PARTS=stacked bench/fashion_mnist_semi.sh      (PIXELS_RUN=runs/fm-pixels by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
PIXELS_RUN=${PIXELS_RUN:-runs/fm-pixels}
HEADS=${HEADS:-logreg,umap,selftrain,propagate}
SPEC_ARGS=()
[ -n "${PARTS:-}" ] && SPEC_ARGS+=(--parts "$PARTS")
[ -d "$PIXELS_RUN" ] || "$BIN/fewgen" pretrain --data fashion-mnist --backbone pixels --run "$PIXELS_RUN" --epochs 0 --no-progress
/usr/bin/time -f "evaluate $PIXELS_RUN wall %e s" "$BIN/fewgen" evaluate "$PIXELS_RUN" --shots 1,2,4,8,16 --seeds 5 \
    --heads "$HEADS" --scaling global --baselines "" --no-progress > /dev/null
for run in ${RUNS:-}; do
    /usr/bin/time -f "evaluate $run wall %e s" "$BIN/fewgen" evaluate "$run" --shots 1,2,4,8,16 --seeds 5 \
        --heads "$HEADS" "${SPEC_ARGS[@]}" --baselines "" --no-progress > /dev/null
done
"$BIN/python" bench/semi_heads.py "$PIXELS_RUN" ${RUNS:-}
