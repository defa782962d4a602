#!/usr/bin/env bash
# How the daemon's cost grows with channels: 100, 1,000, 10,000 and 100,000 RSS feeds, each run of
# the shared load script (shared/tools/perf/daemon_load.py: one fast local feed server, 50 ms
# latency, ETag/304) followed by blackbox_exporter probing the same kind of target
# (blackbox_cpu.py), so every daemon figure has a Go prober's CPU per probe from the same minute.
#
#   benchmarks/curve.sh                    # all four sizes, about 15 minutes on 2 cores
#   benchmarks/curve.sh 10000 60s          # one size and interval
#   PROFILE=out.txt benchmarks/curve.sh 10000 60s   # and a py-spy profile of the steady phase
#
# The intervals keep the polls a second within what one daemon makes (10,000 every 60 s is about
# 167 a second); at 100,000 the 300 s the load script waits for the first round is not enough for
# 100,000 first reads, so that run measures start-up, memory and /metrics under first-read load.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
perf="${PERF:-$root/../shared/tools/perf}"
if [[ $# -ge 2 ]]; then sizes=("$1 $2"); else sizes=("100 10s" "1000 20s" "10000 60s" "100000 900s"); fi
for size in "${sizes[@]}"; do
  read -r channels interval <<<"$size"
  echo "== $channels channels, interval $interval, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
  profile=()
  if [[ -n "${PROFILE:-}" ]]; then profile=(--profile "$PROFILE"); fi
  PYTHONPATH="$root" "$python" "$perf/daemon_load.py" --python "$python" \
    --channels "$channels" --seconds 40 --interval "$interval" "${profile[@]}"
  "$python" "$perf/blackbox_cpu.py" 2000 32 0.05
done
