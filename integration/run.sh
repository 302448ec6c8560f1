#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 with only Go installed: installs
# what the tests drive (as root, only what is missing) and a C compiler for
# -race, then runs every test with the race detector.
#
#   bash integration/run.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(gcc libc6-dev ffmpeg rtmpdump nginx libnginx-mod-rtmp haproxy nftables iproute2
  docker-compose lua5.1 jq chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "integration/run.sh: missing Debian packages: ${missing[*]}; run as root (or apt-get install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
exec go test -race -timeout 40m ./...
