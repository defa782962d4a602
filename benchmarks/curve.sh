#!/usr/bin/env bash
# How the daemon's cost grows with channels: 100, 1,000, 10,000 and 100,000 RSS feeds, one run
# each of benchmarks/daemon_load.sh (the shared load script, then blackbox_exporter probing the
# same kind of target, so every daemon figure has a Go prober's CPU per probe from the same
# minute).
#
#   benchmarks/curve.sh                    # all four sizes, about 15 minutes on 2 cores
#   benchmarks/curve.sh 10000 60s          # one size and interval
#   PROFILE=out.txt benchmarks/curve.sh 10000 60s   # and a py-spy profile of the steady phase
#
# The intervals keep the polls a second within what one daemon makes (10,000 every 60 s is about
# 167 a second); at 100,000 the 300 s the load script waits for the first round is not enough for
# 100,000 first reads, so that run measures start-up, memory and /metrics under first-read load.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ $# -ge 2 ]]; then sizes=("$1 $2"); else sizes=("100 10s" "1000 20s" "10000 60s" "100000 900s"); fi
for size in "${sizes[@]}"; do
  read -r channels interval <<<"$size"
  RUNS=1 bash "$here/daemon_load.sh" "$channels" "$interval" 40
done
