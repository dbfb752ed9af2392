#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test: the default (RelWithDebInfo) build, the
# AddressSanitizer+UBSan build, and each libFuzzer target for a short, bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/setup.sh

fuzz_seconds=${SPANGUARD_FUZZ_SECONDS:-30}

echo "== fuzz build (clang, libFuzzer): ${fuzz_seconds}s per target"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j2 --target fuzzers
for target in build/fuzz/tests/fuzz/*_fuzz; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=$(mktemp -d)
  seeds=tests/fuzz/corpus/${name%_fuzz}
  [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  echo "-- $name"
  "$target" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" \
    2>"$corpus.log" || { tail -50 "$corpus.log"; exit 1; }
  grep -E 'stat::number_of_executed_units' "$corpus.log" || true
  rm -rf "$corpus" "$corpus.log"
done

echo "== default build"
cmake --preset default >/dev/null
cmake --build --preset default -j2
ctest --preset default -j2

echo "== asan build (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake --preset asan >/dev/null
cmake --build --preset asan -j2
ctest --preset asan -j2
