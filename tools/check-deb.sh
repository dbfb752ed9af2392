#!/usr/bin/env bash
# Builds the .deb and checks it on a clean Debian 12: installs it into a minbase bookworm root
# (bootstrapped once, kept in build/debroot), then checks the binaries, the user, the conffiles,
# the units, and runs the collector and a sensor exactly as their units would, in a network
# namespace of their own with a veth pair as the mirror port. Needs root and deb.debian.org.
# Usage: tools/check-deb.sh [BUILD_DIR]   (default build/default; built first, then `cpack -G DEB`)
# Slow and network-dependent: not part of tools/test-all.sh or CI.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

build=${1:-build/default}
root=$repo/build/debroot            # the bootstrapped Debian root, reused between runs
work=$repo/build/check-deb          # logs of this run
mirror=${SPANGUARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
instance=checkdeb                   # spanguard@checkdeb: /etc/spanguard/checkdeb.yaml
wait_seconds=120                    # longest wait for a process to reach a state

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...: PASS or FAIL by the command's exit status
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
die() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, network namespaces)"

# ---- the package ----

if [ ! -f "$build/CMakeCache.txt" ]; then
  if [ "$build" = build/default ]; then
    cmake --preset default >/dev/null
  else
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANGUARD_TESTS=OFF \
      -DSPANGUARD_BENCH=OFF >/dev/null
  fi
fi
grep -q '^include(SpanguardPackaging)' CMakeLists.txt ||
  die "CMakeLists.txt does not include(SpanguardPackaging): no install rules, no CPack"
cmake --build "$build" --target spanguard spanguard-collector
rm -f "$build"/spanguard_*.deb
(cd "$build" && cpack -G DEB) >"$repo/build/cpack.log" 2>&1 ||
  { tail -30 "$repo/build/cpack.log"; die "cpack -G DEB"; }
debs=("$build"/spanguard_*.deb)
[ -f "${debs[0]}" ] || die "cpack produced no spanguard_*.deb in $build"
deb=${debs[0]}
pass "cpack -G DEB: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
echo "      Depends: $(dpkg-deb -f "$deb" Depends)"

# ---- a clean Debian 12 root ----

# Runs a command chrooted into the root, with /proc and /dev in a mount namespace of its own
# (nothing stays mounted on the host) and the host's network.
in_root() {
  unshare --mount --propagation private -- /bin/sh -c '
    root=$1; shift
    mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
      exec chroot "$root" "$@"' sh "$root" "$@"
}

if [ ! -f "$root/.bootstrapped" ]; then
  command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null
  rm -rf "$root"
  echo "bootstrapping Debian 12 into $root (a few minutes, once)"
  debootstrap --variant=minbase --include=systemd bookworm "$root" "$mirror" \
    >"$repo/build/debootstrap.log" 2>&1 ||
    { tail -20 "$repo/build/debootstrap.log"; die "debootstrap"; }
  touch "$root/.bootstrapped"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$work"
