#!/usr/bin/env bash
# Stops the cluster scripts/slurm/start.sh started: slurmd, then slurmctld, by
# the pids in their pid files (munged stays: it is harmless and shared).
set -uo pipefail
base=${SLURM_BASE:-/tmp/slurm}
for d in slurmd slurmctld; do
  f=$base/$d.pid
  if [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    pid=$(cat "$f")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
exit 0
