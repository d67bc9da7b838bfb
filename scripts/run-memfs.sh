#!/usr/bin/env bash
# `make run`: mount the in-memory example filesystem (memfs) at $2 and serve it in the
# foreground until Ctrl-C (or `umount $2`), then make sure nothing is left mounted.
set -euo pipefail
B=${1:-build/gcc}
MNT=${2:-/tmp/ringfuse-memfs}
mkdir -p "$MNT"
if mountpoint -q "$MNT"; then
  echo "run: $MNT is already a mount point; unmount it first (umount $MNT)" >&2
  exit 1
fi
opts=default_permissions
[ "$(id -u)" -eq 0 ] && opts=$opts,allow_other
echo "run: mounting memfs (in-memory POSIX filesystem) at $MNT"
echo "run: use it from another terminal, e.g.  ls -la $MNT; echo hi > $MNT/f; cat $MNT/f"
echo "run: press Ctrl-C here (or run: umount $MNT) to stop it"
trap 'mountpoint -q "$MNT" && umount -l "$MNT" 2>/dev/null; true' EXIT
"$B/examples/memfs" -f -o "$opts" "$MNT"
echo "run: memfs stopped; $MNT unmounted"
