#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/) for a set time each, keeps what they learn, and reports
# executions, corpus growth and crashes per target. Exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: tools/fuzz.sh [--minutes N] [--jobs J] [--build DIR] [TARGET...]

Builds the libFuzzer targets (the `fuzz` CMake preset, clang) and fuzzes each TARGET (a name as in
tests/fuzz/NAME_fuzz.cc: decode, stream, rules, ...; default: every one) for N minutes.

  --minutes N   minutes per target (default 10)
  --jobs J      targets fuzzed at the same time, and build parallelism (default 1)
  --build DIR   use the fuzz targets already built in DIR (configured with -DSPANGUARD_FUZZ=ON)
                instead of building the `fuzz` preset; only missing ones are built
  -h, --help    this text

Each target fuzzes with build/fuzz-corpus/TARGET as its first corpus directory (new inputs are
kept there from one run to the next) and its committed seeds, tests/fuzz/corpus/TARGET, as the
second. At the end the new inputs are merged into tests/fuzz/corpus/TARGET with -merge=1, which
adds only the inputs that reach code the committed corpus does not: that merged corpus is meant to
be committed (review the new files; they are small). Crash, timeout and out-of-memory inputs are
written to build/fuzz-artifacts/TARGET/; reproduce one with `BINARY ARTIFACT`.
EOF
}

minutes=10
jobs=1
build_dir=
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --build) build_dir=${2:?--build needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -eq 0 ]; then
  echo "fuzz.sh: --minutes $minutes: expected a whole number of minutes, at least 1" >&2
  exit 2
fi
if ! [[ "$jobs" =~ ^[0-9]+$ ]] || [ "$jobs" -eq 0 ]; then
  echo "fuzz.sh: --jobs $jobs: expected a whole number, at least 1" >&2
  exit 2
fi

# Every target there is: one source file per parser of untrusted input.
available=()
for source in tests/fuzz/*_fuzz.cc; do
  name=$(basename "$source" .cc)
  available+=("${name%_fuzz}")
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${available[@]}")
fi
for t in "${targets[@]}"; do
  if [ ! -f "tests/fuzz/${t}_fuzz.cc" ]; then
    echo "fuzz.sh: no fuzz target '$t' (there are: ${available[*]})" >&2
    exit 2
  fi
done

if [ -z "$build_dir" ]; then
  build_dir=build/fuzz
  cmake --preset fuzz >/dev/null
elif ! grep -q '^SPANGUARD_FUZZ:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null; then
  echo "fuzz.sh: --build $build_dir: not a build directory configured with -DSPANGUARD_FUZZ=ON" >&2
  exit 2
fi
build_targets=()
for t in "${targets[@]}"; do
  if [ "$build_dir" = build/fuzz ] || [ ! -x "$build_dir/tests/fuzz/${t}_fuzz" ]; then
    build_targets+=("${t}_fuzz")
  fi
done
if [ ${#build_targets[@]} -gt 0 ]; then
  echo "== building ${build_targets[*]} in $build_dir"
  cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}"
fi

seconds=$((minutes * 60))
logs=build/fuzz-logs
mkdir -p "$logs"

# Fuzzes one target, then merges what it found into the committed corpus. Writes one result line
# to $logs/TARGET.result: executions, corpus before, corpus after, artifacts, status.
fuzz_one() {
  local t=$1
  local binary=$build_dir/tests/fuzz/${t}_fuzz
  local seeds=tests/fuzz/corpus/$t
  local work=build/fuzz-corpus/$t
  local artifacts=build/fuzz-artifacts/$t
  local log=$logs/$t.log
  mkdir -p "$seeds" "$work" "$artifacts"
  local before
  before=$(find "$seeds" -type f | wc -l)
  local marker
  marker=$(mktemp)

  local status=0
  "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1 || status=$?

  local executions
  executions=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  local found
  found=$(find "$artifacts" -type f -newer "$marker" | sort | tr '\n' ' ')
  rm -f "$marker"

  # Only the inputs that reach new code join the committed corpus.
  local merge_status=0
  "$binary" -merge=1 -rss_limit_mb=2048 -timeout=10 "$seeds" "$work" >"$logs/$t.merge.log" 2>&1 ||
    merge_status=$?
  local after
  after=$(find "$seeds" -type f | wc -l)

  local verdict=ok
  if [ -n "$found" ] || [ "$status" -ne 0 ]; then
    verdict=crashed
  elif [ "$merge_status" -ne 0 ]; then
    verdict=merge-failed
  fi
  echo "$t ${executions:-?} $before $after $verdict ${found:--}" >"$logs/$t.result"
}

echo "== fuzzing ${#targets[@]} target(s), $minutes min each, $jobs at a time (logs: $logs/)"
running=0
for t in "${targets[@]}"; do
  rm -f "$logs/$t.result"
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
printf '\n%-10s %14s %14s  %s\n' target executions corpus result
for t in "${targets[@]}"; do
  if [ ! -f "$logs/$t.result" ]; then
    printf '%-10s %14s %14s  %s\n' "$t" '?' '?' "no result (see $logs/$t.log)"
    failed=1
    continue
  fi
  read -r name executions before after verdict found <"$logs/$t.result"
  case "$verdict" in
    ok) result="no crash" ;;
    crashed)
      result="CRASH: ${found} (log: $logs/$t.log)"
      failed=1
      ;;
    *)
      result="merge failed (log: $logs/$t.merge.log)"
      failed=1
      ;;
  esac
  printf '%-10s %14s %14s  %s\n' "$name" "$executions" "$before -> $after" "$result"
done
exit "$failed"
