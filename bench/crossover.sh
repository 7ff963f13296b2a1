#!/usr/bin/env bash
# Benchmark (issue 4): extend the Fashion-MNIST runs to k = 32, 64 so that the crossover against resnet18 (the
# largest k at which a backbone's validation-chosen method still beats it) can be found beyond k = 16. Every
# head and default spec of each run is evaluated at the new k, on the same seeded draws as before (features are
# cached). VAE_RUN also gets the pixels and resnet18 baselines; DDPM_SPEC adds the DDPM variant's options.
#   VAE_RUN=runs/bench-fashion-vae DDPM_RUN=runs/bench-fashion-ddpm OTHER_RUNS="runs/bench-fashion-vqvae runs/bench-fashion-alae" \
#     bench/crossover.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOTS=${SHOTS:-32,64}
SEEDS=${SEEDS:-5}
BIN=${BIN:-.venv/bin}
HEADS=linear,mlp,logreg,knn
common=(--shots "$SHOTS" --seeds "$SEEDS" --heads "$HEADS" --no-progress)
if [ -n "${VAE_RUN:-}" ]; then
  /usr/bin/time -f "vae + baselines wall %e s" "$BIN/fewgen" evaluate "$VAE_RUN" "${common[@]}" --baselines pixels,resnet18 > /dev/null
fi
if [ -n "${DDPM_RUN:-}" ]; then
  "$BIN/fewgen" evaluate "$DDPM_RUN" "${common[@]}" --baselines "" > /dev/null
  "$BIN/fewgen" evaluate "$DDPM_RUN" "${common[@]}" --baselines "" ${DDPM_SPEC:---timesteps 50+100 --blocks up0+up1+up2+mid --pool 2x2} > /dev/null
fi
for run in ${OTHER_RUNS:-}; do
  "$BIN/fewgen" evaluate "$run" "${common[@]}" --baselines "" > /dev/null
done
