#!/usr/bin/env bash
# Soak benchmark: replays one capture many times over in a single `spanguard replay` run, each copy
# later in time than the last (as one long capture, never rewinding the clock), while sampling the
# sensor's resident memory; then checks that memory stayed flat after warm-up and that the summary's
# counters are exactly COPIES times those of one copy.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: bench/soak.sh [options] [-- extra replay args...]

  --copies N          copies of the capture replayed in one run (default 20)
  --sessions N        HTTP sessions in the generated capture (default 20000)
  --capture FILE      replay FILE instead of generating one (any pcap or pcapng)
  --rules FILE        rule file (default bench/soak.rules, written for the generated capture)
  --build DIR         where spanguard, spanguard-pcapgen and spanguard-pcapshift are (default
                      build/default; missing ones are built there)
  --pcapshift PATH    spanguard-pcapshift to use instead of DIR's
  --workdir DIR       where the copies go (default /tmp/spanguard-soak; about COPIES x the capture)
  --interval SECONDS  RSS sampling period (default 0.2)
  --max-growth PCT    RSS growth after warm-up that fails the run (default 5)
  --keep              keep the copies afterwards

Warm-up is the first two copies: the baseline is the RSS sampled once the third copy is being read.
Exits 1 if the growth exceeds --max-growth or a counter is not COPIES times one copy's.
EOF
}

copies=20
sessions=20000
capture=
rules=bench/soak.rules
build=build/default
pcapshift=
workdir=/tmp/spanguard-soak
interval=0.2
max_growth=5
keep=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --copies) copies=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --capture) capture=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --pcapshift) pcapshift=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --max-growth) max_growth=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$copies" =~ ^[0-9]+$ ]] || [ "$copies" -lt 3 ]; then
  echo "soak.sh: --copies $copies: at least 3 (two of warm-up, then the soak)" >&2
  exit 2
fi

spanguard=$build/spanguard
pcapgen=$build/spanguard-pcapgen
pcapshift=${pcapshift:-$build/spanguard-pcapshift}
for binary in "$spanguard" "$pcapgen" "$pcapshift"; do
  if [ ! -x "$binary" ]; then
    echo "== building $(basename "$binary") in $(dirname "$binary")"
    cmake --build "$(dirname "$binary")" --target "$(basename "$binary")" >/dev/null
  fi
done

mkdir -p "$workdir"
if [ -z "$capture" ]; then
  capture=$workdir/http-$sessions.pcap
  [ -f "$capture" ] || "$pcapgen" --profile http --sessions "$sessions" --seed 1 --out "$capture"
fi
"$pcapshift" --in "$capture" --out-prefix "$workdir/copy" --copies "$copies"
cleanup() { [ "$keep" -eq 1 ] || rm -f "$workdir"/copy-*.pcap; }
trap cleanup EXIT

# A counter from a replay summary: "  MODULE     name N, name N," continued on lines indented 13
# columns. The summary prints non-zero counters only, so an absent one is 0.
counter() {
  awk -v module="$2" -v name="$3" '
    /^  [a-z]/ { current = $1; sub(/^  [^ ]+ +/, "") }
    /^             [^ ]/ { sub(/^ +/, "") }
    current == module {
      n = split($0, items, /, /)
      for (i = 1; i <= n; i++) {
        k = split(items[i], words, " ")
        if (k == 2 && words[1] == name) { v = words[2]; gsub(/,/, "", v); print v; found = 1 }
      }
    }
    END { if (!found) print 0 }' "$1"
}
input_packets() { sed -n 's/^  input *\([0-9,]*\) packets.*/\1/p' "$1" | tr -d ','; }
ended() {
  local total=0 reason
  for reason in closed timeout reused evicted shutdown; do
    total=$((total + $(counter "$1" flow "ended.$reason")))
  done
  echo "$total"
}

echo "== one copy, for reference"
one=$workdir/one.log
"$spanguard" replay --pcap "$workdir/copy-01.pcap" --rules "$rules" --log-level warn \
  "${extra[@]}" >/dev/null 2>"$one"

