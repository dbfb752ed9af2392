#!/usr/bin/env bash
# Replay throughput of the sensor on a generated HTTP capture (one worker, deterministic).
# Usage: bench/replay_throughput.sh [SESSIONS] [RUNS] [extra replay args...]
# Builds the default preset, generates SESSIONS HTTP sessions with spanguard-pcapgen (same seed, so
# the same bytes every time), replays the file RUNS times and prints each run's figures and the best.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-50000}
runs=${2:-3}
shift $(( $# > 2 ? 2 : $# ))

cmake --preset default >/dev/null
cmake --build --preset default -j2 --target spanguard spanguard-pcapgen >/dev/null

capture=build/default/bench-http-${sessions}.pcap
if [ ! -f "$capture" ]; then
  ./build/default/spanguard-pcapgen --profile http --sessions "$sessions" --seed 1 --out "$capture"
fi
echo "capture: $capture ($(du -h "$capture" | cut -f1), $sessions HTTP sessions)"
best=0
for i in $(seq 1 "$runs"); do
  line=$(./build/default/spanguard replay --pcap "$capture" --log-level warn "$@" 2>&1 >/dev/null |
         grep -E '^  input')
  echo "run $i: ${line#  input}"
  mbps=$(sed -E 's/.*: ([0-9.]+) Mbit\/s.*/\1/' <<<"$line")
  best=$(awk -v a="$best" -v b="$mbps" 'BEGIN { print (b > a) ? b : a }')
done
echo "best: $best Mbit/s"
