#!/usr/bin/env bash
# deploy/slurm/launch.sh: starts `cada train` inside a Slurm allocation. The sbatch
# scripts beside it (cpu.sbatch, gpu-node.sbatch, multinode.sbatch) `exec` it, so this
# shell IS the batch shell and receives --signal=B:TERM.
#
#   launch.sh CONFIG.ini [--set section.key=value]...
#
# 1. `cada train --check` validates the configuration and reports the layout it needs
#    (ranks = learners when colocated, learners + rollout + reward when disaggregated);
#    the allocation's task count must equal it, else the job fails at once with the
#    sbatch options that would fit.
# 2. Threads: each rank gets the allocation's --cpus-per-task as OMP_NUM_THREADS (and
#    cluster.threads_per_rank), unless the configuration fixes threads_per_rank.
# 3. Resume: when run.out_dir already holds a checkpoint-N/ (a requeued or resubmitted
#    job), the run continues from the newest with --resume latest.
# 4. Launch: CADA_LAUNCHER=srun (default) runs `srun --mpi=pmix`: Slurm starts and
#    tracks every rank itself, forwards signals to them and ends the whole step when
#    one rank fails (--kill-on-bad-exit). CADA_LAUNCHER=mpirun runs Open MPI's mpirun
#    inside the allocation (it reads the nodes and slots from Slurm). With Debian's
#    Open MPI 4.1 + Slurm 22.05 both work; --mpi=pmi2 and --mpi=none abort in
#    MPI_Init because this Open MPI speaks PMIx.
# 5. Preemption: SIGTERM on the batch shell (--signal=B:TERM@120 before the time limit,
#    or scancel --signal=TERM --batch) is passed to the ranks, which checkpoint and
#    exit; the job is then requeued (up to CADA_MAX_REQUEUE times, default 20) and
#    resumes from that checkpoint.
#
# Environment: CADA (the binary, default $CADA_ROOT/cada), CADA_ROOT (the checkout,
# default $SLURM_SUBMIT_DIR), CADA_LAUNCHER (srun|mpirun), CADA_MAX_REQUEUE,
# CADA_SRUN_ARGS / CADA_MPIRUN_ARGS (extra launcher options).
set -uo pipefail

