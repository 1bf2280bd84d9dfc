#!/usr/bin/env bash
# deploy/slurm/submit.sh: sbatch with the task count the configuration needs.
#
#   deploy/slurm/submit.sh cpu|gpu-node|multinode CONFIG.ini [--set k=v]... [-- SBATCH_OPTIONS...]
#
# Reads the layout from `cada train --check` (ranks = learners when colocated, learners +
# rollout + reward when disaggregated) and submits the shape's script:
#   cpu        --ntasks=RANKS on one node
#   gpu-node   --ntasks-per-node=RANKS on one node (at most GPUS_PER_NODE)
#   multinode  --nodes=ceil(RANKS / GPUS_PER_NODE) --ntasks=RANKS --ntasks-per-node=GPUS_PER_NODE
# GPUS_PER_NODE: the configuration's cluster.gpus_per_node (tensor-parallel groups lie in
# its blocks), unless set in the environment.
# Prints the sbatch command and sbatch's answer (the job id).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
CADA="${CADA:-$root/cada}"
[ $# -ge 2 ] || { sed -n '3,14p' "$0" >&2; exit 2; }
shape="$1"; config="$2"; shift 2
args=(); sb=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; sb=("$@"); break; fi
  args+=("$1"); shift
done
check="$("$CADA" train -c "$config" "${args[@]}" --check)" || exit 1
ranks="$(sed -nE 's/^resolved: ranks=([0-9]+) .*/\1/p' <<<"$check")"
[ -n "$ranks" ] || { echo "submit: cada train --check printed no layout" >&2; exit 1; }
GPUS_PER_NODE="${GPUS_PER_NODE:-$(sed -nE 's/^resolved: .* gpus_per_node=([0-9]+) .*/\1/p' <<<"$check")}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
case "$shape" in
  cpu) opts=(--ntasks="$ranks") ;;
  gpu-node)
    [ "$ranks" -le "$GPUS_PER_NODE" ] || { echo "submit: $config needs $ranks ranks, more than one node's $GPUS_PER_NODE GPUs: use multinode" >&2; exit 1; }
    opts=(--ntasks-per-node="$ranks") ;;
  multinode)
    nodes=$(( (ranks + GPUS_PER_NODE - 1) / GPUS_PER_NODE ))
    # --ntasks fixes the total; --ntasks-per-node the blocks (whole nodes but the last)
    opts=(--nodes="$nodes" --ntasks="$ranks" --ntasks-per-node="$GPUS_PER_NODE") ;;
  *) echo "submit: shape '$shape': expected cpu, gpu-node or multinode" >&2; exit 2 ;;
esac
echo "sbatch ${opts[*]} ${sb[*]} $here/$shape.sbatch $config ${args[*]}"
cd "$root"
sbatch "${opts[@]}" "${sb[@]}" "$here/$shape.sbatch" "$config" "${args[@]}"