rm -f "$work"/*

# A fresh install each run: the previous one is purged first, which also exercises postrm.
if in_root dpkg-query -W spanguard >/dev/null 2>&1; then
  in_root apt-get purge -y spanguard >"$work/purge.log" 2>&1 || die "apt-get purge spanguard"
  check "purge removed the spanguard user" \
    sh -c "! chroot '$root' getent passwd spanguard >/dev/null"
  check "purge removed /var/lib/spanguard and /var/log/spanguard" \
    sh -c "[ ! -e '$root/var/lib/spanguard' ] && [ ! -e '$root/var/log/spanguard' ]"
  rm -f "$root/etc/spanguard/$instance.yaml"
fi
# Package lists older than a day are refreshed.
if [ -z "$(find "$root/var/lib/apt/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]
then
  in_root apt-get update >"$work/apt-update.log" 2>&1 || die "apt-get update in the root"
fi
cp "$deb" "$root/tmp/"
if in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "/tmp/$(basename "$deb")" \
  >"$work/install.log" 2>&1; then
  pass "apt-get install ./$(basename "$deb") on Debian 12 minbase (dependencies resolved)"
else
  tail -30 "$work/install.log"
  die "apt-get install of the package"
fi
rm -f "$root/tmp/$(basename "$deb")"
check "postinst runs again without error (idempotent)" \
  in_root /var/lib/dpkg/info/spanguard.postinst configure "$(dpkg-deb -f "$deb" Version)"

# ---- what the package installed ----

version=$(dpkg-deb -f "$deb" Version)
check "spanguard --version prints $version" \
  sh -c "[ \"\$(chroot '$root' spanguard --version)\" = '$version' ]"
check "spanguard version lists its libraries" in_root sh -c 'spanguard version >/dev/null'
check "spanguard-collector --version prints $version" \
  sh -c "[ \"\$(chroot '$root' spanguard-collector --version)\" = '$version' ]"
check "spanguard show-config exits 0" in_root sh -c 'spanguard show-config >/dev/null'
# From the units' working directory, where the configuration's relative rules/ paths resolve.
check "spanguard check-rules /etc/spanguard/rules/*.rules exits 0" \
  in_root sh -c 'cd /etc/spanguard &&
    spanguard check-rules -q /etc/spanguard/rules/*.rules >/tmp/check-rules.log'
check "the installed /etc/spanguard/spanguard.yaml loads" \
  in_root sh -c 'cd /etc/spanguard &&
    spanguard check-rules -q -c spanguard.yaml rules/spanguard-example.rules >/dev/null'

check "user spanguard is a system user with home /var/lib/spanguard and no login" \
  sh -c "chroot '$root' getent passwd spanguard |
         awk -F: '{ exit !(\$3 < 1000 && \$6 == \"/var/lib/spanguard\" && \$7 ~ /nologin\$/) }'"
check "group spanguard exists" sh -c "chroot '$root' getent group spanguard >/dev/null"
for dir in /var/lib/spanguard /var/log/spanguard; do
  check "$dir is spanguard:spanguard 750" \
    sh -c "[ \"\$(chroot '$root' stat -c '%U:%G %a' $dir)\" = 'spanguard:spanguard 750' ]"
done

conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' spanguard)
is_conffile() {
  grep -q "^ $1 " <<<"$conffiles" && [ "$(stat -c '%U:%G %a' "$root$1")" = 'root:root 644' ]
}
for f in /etc/spanguard/spanguard.yaml /etc/logrotate.d/spanguard \
  /etc/spanguard/rules/classification.config /etc/spanguard/rules/reference.config \
  /etc/spanguard/rules/spanguard-example.rules; do
  check "conffile $f in place, root:root 644" is_conffile "$f"
done
check "the spanguard user can read the configuration" \
  in_root setpriv --reuid spanguard --regid spanguard --init-groups \
  sh -c 'cat /etc/spanguard/spanguard.yaml >/dev/null'
for unit in spanguard@.service spanguard-collector.service; do
  check "unit /lib/systemd/system/$unit installed" test -f "$root/lib/systemd/system/$unit"
done
check "systemd-analyze verify spanguard@$instance.service spanguard-collector.service" \
  in_root systemd-analyze verify --man=no "spanguard@$instance.service" \
  spanguard-collector.service
check "logrotate accepts /etc/logrotate.d/spanguard" \
  in_root sh -c 'logrotate --debug /etc/logrotate.d/spanguard 2>/tmp/logrotate.log'
check "/usr/share/doc/spanguard/copyright installed" \
  test -f "$root/usr/share/doc/spanguard/copyright"

# ---- the services, started as their units start them ----

# unit_value FILE KEY: the key's values in the [Service] section, joined by spaces, with %i
# expanded and continuation lines joined; an empty assignment resets the list, as in systemd.
unit_value() {
  awk -v key="$2" -v inst="$instance" '
    { while (/\\$/ && (getline next_line) > 0) $0 = substr($0, 1, length($0) - 1) next_line }
    /^\[/ { service = ($0 == "[Service]") }
    service && index($0, key "=") == 1 {
      v = substr($0, length(key) + 2); gsub(/%i/, inst, v)
      out = (v == "") ? "" : (out == "" ? v : out " " v)
    }
    END { print out }' "$1"
}

# caps_for_setpriv "CAP_NET_RAW CAP_NET_ADMIN" -> +net_raw,+net_admin
caps_for_setpriv() {
  local list="" c
  for c in $1; do
    c=${c#CAP_}
    list+="${list:+,}+${c,,}"
  done
  echo "$list"
}

# has_exactly_caps PID "CAP_A CAP_B": the process's effective set is exactly these.
has_exactly_caps() {
  declare -A bit=([CAP_CHOWN]=0 [CAP_DAC_OVERRIDE]=1 [CAP_DAC_READ_SEARCH]=2 [CAP_FOWNER]=3
    [CAP_KILL]=5 [CAP_SETGID]=6 [CAP_SETUID]=7 [CAP_NET_BIND_SERVICE]=10 [CAP_NET_BROADCAST]=11
    [CAP_NET_ADMIN]=12 [CAP_NET_RAW]=13 [CAP_IPC_LOCK]=14 [CAP_SYS_ADMIN]=21 [CAP_SYS_NICE]=23
    [CAP_SYS_RESOURCE]=24 [CAP_PERFMON]=38 [CAP_BPF]=39)
  local want=0 c have
  for c in $2; do
    [ -n "${bit[$c]:-}" ] || { echo "      unknown capability $c" >&2; return 1; }
    want=$((want | 1 << bit[$c]))
  done
  have=$(awk '/^CapEff:/ { print $2 }' "/proc/$1/status")
  [ $((16#$have)) -eq "$want" ]
}

holder=""
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; fi
}
trap cleanup EXIT

# The namespaces the services run in: a network namespace with lo and veth0 (the mirror port,
# fed from its peer veth1), and a mount namespace with the root's /proc, /sys and /dev, held
# open by one sleeping process.
unshare --net --mount --propagation private -- sleep 3600 &
holder=$!
in_ns() { nsenter --target "$holder" --net --mount -- "$@"; }
# Entered only once unshare has made the mounts private and become `sleep`.
for _ in $(seq 1 200); do
  [ "$(cat "/proc/$holder/comm" 2>/dev/null)" = sleep ] && break
  sleep 0.05
done
[ "$(cat "/proc/$holder/comm" 2>/dev/null)" = sleep ] || die "unshare did not start"
in_ns sh -e -c "
  mount -t proc proc '$root/proc'
  mount -t sysfs sysfs '$root/sys'
  mount --rbind /dev '$root/dev'
  ip link set lo up
  ip link add veth0 type veth peer name veth1
  ip link set veth0 up
  ip link set veth1 up
  ip addr add 10.99.0.1/24 dev veth1
  ip neigh add 10.99.0.9 lladdr 02:00:00:00:00:09 dev veth1 nud permanent
" || die "setting up the network namespace"

# start_unit UNIT LOG: runs the unit's ExecStart= in the namespaces, chrooted, as its User= and
# Group= with its capabilities (ambient, bounding set, no-new-privs), from its
# WorkingDirectory=; sets `started` to the process id (nsenter, chroot, sh and setpriv exec).
started=""
start_unit() {
  local file=$root/lib/systemd/system/$1 log=$2
  local user group ambient bounding nnp wd exec
  user=$(unit_value "$file" User)
  group=$(unit_value "$file" Group)
  ambient=$(caps_for_setpriv "$(unit_value "$file" AmbientCapabilities)")
  bounding=$(caps_for_setpriv "$(unit_value "$file" CapabilityBoundingSet)")
  nnp=$(unit_value "$file" NoNewPrivileges)
  wd=$(unit_value "$file" WorkingDirectory)
  exec=$(unit_value "$file" ExecStart)
  # What systemd makes before starting: RuntimeDirectory= under /run, owned by User=.
  local rundir
  rundir=$(unit_value "$file" RuntimeDirectory)
  if [ -n "$rundir" ]; then
    install -d -m "$(unit_value "$file" RuntimeDirectoryMode || true)" \
      -o "$(chroot "$root" id -u "$user")" -g "$(chroot "$root" id -g "$user")" \
      "$root/run/$rundir"
  fi
  exec=${exec#[-@+!]}
  local -a cmd=(setpriv)
  [ -n "$user" ] && cmd+=(--reuid "$user" --init-groups)
  [ -n "$group" ] && cmd+=(--regid "$group")
  if [ -n "$ambient" ]; then
    cmd+=(--inh-caps "$ambient" --ambient-caps "$ambient")
  fi
  cmd+=(--bounding-set "-all${bounding:+,$bounding}")
  [ "$nnp" = yes ] && cmd+=(--no-new-privs)
  echo "      $1: $exec" >&2
  echo "      as: ${cmd[*]}" >&2
  # shellcheck disable=SC2086  # ExecStart= is split on spaces as systemd splits it
  nsenter --target "$holder" --net --mount -- \
    chroot "$root" /bin/sh -c 'cd "${0:-/}" && exec "$@"' "$wd" "${cmd[@]}" -- $exec \
    >"$log" 2>&1 &
  started=$!
  pids+=("$started")
}

# wait_for PID LOG PATTERN: until LOG shows PATTERN (success) or PID ends (failure).
wait_for() {
  local deadline=$((SECONDS + wait_seconds))
  while [ $SECONDS -lt $deadline ]; do
    grep -q -- "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { grep -q -- "$3" "$2" 2>/dev/null; return; }
    sleep 0.1
  done
  return 1
}

# stop PID: SIGTERM, then the exit status once it ends (bounded).
stop() {
  kill -TERM "$1"
  local deadline=$((SECONDS + wait_seconds))
  while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1"
    wait "$1" 2>/dev/null || true
    return 124
  fi
  wait "$1"
}

# The sensor's configuration: the shipped default, with the veth as the mirror port, the
# example rules and the collector as alert destination. No busy polling: this is a test.
cat >"$root/etc/spanguard/$instance.yaml" <<EOF
capture:
  interfaces: [veth0]
  busy_poll: no
rules:
  files: [/etc/spanguard/rules/spanguard-example.rules]
output:
  socket:
    connect: tcp://127.0.0.1:5140
  spool:
    dir: /var/lib/spanguard/spool-$instance
  heartbeat_interval: 1s
pipeline:
  workers: 1
EOF

collector_log=$work/collector.log
sensor_log=$work/sensor.log
start_unit spanguard-collector.service "$collector_log"
collector=$started
check "collector started as its unit does (listening)" \
  wait_for "$collector" "$collector_log" "listening on tcp://127.0.0.1:5140"

start_unit "spanguard@.service" "$sensor_log"
sensor=$started
if wait_for "$sensor" "$sensor_log" "running with"; then
  pass "sensor started as spanguard@$instance does (capturing on veth0)"
else
  fail "sensor start"
  sed 's/^/      /' "$sensor_log"
fi
spanguard_uid=$(chroot "$root" id -u spanguard)
runs_as_spanguard() {  # real, effective, saved and filesystem uid
  [ "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$1/status")" = \
    "$spanguard_uid $spanguard_uid $spanguard_uid $spanguard_uid" ]
}
check "sensor runs as user spanguard" runs_as_spanguard "$sensor"
sensor_caps=$(unit_value "$root/lib/systemd/system/spanguard@.service" AmbientCapabilities)
check "sensor's effective capabilities are exactly its unit's ($sensor_caps)" \
  has_exactly_caps "$sensor" "$sensor_caps"
check "sensor connected to the collector" \
  wait_for "$sensor" "$sensor_log" "alert stream: connected to"

# A DNS query for example.test out of veth1: the mirror port sees it, rule 9000020 alerts.
query='\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x04test\x00\x00\x01\x00\x01'
in_ns bash -c "printf '$query' >/dev/udp/10.99.0.9/53"
eve=$root/var/log/spanguard/$instance.json
check "the alert reached the sensor's EVE file" \
  wait_for "$sensor" "$eve" '"signature_id":9000020'
check "the alert reached the collector's EVE file" \
  wait_for "$collector" "$root/var/log/spanguard/eve.json" '"signature_id":9000020'
check "EVE files are owned by spanguard" \
  sh -c "[ \"\$(chroot '$root' stat -c %U /var/log/spanguard/$instance.json \
                  /var/log/spanguard/eve.json | sort -u)\" = spanguard ]"

# Log rotation as logrotate does it: rename, create, SIGHUP; both reopen their file.
mv "$eve" "$eve.1"
mv "$root/var/log/spanguard/eve.json" "$root/var/log/spanguard/eve.json.1"
kill -HUP "$sensor" "$collector"
check "SIGHUP: the sensor reopened its EVE file" \
  wait_for "$sensor" "$sensor_log" "$instance.json: reopened"
check "SIGHUP: the sensor created a new $instance.json" test -f "$eve"
check "SIGHUP: the collector reopened its EVE file" \
  wait_for "$collector" "$collector_log" "eve.json: reopened"

status=0
if kill -0 "$sensor" 2>/dev/null; then
  stop "$sensor" || status=$?
  check "SIGTERM: sensor exits 0 (status $status)" test "$status" -eq 0
else
  wait "$sensor" || status=$?
  fail "SIGTERM: the sensor had already ended (status $status) before it was sent"
  if [ "$status" -gt 128 ]; then
    echo "      it was killed by SIG$(kill -l $((status - 128))), which it should have handled"
  fi
fi
check "sensor printed its summary with the captured packets" \
  grep -Eq '^  input +[1-9][0-9,]* packets' "$sensor_log"
status=0
stop "$collector" || status=$?
check "SIGTERM: collector exits 0 (status $status)" test "$status" -eq 0
check "collector reported what it wrote" grep -q "stopped: " "$collector_log"
pids=()

echo "logs: $work"
if [ "$failures" -gt 0 ]; then
  echo "check-deb: $failures check(s) FAILED"
  exit 1
fi
echo "check-deb: all checks passed"
