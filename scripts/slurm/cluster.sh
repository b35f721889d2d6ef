#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for tests: munged, slurmctld and slurmd with their
# configuration, state, sockets and logs in one folder (no cgroups: proctrack/linuxproc,
# task/none; ports 16817/16818, clear of a site's own daemons). Source it, then
#   cluster_start DIR    writes DIR/slurm.conf, starts the three daemons, waits for the node
#   cluster_stop         stops the daemons it started, by their pids
# Exports SLURM_CONF (and the munge socket through AuthInfo) so sbatch/squeue/sacct use it.

cluster_start() {
  local dir="$1" host cpus
  mkdir -p "$dir"/{state,spool,logs}
  chmod 700 "$dir"
  host="$(hostname -s)"
  cpus="$(nproc)"
  # A key of its own, so the system's munged (if any) is neither needed nor disturbed.
  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge.seed"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=melanoscope-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MinJobAge=3600
NodeName=msc-node NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=2048 State=UNKNOWN
PartitionName=test Nodes=msc-node Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  CLUSTER_DIR="$dir"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N msc-node
  local i
  for i in $(seq 1 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      return 0
    fi
    sleep 1
  done
  echo "the test cluster's node did not come up; logs in $dir" >&2
  tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  return 1
}

cluster_stop() {
  local dir="${CLUSTER_DIR:-}" f pid
  [ -n "$dir" ] || return 0
  for f in slurmd.pid slurmctld.pid munged.pid; do
    pid="$(cat "$dir/$f" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      # A daemon gets a few seconds to close cleanly before it is killed.
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}
