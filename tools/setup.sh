#!/usr/bin/env bash
# Installs, from Debian 12 packages, everything spanguard needs to build, test and benchmark.
# Idempotent: installs only what is missing, and touches apt's lists only when it has to.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config make
  # libraries
  libpcap-dev libhyperscan-dev libnet1-dev libprotobuf-dev protobuf-compiler
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev libpcre2-dev zlib1g-dev libssl-dev
  rapidjson-dev libcpp-httplib-dev libcap-ng-dev
  # tests: GoogleTest, libFuzzer (clang), network-namespace test bed
  libgtest-dev libgmock-dev clang libclang-rt-14-dev iproute2 tcpdump ethtool
  python3-jsonschema  # tests: EVE output validated against Suricata's schema
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root (or install them with apt-get) and try again" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
