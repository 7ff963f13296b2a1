#!/usr/bin/env bash
# Benchmark (issue 23): students beside their teachers, and FixMatch / MixMatch from scratch with the same network,
# steps, batch and augmentation, on Fashion-MNIST, on the very same draws. RUN is a pretrained run (e.g. the VAE of
# bench/fashion_mnist_vae.sh, or the DDPM of bench/fashion_mnist_ddpm.sh). Needs: apt-get install -y
# dataset-fashion-mnist. Record the output in docs/BENCHMARKS.md with the machine's CPU flags.
#   RUN=runs/bench-fashion-vae SEEDS=3 STEPS=400 STUDENTS=small,encoder PEERS=fixmatch,mixmatch bench/students.sh
# A student's budget other than the defaults gets its own method name (student-small(steps=1000)), so a second budget
# on the same run is a second candidate; the summary's validation table is what a default is chosen on.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:?set RUN to a pretrained run folder}
SHOTS=${SHOTS:-1,2,4,8,16}
SEEDS=${SEEDS:-3}
STEPS=${STEPS:-400}
BATCH=${BATCH:-16}
LR=${LR:-2e-3}
HEADS=${HEADS:-logreg,selftrain}
SPEC=${SPEC:---parts stacked}
STUDENTS=${STUDENTS:-small,encoder}
PEERS=${PEERS-fixmatch,mixmatch}  # PEERS="" runs none
BIN=${BIN:-.venv/bin}
peer_args=()
for peer in ${PEERS//,/ }; do  # from scratch, at the student's network, steps, batch, pool share and learning rate
  peer_args+=(-B "$peer.network=small" -B "$peer.steps=$STEPS" -B "$peer.batch_size=$BATCH" -B "$peer.lr=$LR")
done
echo "cpu flags: $("$BIN/python" -c 'from fewgen.cpu import vector_flags; print(vector_flags())') ($(nproc) cores)"
# the heads (the teachers) and the students first, then the peers from scratch, on the same draws
/usr/bin/time -f "evaluate (heads, students) wall %e s" "$BIN/fewgen" evaluate "$RUN" --shots "$SHOTS" --seeds "$SEEDS" \
    $SPEC --heads "$HEADS" --students "$STUDENTS" -S "steps=$STEPS" -S "batch_size=$BATCH" -S "lr=$LR" ${EXTRA:-} --baselines "" \
    --no-progress > /dev/null
if [ -n "$PEERS" ]; then  # PEERS="" for a second student budget on the same run (STEPS=1000, or EXTRA="-S rounds=2")
  /usr/bin/time -f "evaluate (peers) wall %e s" "$BIN/fewgen" evaluate "$RUN" --shots "$SHOTS" --seeds "$SEEDS" $SPEC \
      --heads "" --baselines "$PEERS" "${peer_args[@]}" --no-progress > /dev/null
fi
# paired differences on the shared draws: PAIRED names a student's method, e.g. "vae[part=stacked]+student-small"
"$BIN/python" bench/summarise.py "$RUN" ${PAIRED:+--paired "$PAIRED"}