say() { echo "[launch $(date +%H:%M:%S)] $*"; }
die() { echo "[launch] error: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: launch.sh CONFIG.ini [--set section.key=value]..."
[ -n "${SLURM_JOB_ID:-}" ] || die "not inside a Slurm job (submit with sbatch; deploy/mpirun/ is for machines without Slurm)"
CADA_ROOT="${CADA_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}"
CADA="${CADA:-$CADA_ROOT/cada}"
LAUNCHER="${CADA_LAUNCHER:-srun}"
MAX_REQUEUE="${CADA_MAX_REQUEUE:-20}"
cd "$CADA_ROOT" || die "cannot enter $CADA_ROOT"
[ -x "$CADA" ] || die "$CADA is not an executable (build with make, or set CADA=/path/to/cada)"

config="$1"; shift
args=("$@")

# --- 1. layout --------------------------------------------------------------------
check_out="$("$CADA" train -c "$config" "${args[@]}" --check 2>&1)" || die "the configuration is not valid: $check_out"
resolved="$(grep '^resolved:' <<<"$check_out")" || die "cada train --check printed no layout: $check_out"
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$resolved"; }
ranks="$(field ranks)"; learners="$(field learner_ranks)"; rollout="$(field rollout_ranks)"; reward="$(field reward_ranks)"
placement="$(field placement)"; cfg_threads="$(field threads_per_rank)"
out_dir="${resolved#* out_dir=}"
ntasks="${SLURM_NTASKS:-${SLURM_NPROCS:-}}"
[ -n "$ntasks" ] || die "SLURM_NTASKS is not set (sbatch with --ntasks or --ntasks-per-node)"
if [ "$ntasks" != "$ranks" ]; then
  die "$config needs $ranks ranks ($placement: learners $learners, rollout $rollout, reward $reward) but the job has $ntasks tasks; submit with sbatch --ntasks=$ranks (or deploy/slurm/submit.sh, which counts them)"
fi

# Tensor-parallel groups inside nodes: every node but the last holds exactly
# cluster.gpus_per_node ranks (SLURM_TASKS_PER_NODE, e.g. "8(x7),4"), so the blocks that
# cada train --check validated are the nodes.
gpn="$(field gpus_per_node)"; tpmax=1
for k in learn_tp rollout_tp reward_tp; do v="$(field "$k")"; [ "${v:-1}" -gt "$tpmax" ] && tpmax="$v"; done
if [ "$tpmax" -gt 1 ]; then
  counts=()
  IFS=, read -ra items <<<"${SLURM_TASKS_PER_NODE:-}"
  for it in "${items[@]}"; do
    if [[ "$it" =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then
      for ((k = 0; k < BASH_REMATCH[2]; k++)); do counts+=("${BASH_REMATCH[1]}"); done
    elif [[ "$it" =~ ^[0-9]+$ ]]; then counts+=("$it")
    else die "SLURM_TASKS_PER_NODE='${SLURM_TASKS_PER_NODE:-}': cannot read the tasks per node"; fi
  done
  [ "${#counts[@]}" -gt 0 ] || die "SLURM_TASKS_PER_NODE is not set: cannot check that tensor-parallel groups lie inside nodes"
  for ((k = 0; k < ${#counts[@]}; k++)); do
    if [ "${counts[k]}" -gt "$gpn" ] || { [ "$k" -lt $((${#counts[@]} - 1)) ] && [ "${counts[k]}" != "$gpn" ]; }; then
      die "$config runs tensor-parallel groups (up to $tpmax ranks) in blocks of cluster.gpus_per_node = $gpn ranks a node, but node $k of the job has ${counts[k]} tasks (SLURM_TASKS_PER_NODE=$SLURM_TASKS_PER_NODE); submit with sbatch --ntasks-per-node=$gpn"
    fi
  done
fi

# --- 2. threads -------------------------------------------------------------------
if [ "$cfg_threads" != "0" ]; then threads="$cfg_threads"; else threads="${SLURM_CPUS_PER_TASK:-1}"; fi
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
args+=(--set "cluster.threads_per_rank=$threads")

# --- 3. resume --------------------------------------------------------------------
latest=""
for d in "$out_dir"/checkpoint-[0-9]*; do
  [ -d "$d" ] && [[ "$d" != *.tmp ]] && latest="$d"
done
if [ -n "$latest" ]; then
  say "found checkpoints in $out_dir (restart ${SLURM_RESTART_COUNT:-0}): resuming with --resume latest"
  args+=(--resume latest)
fi

# --- 4. launch --------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
case "$LAUNCHER" in
  srun)
    # --cpus-per-task again: since Slurm 22.05 srun no longer inherits it from sbatch.
    # block distribution: consecutive ranks share a node, so a learner group of
    # consecutive ranks stays within nodes as far as it fits.
    launch=(srun --mpi=pmix --kill-on-bad-exit=1 --distribution=block:block --ntasks="$ntasks" --cpus-per-task="$threads")
    [ -n "${SLURM_GPUS_PER_TASK:-}" ] && launch+=(--gpus-per-task="$SLURM_GPUS_PER_TASK")
    # shellcheck disable=SC2206
    launch+=(${CADA_SRUN_ARGS:-})
    ;;
  mpirun)
    # Open MPI reads the nodes and slots of the allocation; ranks are mapped by slot
    # (block) and not bound (Slurm already confined the job's CPUs).
    launch=(mpirun -np "$ntasks" --map-by slot --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x OMP_WAIT_POLICY)
    for v in $(compgen -e | grep -E '^(NCCL_|CUDA_|CADA_)' || true); do launch+=(-x "$v"); done
    # shellcheck disable=SC2206
    launch+=(${CADA_MPIRUN_ARGS:-})
    ;;
  *) die "CADA_LAUNCHER=$LAUNCHER: expected srun or mpirun" ;;
esac

preempted=0
child=""
on_term() {
  preempted=1
  say "SIGTERM: asking the ranks to checkpoint and stop"
  # Not to srun or mpirun themselves: both answer SIGTERM by aborting the job and
  # killing the ranks within a second. With srun the signal goes through Slurm to the
  # job's steps, so every rank gets SIGTERM directly. With mpirun the ranks on this
  # node are mpirun's children and get it by parent pid; ranks on other nodes run
  # under Open MPI's daemons in Slurm steps and get it through scancel. The ranks then
  # have until the time limit (--signal=B:TERM@120) or the preemption grace time to
  # write their checkpoint and exit; the launcher exits with them.
  [ -n "$child" ] || return 0
  if [ "$LAUNCHER" = mpirun ]; then pkill -TERM -P "$child" 2>/dev/null || true; fi
  scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null || true
}
trap on_term TERM

say "job $SLURM_JOB_ID: $ranks ranks ($placement: learners $learners, rollout $rollout, reward $reward) on ${SLURM_JOB_NUM_NODES:-1} node(s) [${SLURM_JOB_NODELIST:-?}], $threads threads per rank, via $LAUNCHER"
say "${launch[*]} $CADA train -c $config ${args[*]}"
"${launch[@]}" "$CADA" train -c "$config" "${args[@]}" &
child=$!
# `wait` returns early when the trap runs; keep waiting until the launcher has exited
rc=0
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done

if [ "$preempted" = 1 ]; then
  restarts="${SLURM_RESTART_COUNT:-0}"
  if [ "$restarts" -ge "$MAX_REQUEUE" ]; then
    say "preempted after $restarts restarts (CADA_MAX_REQUEUE=$MAX_REQUEUE): not requeueing"
    exit 1
  fi
  say "ranks exited with $rc after SIGTERM; requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))"
  scontrol requeue "$SLURM_JOB_ID" || die "scontrol requeue $SLURM_JOB_ID failed (was the job cancelled, or submitted with --no-requeue?)"
  exit 0
fi
[ "$rc" -eq 0 ] && say "done: checkpoints and metrics.jsonl in $out_dir" || say "cada train failed with exit code $rc (see the rank's error above)"
exit "$rc"
