#!/usr/bin/env bash
# deploy/mpirun/run.sh: `cada train` with plain Open MPI, for machines without Slurm.
#
#   deploy/mpirun/run.sh [--hostfile FILE] CONFIG.ini [--set section.key=value]...
#
# - Ranks: `cada train --check` reports how many the configuration needs (learners
#   when colocated; learners + rollout + reward when disaggregated); mpirun starts
#   exactly that many. Without --hostfile they all run on this machine
#   (--oversubscribe when they outnumber its cores).
# - Hostfile: one line per node, "node01 slots=8" (slots = ranks, e.g. GPUs, on that
#   node). Ranks fill each node's slots before the next (--map-by slot), so consecutive
#   ranks share a node. cada and the checkout must be at the same path on every node;
#   mpirun reaches them over ssh.
# - Threads: CADA_THREADS per rank, else the configuration's threads_per_rank, else
#   this machine's cores / ranks on it (at least 1); exported as OMP_NUM_THREADS.
# - Resume: when run.out_dir already holds a checkpoint-N/, the run continues with
#   --resume latest.
# - SIGTERM to this script is passed to the ranks on this machine (they checkpoint and
#   exit); mpirun itself would abort them within a second.
# Environment: CADA (the binary, default <checkout>/cada), CADA_MPIRUN_ARGS (extra mpirun
# options), NCCL_* / CUDA_* / CADA_* variables travel to every rank.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
CADA="${CADA:-$root/cada}"
die() { echo "[mpirun-launch] error: $*" >&2; exit 1; }
say() { echo "[mpirun-launch $(date +%H:%M:%S)] $*"; }

hostfile=""
if [ "${1:-}" = "--hostfile" ]; then
  [ $# -ge 2 ] || die "--hostfile needs a file"
  hostfile="$2"; shift 2
  [ -r "$hostfile" ] || die "hostfile $hostfile: cannot read"
fi
[ $# -ge 1 ] || die "usage: deploy/mpirun/run.sh [--hostfile FILE] CONFIG.ini [--set section.key=value]..."
[ -x "$CADA" ] || die "$CADA is not an executable (run make, or set CADA=/path/to/cada)"
config="$1"; shift
args=("$@")
check="$("$CADA" train -c "$config" "${args[@]}" --check 2>&1)" || die "the configuration is not valid: $check"
resolved="$(grep '^resolved:' <<<"$check")" || die "cada train --check printed no layout"
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$resolved"; }
ranks="$(field ranks)"; cfg_threads="$(field threads_per_rank)"
out_dir="${resolved#* out_dir=}"

mpi=(mpirun -np "$ranks" --map-by slot --bind-to none)
if [ -n "$hostfile" ]; then
  slots=$(awk '!/^[[:space:]]*(#|$)/ { s = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); s = a[2] } t += s } END { print t + 0 }' "$hostfile")
  [ "$slots" -ge "$ranks" ] || die "$config needs $ranks ranks; $hostfile offers $slots slots"
  mpi+=(--hostfile "$hostfile")
  per_node=$(awk '!/^[[:space:]]*(#|$)/ { s = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); s = a[2] } if (s > m) m = s } END { print m + 0 }' "$hostfile")
else
  per_node="$ranks"
  [ "$ranks" -gt "$(nproc)" ] && mpi+=(--oversubscribe)
fi
if [ -n "${CADA_THREADS:-}" ]; then threads="$CADA_THREADS"
elif [ "$cfg_threads" != "0" ]; then threads="$cfg_threads"
else threads=$(( $(nproc) / per_node )); [ "$threads" -ge 1 ] || threads=1
fi
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
args+=(--set "cluster.threads_per_rank=$threads")
mpi+=(-x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x OMP_WAIT_POLICY)
for v in $(compgen -e | grep -E '^(NCCL_|CUDA_|CADA_)' || true); do mpi+=(-x "$v"); done
# shellcheck disable=SC2206
mpi+=(${CADA_MPIRUN_ARGS:-})
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

for d in "$out_dir"/checkpoint-[0-9]*; do
  if [ -d "$d" ] && [[ "$d" != *.tmp ]]; then
    say "found checkpoints in $out_dir: resuming with --resume latest"
    args+=(--resume latest)
    break
  fi
done

child=""
trap '[ -n "$child" ] && { say "SIGTERM: asking the ranks to checkpoint and stop"; pkill -TERM -P "$child" 2>/dev/null; }' TERM
say "$ranks ranks, $threads threads per rank${hostfile:+, hosts from $hostfile}"
say "${mpi[*]} $CADA train -c $config ${args[*]}"
"${mpi[@]}" "$CADA" train -c "$config" "${args[@]}" &
child=$!
rc=0
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$rc"
