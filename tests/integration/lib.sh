# SPDX-License-Identifier: MIT
# lib.sh - what the real-mount test scripts share. A script sources it after its `cd` to
# the repository and after setting `work` (its temporary directory, removed on exit):
#
#   pass NAME | fail NAME [WHY] | skip NAME WHY
#       print "PASS  NAME" (FAIL, SKIP) and count it in $passed, $failed or $skipped; the
#       names that failed are kept in ${failures[@]}.
#   mount_fs MNT LOG CMD...
#       run `CMD... -f MNT` in the background, its output to LOG, and wait up to 10 s for
#       the mount. Sets SERVER_PID and SERVER_LOG. Returns 1 if the server did not mount
#       (or died), after printing the last lines of LOG.
#   start_fs MNT LOG CMD...
#       the same for a program that takes its mount point its own way: runs `CMD...` as
#       given (it names MNT itself), waits for the mount on MNT.
#   unmount_fs MNT [PID]
#       unmount MNT and wait up to 10 s for its server (default: SERVER_PID) to exit by
#       itself. Returns the server's exit status, or 124 if it was still running: then
#       server_hung LOG PID runs (by default it kills the server; a script may redefine
#       it, e.g. to log the server's stacks first).
#   server_stats LOG PID
#       the statistics JSON the server writes to LOG on SIGUSR1, or "" (5 s at most).
#
# On exit every mount made by mount_fs (or added to ${mounts[@]}) is unmounted, the last
# one first (a mount may sit on another), lazily if it is busy; every server started (or
# added to ${pids[@]}) is killed, and $work is removed. A script with more to undo defines
# cleanup_more, which runs first.

passed=0 failed=0 skipped=0
failures=() mounts=() pids=()
SERVER_PID= SERVER_LOG=

pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL  $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $1: $2"; }

lib_cleanup() {
  local m p i
  declare -F cleanup_more > /dev/null && cleanup_more
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[i]}
    mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  # A mount whose server was only killed just now: detach what is left.
  for m in "${mounts[@]}"; do grep -q " $m " /proc/mounts && umount -l "$m" 2>/dev/null; done
  [ -n "${work:-}" ] && rm -rf "$work" 2>/dev/null
}
trap lib_cleanup EXIT

mount_fs() {
  local mnt=$1 log=$2; shift 2
  [ -e "$mnt" ] || mkdir -p "$mnt"
  start_fs "$mnt" "$log" "$@" -f "$mnt"
}

start_fs() {
  local mnt=$1 log=$2; shift 2
  "$@" > "$log" 2>&1 &
  SERVER_PID=$! SERVER_LOG=$log
  pids+=("$SERVER_PID"); mounts+=("$mnt")
  for _ in $(seq 100); do
    grep -q " $mnt fuse" /proc/mounts && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "--- server log ($log):"; tail -20 "$log"
  return 1
}

server_hung() { kill -KILL "$2" 2>/dev/null; }

unmount_fs() {
  local mnt=$1 pid=${2:-$SERVER_PID} log=$SERVER_LOG rc
  umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "      server $pid still running 10 s after the unmount"
    server_hung "$log" "$pid"; wait "$pid" 2>/dev/null; rc=124
  else
    wait "$pid"; rc=$?
  fi
  # That server is gone: nothing may later kill a process that reuses its pid.
  [ "$pid" = "$SERVER_PID" ] && SERVER_PID=
  return $rc
}

server_stats() {
  local log=$1 pid=$2 n0
  n0=$(grep -c 'stats: {' "$log")
  kill -USR1 "$pid"
  for _ in $(seq 50); do [ "$(grep -c 'stats: {' "$log")" -gt "$n0" ] && break; sleep 0.1; done
  grep -o 'stats: {.*' "$log" | tail -1 | cut -c8-
}
