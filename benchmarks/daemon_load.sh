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
# With PROFILE=out.txt, the second run records a py-spy profile of its steady phase (py-spy must
# sit beside $PYTHON).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
perf="${PERF:-$root/../shared/tools/perf}"
channels="${1:-1000}" interval="${2:-20s}" seconds="${3:-60}"

for run in 1 2; do
  echo "== run $run: $channels channels, interval $interval, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
  profile=()
  if [[ $run == 2 && -n "${PROFILE:-}" ]]; then profile=(--profile "$PROFILE"); fi
  PYTHONPATH="$root" "$python" "$perf/daemon_load.py" --python "$python" \
    --channels "$channels" --seconds "$seconds" --interval "$interval" "${profile[@]}"
  "$python" "$perf/blackbox_cpu.py" 2000 32 0.05
done
