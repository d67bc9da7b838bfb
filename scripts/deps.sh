#!/usr/bin/env bash
# Install the Debian packages ringfuse needs, only those missing, and say which.
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
set -euo pipefail
what=${1:-test}
pkgs=(make gcc clang libclang-rt-14-dev pkg-config liburing-dev libfuse3-dev fuse3 libjemalloc-dev libcriterion-dev)
case "$what" in
  build) ;;
  test)  pkgs+=(e2fsprogs util-linux psmisc stress-ng) ;;
  bench) pkgs+=(fio e2fsprogs python3) ;;
  *) echo "deps.sh: unknown set '$what' (build|test|bench)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} Debian packages for '$what' are present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "deps: installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
