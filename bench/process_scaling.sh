#!/usr/bin/env bash
# Benchmark (issue 13): pretraining images/s with 1 and with 2 data-parallel processes on the same global batch.
# torchrun starts the processes (CPU: gloo, one thread each, OMP_NUM_THREADS=THREADS); the one-process run uses
# the same launcher. Prints images/s from each run's config.json and the machine's CPU flags.
# Needs: apt-get install -y dataset-fashion-mnist (or DATA=digits).
#   DATA=fashion-mnist BACKBONE=vae EPOCHS=1 bench/process_scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DATA=${DATA:-fashion-mnist}
BACKBONE=${BACKBONE:-vae}
EPOCHS=${EPOCHS:-1}
OUT=${OUT:-/tmp/fewgen-scaling}
echo "cpu flags: $("$BIN/python" -c 'from fewgen.cpu import vector_flags; print(vector_flags())') | cores: $(nproc)"
for procs in 1 2; do
    threads=${THREADS:-$(( $(nproc) / procs ))}
    rm -rf "$OUT/p$procs"
    OMP_NUM_THREADS=$threads "$BIN/torchrun" --nproc-per-node "$procs" --master-port $((29600 + procs)) -m fewgen -- pretrain \
        --run "$OUT/p$procs" --data "$DATA" --backbone "$BACKBONE" --epochs "$EPOCHS" --no-progress > /dev/null
    "$BIN/python" - "$OUT/p$procs" "$procs" "$threads" <<'PY'
import json, sys
c = json.load(open(f"{sys.argv[1]}/config.json"))
p = c["pretrain"]
images = p["steps"] * c["train"]["batch_size"]
print(f"processes {sys.argv[2]} x {sys.argv[3]} threads: {p['steps']} steps of {c['train']['batch_size']} in {p['seconds']:.1f} s = "
      f"{images / p['seconds']:.0f} images/s; last epoch loss {p['history'][-1]['loss']:.4f}")
PY
done
