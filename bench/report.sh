#!/usr/bin/env bash
# Benchmark (issue 5): how long 'fewgen report' takes on finished runs, first with no UMAP cache (every
# projection computed: 2-D and 3-D for each backbone and for raw pixels) and then again (all cached).
#   RUNS="runs/bench-fashion-ddpm runs/bench-fashion-vae runs/bench-fashion-vqvae runs/bench-fashion-alae" \
#     OUT=runs/bench-fashion-report bench/report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/bench-report}
POINTS=${POINTS:-2000}
for run in $RUNS; do
  rm -rf "$run/umap"
done
/usr/bin/time -f "report, UMAP cache empty: wall %e s, peak RSS %M KB" "$BIN/fewgen" report $RUNS --out "$OUT" --umap-points "$POINTS"
/usr/bin/time -f "report, UMAP cached: wall %e s, peak RSS %M KB" "$BIN/fewgen" report $RUNS --out "$OUT" --umap-points "$POINTS"
ls -l "$OUT/report.html"
