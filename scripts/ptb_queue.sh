#!/usr/bin/env bash
# Runs PTB table rows one after another, pinned to one core, each writing its JSON
# (scripts/ptb_job.py). Usage: scripts/ptb_queue.sh CORE STEPS ROW:SEED [ROW:SEED ...]
# Meant for a separate worktree, started with nohup, so that edits elsewhere cannot disturb it.
set -u
core=$1; steps=$2; shift 2
for job in "$@"; do
  row=${job%%:*}; seed=${job##*:}
  echo "$(date -u +%FT%TZ) start $row seed $seed steps $steps"
  taskset -c "$core" "${PYTHON:-python}" scripts/ptb_job.py "$row" --seed "$seed" --steps "$steps" \
    > "runs/ptb_${row}_seed${seed}.log" 2>&1
  echo "$(date -u +%FT%TZ) end $row seed $seed rc $?"
done
