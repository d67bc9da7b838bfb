#!/usr/bin/env bash
# Run ringfuse's tests from build directory $1 (default build/asan): the criterion unit
# suite (fake kernel on a socket pair), then real-mount tests. Every mount made here is
# unmounted and every server started here is killed on exit, pass or fail.
# Ends with one line: "tests: N passed, N failed, N skipped".
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 skipped=0
failures=()
work=$(mktemp -d /tmp/ringfuse-test.XXXXXX)
mounts=() pids=()

cleanup() {
  local m p
  for m in "${mounts[@]}"; do
    mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work" 2>/dev/null
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL  $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $1: $2"; }

# mount_fs MNT LOG BINARY ARGS... : start a server in the foreground mode, wait for the
# mount to appear. Sets SERVER_PID. Returns 1 if it did not mount within 10 s.
mount_fs() {
  local mnt=$1 log=$2; shift 2
  mkdir -p "$mnt"
  "$@" -f "$mnt" >"$log" 2>&1 &
  SERVER_PID=$!
  pids+=("$SERVER_PID"); mounts+=("$mnt")
  for _ in $(seq 100); do
    grep -q " $mnt fuse" /proc/mounts && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "--- server log ($log):"; tail -20 "$log"
  return 1
}

# unmount_fs MNT : unmount and wait (10 s at most) for the server to exit by itself.
# Returns the server's exit status, or 124 if it had to be killed.
unmount_fs() {
  local mnt=$1 pid=$SERVER_PID
  umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; wait "$pid" 2>/dev/null; return 124
  fi
  wait "$pid"
}

# Real-mount tests need /dev/fuse and the right to mount.
can_mount=1
if [ ! -c /dev/fuse ]; then can_mount=0; why="no /dev/fuse on this machine"; fi
if [ "$(id -u)" -ne 0 ] && ! command -v fusermount3 >/dev/null; then
  can_mount=0; why="not root and no fusermount3"
fi

echo "== unit tests (criterion, fake kernel) =="
if "$B/tests/unit/unit" --jobs 2; then pass "unit"; else fail "unit" "criterion suite"; fi

echo "== real mounts =="
if [ "$can_mount" -eq 0 ]; then
  skip "real-mount tests" "$why"
else
  # hello: mounts, serves, unmounts cleanly.
  m=$work/hello
  if mount_fs "$m" "$work/hello.log" "$B/examples/hello"; then
    if [ "$(cat "$m/hello")" = "Hello from ringfuse!" ] && [ "$(ls "$m")" = "hello" ]; then
      unmount_fs "$m" && pass "hello mount/read/unmount" || fail "hello" "server exit $?"
    else
      fail "hello" "unexpected contents"; unmount_fs "$m"
    fi
  else
    fail "hello" "did not mount"
  fi

  # memfs: the syscall test program, as root and as another user (default_permissions).
  for threads in 1 2; do
    name="memfs syscalls (threads=$threads)"
    m=$work/memfs$threads
    if [ ! -x "$B/examples/memfs" ] || [ ! -x "$B/tests/integration/syscalls" ]; then skip "$name" "not built"; continue; fi
    if mount_fs "$m" "$work/memfs$threads.log" "$B/examples/memfs" \
         -o allow_other,default_permissions,threads=$threads; then
      "$B/tests/integration/syscalls" "$m"; rc=$?
      unmount_fs "$m"; src=$?
      if [ $rc -eq 0 ] && [ $src -eq 0 ]; then pass "$name"
      else fail "$name" "syscalls exit $rc, server exit $src"; tail -20 "$work/memfs$threads.log"; fi
    else
      fail "$name" "did not mount"
    fi
  done
fi

# Nothing of ours may be left behind.
left=$(grep " $work" /proc/mounts || true)
if [ -n "$left" ]; then fail "no mount left behind" "$left"; else pass "no mount left behind"; fi

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
