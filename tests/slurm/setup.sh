#!/usr/bin/env bash
# A one-machine Slurm for the tests, from Debian's packages (slurm-wlm 22.05, munge).
#
#   tests/slurm/setup.sh start DIR   installs slurmctld slurmd slurm-client munge when
#                                    missing, writes DIR/slurm.conf for this machine
#                                    (one node, one partition), starts munged (private
#                                    key and socket under DIR), slurmctld and slurmd,
#                                    waits until the node is idle and records the
#                                    daemons' pids in DIR/pids. Then
#                                    `export SLURM_CONF=DIR/slurm.conf` points sbatch,
#                                    squeue and scontrol at it.
#   tests/slurm/setup.sh stop DIR    cancels what is still queued, ends the daemons by
#                                    the recorded pids and waits for them to exit.
#
# Nothing is written to /etc or through systemd: state, spool, logs and pid files live
# in DIR, the munge key and socket in a folder of their own under /tmp (named in DIR),
# and the ports are picked free, so a cluster already running on the machine is not
# disturbed. A daemon that does not come
# up is an error (exit 1) that quotes its log.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"

die() {
  echo "slurm setup: $*" >&2
  for f in "$dir"/munged.log "$dir"/slurmctld.log "$dir"/slurmd.log; do
    [ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -15 "$f" >&2; }
  done
  exit 1
}

# pid_alive PID: the process exists (and is not a zombie we are waiting on)
pid_alive() { kill -0 "$1" 2>/dev/null; }

stop() {
  [ -d "$dir" ] || return 0
  if [ -f "$dir/slurm.conf" ] && [ -f "$dir/pids" ]; then
    # jobs first, so slurmd's step daemons end their tasks before slurmd goes
    SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null || true
    local n=0
    while [ $n -lt 20 ] && [ -n "$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h -o %i 2>/dev/null)" ]; do
      sleep 0.5; n=$((n + 1))
    done
  fi
  [ -f "$dir/pids" ] || return 0
  local pids=()
  # reverse order of start: slurmd, slurmctld, munged
  while read -r _ pid; do pids=("$pid" "${pids[@]}"); done < "$dir/pids"
  for pid in "${pids[@]}"; do pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    local n=0
    while pid_alive "$pid" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$dir/pids"
  if [ -f "$dir/munge_dir" ]; then
    local mdir
    mdir="$(cat "$dir/munge_dir")"
    case "$mdir" in /tmp/cada-munge.*) rm -rf "$mdir" ;; esac
    rm -f "$dir/munge_dir"
  fi
}

# read_pid FILE: waits up to 10 s for a daemon's pid file
read_pid() {
  local n=0
  while [ $n -lt 100 ]; do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.1; n=$((n + 1))
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  bash "$root/tests/deps.sh" slurmctld slurmd slurm-client munge
  for b in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found after installing slurmctld slurmd slurm-client munge"
  done
  export PATH="$PATH:/usr/sbin"
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs tasks as any user; SlurmUser=root here)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  mkdir -p "$dir/state" "$dir/spool"
  : > "$dir/pids"
  # munged runs as the munge user, which must be able to reach its folder: DIR may sit
  # inside a private (0700) temporary folder, so munge gets its own under /tmp, named in
  # DIR/munge_dir and removed by stop.
  local mdir
  mdir="$(mktemp -d /tmp/cada-munge.XXXXXX)"
  echo "$mdir" > "$dir/munge_dir"

  # munge: a private key (mode 0600) and socket; munged refuses a folder that other
  # users can write and a socket folder they cannot enter, so the folder belongs to
  # the munge user, mode 0755.
  chown munge:munge "$mdir"; chmod 0755 "$mdir"
  runuser -u munge -- mungekey --create --keyfile="$mdir/munge.key" >/dev/null 2>&1 \
    || die "mungekey could not create $mdir/munge.key"
  runuser -u munge -- munged --socket="$mdir/munge.socket" --key-file="$mdir/munge.key" \
    --pid-file="$mdir/munged.pid" --log-file="$mdir/munged.log" --seed-file="$mdir/munged.seed" \
    >"$dir/munged.log" 2>&1 || { cat "$mdir/munged.log" >>"$dir/munged.log" 2>/dev/null; die "munged did not start"; }
  local pid
  pid=$(read_pid "$mdir/munged.pid") || die "munged wrote no pid file"
  echo "munged $pid" >> "$dir/pids"

  local host ctl_port d_port cpus
  host="$(hostname -s)"
  ctl_port=$(free_port); d_port=$(free_port)
  while [ "$d_port" = "$ctl_port" ]; do d_port=$(free_port); done
  # Two CPUs at least, so the 2-rank CPU recipe fits one node without --overcommit.
  cpus=$(nproc); [ "$cpus" -lt 2 ] && cpus=2
  cat > "$dir/slurm.conf" <<CONF
# One-machine cluster for cada's tests (tests/slurm/setup.sh).
ClusterName=cadatest
SlurmctldHost=$host
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s); 5 s keeps the
# preemption test short (5 is the minimum)
AuthInfo=socket=$mdir/munge.socket,cred_expire=5
# no cgroups in containers: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# finished jobs' states, for the tests (sacct needs slurmdbd)
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
MinJobAge=600
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# quick turnaround for short test jobs
KillWait=10
MessageTimeout=20
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF

  slurmctld -f "$dir/slurm.conf" >"$dir/slurmctld.out" 2>&1 || die "slurmctld did not start ($(cat "$dir/slurmctld.out"))"
  pid=$(read_pid "$dir/slurmctld.pid") || die "slurmctld wrote no pid file"
  echo "slurmctld $pid" >> "$dir/pids"
  slurmd -f "$dir/slurm.conf" >"$dir/slurmd.out" 2>&1 || die "slurmd did not start ($(cat "$dir/slurmd.out"))"
  pid=$(read_pid "$dir/slurmd.pid") || die "slurmd wrote no pid file"
  echo "slurmd $pid" >> "$dir/pids"

  local n=0 state=""
  while [ $n -lt 100 ]; do
    state=$(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o %T 2>/dev/null | head -1 || true)
    [ "$state" = "idle" ] && break
    sleep 0.2; n=$((n + 1))
  done
  [ "$state" = "idle" ] || die "node $host is '${state:-unreachable}' after 20 s, not idle"
  echo "slurm: node $host idle ($cpus CPUs), SLURM_CONF=$dir/slurm.conf"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
