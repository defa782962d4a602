#!/usr/bin/env bash
# The whole daemon under load, next to blackbox_exporter's CPU per probe from the same session.
#
# Runs the project's shared load script (shared/tools/perf/daemon_load.py: N RSS feeds on a fast
# local server, 50 ms latency, ETag/304) against THIS checkout (PYTHONPATH points at it; the
# daemon runs from a temporary directory), then blackbox_cpu.py (Debian package
# prometheus-blackbox-exporter), each twice: the machine is shared, so give ranges.
#
#   benchmarks/daemon_load.sh [CHANNELS] [INTERVAL] [SECONDS]     # defaults: 1000 20s 60
#   PYTHON=/path/to/venv/bin/python PERF=/path/to/shared/tools/perf benchmarks/daemon_load.sh 10000 120s 30
#
# RUNS=n makes n runs (default 2). With PROFILE=out.txt, the last run records a py-spy profile of its steady phase (py-spy must
# sit beside $PYTHON). With COMMITS=file, each run logs its group commits there (file.1, file.2:
# benchmarks/commit_log) and prints the steady phase's polls per commit and storing CPU per poll.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
perf="${PERF:-$root/../shared/tools/perf}"
channels="${1:-1000}" interval="${2:-20s}" seconds="${3:-60}"

runs="${RUNS:-2}"
for run in $(seq 1 "$runs"); do
  echo "== run $run: $channels channels, interval $interval, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
  profile=()
  if [[ $run == "$runs" && -n "${PROFILE:-}" ]]; then profile=(--profile "$PROFILE"); fi
  pythonpath="$root" log=""
  if [[ -n "${COMMITS:-}" ]]; then
    pythonpath="$root:$root/benchmarks/commit_log" log="$COMMITS.$run"
    rm -f "$log"
  fi
  CHANNEL_MONITOR_COMMIT_LOG="$log" PYTHONPATH="$pythonpath" "$python" "$perf/daemon_load.py" \
    --python "$python" --channels "$channels" --seconds "$seconds" --interval "$interval" \
    "${profile[@]}"
  if [[ -n "$log" ]]; then "$python" "$root/benchmarks/commit_log/summary.py" "$log" "$seconds"; fi
  "$python" "$perf/blackbox_cpu.py" 2000 32 0.05
done
