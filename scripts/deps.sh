#!/usr/bin/env bash
# Install the Debian packages ringfuse needs, only those missing, and say which.
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
#        scripts/deps.sh check   (what `make` runs first: name the missing libraries the
#                                 compile needs and how to get them; install nothing)
set -euo pipefail
what=${1:-test}
if [ "$what" = check ]; then
  # Debian package -> pkg-config name (for machines without dpkg).
  need=(liburing-dev:liburing libjemalloc-dev:jemalloc libcriterion-dev:criterion)
  missing=()
  if command -v dpkg-query >/dev/null; then
    ok=$(dpkg-query -W -f='${Package} ${Status}\n' "${need[@]%%:*}" 2>/dev/null |
         awk '/install ok installed/ {print $1}')
    for p in "${need[@]}"; do
      grep -qx "${p%%:*}" <<< "$ok" || missing+=("${p%%:*}")
    done
  elif command -v pkg-config >/dev/null; then
    for p in "${need[@]}"; do pkg-config --exists "${p#*:}" || missing+=("${p#*:}"); done
  else
    exit 0      # nothing to ask: the compiler will tell
  fi
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "make: missing build dependencies: ${missing[*]}" >&2
  if command -v dpkg-query >/dev/null; then
    echo "make: install them with: scripts/deps.sh build   (as root; it runs apt-get for what is missing)" >&2
    echo "make: or: sudo apt-get install ${missing[*]}" >&2
  else
    echo "make: install the development packages of: ${missing[*]} (see README.md, Dependencies)" >&2
  fi
  exit 1
fi
pkgs=(make gcc clang libclang-rt-14-dev pkg-config liburing-dev libfuse3-dev fuse3 libjemalloc-dev libcriterion-dev)
case "$what" in
  build) ;;
  # From squashfuse on: programs built on libfuse3 that tests/fuse3/apps/apps.sh runs on the
  # drop-in, and what they need (qemu-storage-daemon is in qemu-system-common; qemu-utils
  # has qemu-img and qemu-nbd; nbdfuse is in libnbd-bin, rofiles-fuse in ostree).
  test)  pkgs+=(e2fsprogs util-linux psmisc stress-ng squashfuse squashfs-tools fuse-overlayfs
                sshfs openssh-sftp-server python3-pyfuse3 python3-trio qemu-system-common
                qemu-utils libnbd-bin ostree lxcfs) ;;
  bench) pkgs+=(fio e2fsprogs python3 strace) ;;
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
