#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine (Debian's slurm-wlm and
# munge), as root, for the Slurm executor's end-to-end test (lab/slurm_e2e_test.go)
# and for trying `bionas tui --executor slurm` by hand.
#
#   scripts/slurm/start.sh    install if missing, write the configuration, start
#                             munged, slurmctld and slurmd; wait until the node is idle
#   scripts/slurm/stop.sh     stop them again (by the pids in their pid files)
#
# Everything Slurm keeps lives under $SLURM_BASE (default /tmp/slurm): state,
# spool, logs, pid files. The recipe is ../shared/SLURM-NOTES.md's: no cgroups
# and no systemd (proctrack/linuxproc, task/none), root as SlurmUser.
# MinJobAge keeps finished jobs visible to squeue for 10 minutes, since there
# is no accounting database for sacct to ask (the lab reads squeue first).
set -euo pipefail
base=${SLURM_BASE:-/tmp/slurm}

if [ "$(id -u)" != 0 ]; then
  echo "slurm/start.sh: must run as root (it installs packages and starts the daemons as root)" >&2
  exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  echo "== installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends slurm-wlm munge
fi

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {printf "%d", $2/1024*0.8}' /proc/meminfo)

# munge: a key, its folders owned by munge, the daemon as the munge user.
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge /var/lib/munge
install -d -o munge -g munge -m 0755 /var/run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null || { echo "slurm/start.sh: munged does not answer" >&2; exit 1; }

mkdir -p "$base/state" "$base/spool" "$base/log" /etc/slurm
cat >/etc/slurm/slurm.conf <<CONF
# Written by scripts/slurm/start.sh: a one-node cluster for BioNAS's tests.
ClusterName=bionas
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
SlurmctldPidFile=$base/slurmctld.pid
SlurmdPidFile=$base/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MinJobAge=600
KillWait=5
SlurmdTimeout=10
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# A daemon runs if its pid file names a live process (not a zombie: one just
# killed may not be reaped yet).
running() {
  [ -s "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"
}
# -c: a fresh controller forgets the jobs of a previous one (a CI run
# killed mid-test left some "running" on a node that no longer has them,
# holding its CPUs).
running "$base/slurmctld.pid" || /usr/sbin/slurmctld -c
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
running "$base/slurmd.pid" || /usr/sbin/slurmd
# A node that was down (a test killed slurmd) returns to service.
scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
for _ in $(seq 300); do
  state=$(sinfo --noheader --nodes="$host" --format=%t 2>/dev/null | head -1)
  case $state in idle|mix|alloc) break ;; esac
  sleep 0.1
done
state=$(sinfo --noheader --nodes="$host" --format=%t 2>/dev/null | head -1)
case $state in
  idle|mix|alloc) echo "slurm: node $host $state (partition debug, $cpus CPUs, ${mem} MiB)" ;;
  *) echo "slurm/start.sh: node $host is '$state', not idle; see $base/log/" >&2; exit 1 ;;
esac
