#!/usr/bin/env bash
# Installs what is missing, builds spanguard, generates the bundled sample capture and replays it with
# the bundled rules, printing alerts (EVE JSON lines on stdout) and the replay summary (stderr). The
# resets the reject rules would have injected are written to build/default/sample-resets.pcap.
# Extra arguments go to `spanguard replay` (e.g. --set flow.records=yes to see flow records too).
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default -j2 --target spanguard spanguard-pcapgen

sample=build/default/sample.pcap
./build/default/spanguard-pcapgen --profile sample --out "$sample"
exec ./build/default/spanguard replay --pcap "$sample" --rules rules/spanguard-example.rules \
  --eve - --resets-pcap build/default/sample-resets.pcap --set flow.records=no "$@"