echo "== $copies copies in one run, RSS sampled every ${interval}s"
args=()
for k in $(seq -f '%02g' 1 "$copies"); do args+=(--pcap "$workdir/copy-$k.pcap"); done
log=$workdir/soak.log
samples=$workdir/rss.tsv
"$spanguard" replay "${args[@]}" --rules "$rules" --log-level warn "${extra[@]}" >/dev/null \
  2>"$log" &
pid=$!
# Each sample: seconds since start, VmRSS in KiB, the copy being read (from the open capture file).
start=$(date +%s.%N)
: >"$samples"
while [ -r "/proc/$pid/status" ]; do
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
  copy=0
  for fd in "/proc/$pid"/fd/*; do
    target=$(readlink "$fd" 2>/dev/null || true)
    [[ "$target" =~ copy-([0-9]+)\.pcap$ ]] && copy=$((10#${BASH_REMATCH[1]}))
  done
  if [ -n "$rss" ]; then
    printf '%s\t%s\t%s\n' "$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')" \
      "$rss" "$copy" >>"$samples"
  fi
  sleep "$interval"
done
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
  echo "soak.sh: spanguard replay exited with $status" >&2
  cat "$log" >&2
  exit 1
fi

# RSS after warm-up: the first sample once the third copy is being read; at the end: the last one.
warm=$(awk -F'\t' '$3 + 0 >= 3 { print $2; exit }' "$samples")
last=$(tail -1 "$samples" | cut -f2)
max=$(cut -f2 "$samples" | sort -n | tail -1)
if [ -z "$warm" ]; then
  echo "soak.sh: no sample during copy 3 or later (each copy too short for --interval $interval)" >&2
  exit 1
fi
growth=$(awk -v a="$warm" -v b="$last" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')

echo
echo "RSS by copy (max MiB while it was read):"
awk -F'\t' '$3 > 0 { if ($2 > m[$3 + 0]) m[$3 + 0] = $2; if ($3 + 0 > n) n = $3 + 0 }
  END { line = ""; for (i = 1; i <= n; i++) line = line sprintf(" %d:%.0f", i, m[i] / 1024); print line }' \
  "$samples"
printf 'samples           %d (every %ss over %ss)\n' "$(wc -l <"$samples")" "$interval" \
  "$(tail -1 "$samples" | cut -f1)"
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
printf 'RSS after warm-up %8s MiB\n' "$(mib "$warm")"
printf 'RSS at the end    %8s MiB\n' "$(mib "$last")"
printf 'RSS max           %8s MiB\n' "$(mib "$max")"
printf 'growth            %8s %%  (target: within %s %%)\n' "$growth" "$max_growth"

failures=0
check() {  # check LABEL ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then
    printf '  ok    %-28s %s\n' "$1" "$2"
  else
    printf '  FAIL  %-28s %s, expected %s\n' "$1" "$2" "$3"
    failures=$((failures + 1))
  fi
}
echo
echo "counters ($copies copies against one copy x $copies):"
check "decode.packets" "$(input_packets "$log")" "$(($(input_packets "$one") * copies))"
check "flow.created" "$(counter "$log" flow created)" \
  "$(($(counter "$one" flow created) * copies))"
check "flow.ended (all reasons)" "$(ended "$log")" "$(counter "$log" flow created)"
check "flow.ended.reused" "$(counter "$log" flow ended.reused)" 0
check "flow.active at the end" "$(counter "$log" flow active)" 0
check "stream.bytes" "$(counter "$log" stream bytes)" "$(($(counter "$one" stream bytes) * copies))"
check "http.transactions" "$(counter "$log" http transactions)" \
  "$(($(counter "$one" http transactions) * copies))"
check "detect.alerts" "$(counter "$log" detect alerts)" \
  "$(($(counter "$one" detect alerts) * copies))"
echo "(summaries: $one, $log; samples: $samples)"

if awk -v g="$growth" -v m="$max_growth" 'BEGIN { exit !(g > m) }'; then
  echo "soak.sh: RSS grew ${growth}% after warm-up (more than ${max_growth}%)" >&2
  failures=$((failures + 1))
fi
[ "$failures" -eq 0 ]
