#!/usr/bin/env bash
# observe.sh - what an operator sees of a running server (issue 12), on real mounts from
# build directory $1 (default build/asan):
#   statistics: memfs with timeouts 0; N stat(2) of one file; SIGUSR1 writes the session's
#     statistics as one JSON line to the log; LOOKUP + GETATTR counted >= N (each stat
#     costs the kernel at least one of them with timeouts 0), no request left in flight
#     beyond the ones the mount itself has in service, every reply in a latency bucket,
#     and no FLUSH for the file written first (memfs opens with noflush);
#   -d trace: hello with -d; `cat hello` logs the READ with its fh, offset and size, and
#     its reply with "OK", the byte count and the latency; a missing name logs ENOENT;
#   starting and stopping: a start on a dead mount (server killed) says what to do;
#     " -1" is no number for memfs and nullfs; fusermount3 is found outside PATH;
#     auto_unmount's helper stays quiet after an umount; SIGTERM with a slow READ in
#     service on two loops ends cleanly and silently.
# Prints "PASS  name" / "FAIL  name: why" lines, ends with "observe: N passed, N failed";
# exit 0 only if nothing failed. Everything it mounts or starts is gone on exit.
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/../.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

work=$(mktemp -d /tmp/ringfuse-observe.XXXXXX)
. tests/integration/lib.sh

# ---- statistics ---------------------------------------------------------------------------
N=500
m=$work/memfs log=$work/memfs.log
if mount_fs "$m" "$log" "$B/examples/memfs" -o timeout=0; then
  echo data > "$m/f"
  python3 -c "
import os
for i in range($N): os.stat('$m/f')"
  json=$(server_stats "$log" "$SERVER_PID")
  if [ -z "$json" ]; then
    fail "statistics on SIGUSR1" "no stats line in the log"
  elif out=$(python3 - "$json" "$N" 2>&1 <<'PY' | tail -1
import json, sys
s = json.loads(sys.argv[1]); n = int(sys.argv[2])
req = s["requests"]
seen = req.get("LOOKUP", 0) + req.get("GETATTR", 0)
assert seen >= n, f"LOOKUP+GETATTR {seen} < {n} stats"
assert req.get("INIT") == 1, f"INIT {req.get('INIT')}"
# memfs opens with noflush: the close after `echo data > f` sends no FLUSH
assert req.get("FLUSH", 0) == 0, f"FLUSH {req.get('FLUSH')}: memfs asked for none"
total = sum(req.values())
lat = sum(sum(v) for v in s["latency_us_log2"].values())
assert lat == s["replies"], f"latency samples {lat} != replies {s['replies']}"
assert s["in_flight"] <= 2, f"in flight {s['in_flight']}"
assert s["replies"] <= total, f"replies {s['replies']} > requests {total}"
print(f"{seen} LOOKUP+GETATTR for {n} stats, {total} requests, {s['replies']} replies")
PY
  ); then
    pass "statistics on SIGUSR1 ($out)"
  else
    fail "statistics on SIGUSR1" "$out; $json"
  fi
  unmount_fs "$m" || fail "statistics: memfs exit" "status $?"
else
  fail "statistics on SIGUSR1" "memfs did not mount: $(tail -3 "$log")"
fi

# ---- -d trace -----------------------------------------------------------------------------
m=$work/hello log=$work/hello.log
if mount_fs "$m" "$log" "$B/examples/hello" -d; then
  cat "$m/hello" > /dev/null
  stat "$m/nope" > /dev/null 2>&1
  unmount_fs "$m"
  if grep -Eq '<- READ unique [0-9]+ node 2 uid 0 .* fh [0-9]+ off 0 size [0-9]+' "$log" &&
     grep -Eq -- '-> READ unique [0-9]+: OK, [0-9]+ bytes, [0-9]+ us' "$log" &&
     grep -Eq '<- LOOKUP unique [0-9]+ node 1 .* name "nope"' "$log" &&
     grep -Eq -- '-> LOOKUP unique [0-9]+: ENOENT' "$log"; then
    pass "-d traces requests with their arguments and replies with errno and latency"
  else
    fail "-d trace" "expected lines missing: $(grep -E 'READ|nope' "$log" | head -5)"
  fi
else
  fail "-d trace" "hello did not mount: $(tail -3 "$log")"
fi

# ---- the edges of starting and stopping ----------------------------------------------------
# A mount whose server was killed (kill -9) is a dead mount (ENOTCONN): the next start on
# it, or below it, names the dead mount and how to remove it, in one line, exit 1.
m=$work/dead
if mount_fs "$m" "$work/dead.log" "$B/examples/hello"; then
  kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=
  "$B/examples/hello" -f "$m" > "$work/dead.out" 2>&1; rc=$?
  "$B/examples/hello" -f "$m/sub" > "$work/dead-sub.out" 2>&1; rc2=$?
  umount "$m" 2>/dev/null || umount -l "$m"
  hint="fusermount3 -u $m, or as root umount $m)"
  if [ $rc -eq 1 ] && [ $rc2 -eq 1 ] && [ "$(cat "$work/dead.out" "$work/dead-sub.out" | wc -l)" -eq 2 ] &&
     grep -qF "$hint" "$work/dead.out" && grep -qF "$hint" "$work/dead-sub.out"; then
    pass "a dead mount (server killed) at the next start: one line naming it and how to unmount it"
  else
    fail "dead mount at start" "exit $rc and $rc2: $(cat "$work/dead.out" "$work/dead-sub.out")"
  fi
else
  fail "dead mount at start" "hello did not mount: $(tail -3 "$work/dead.log")"
fi

# A number with a blank and a '-' before it (strtoull negates it: 2^64 - 1) is refused by
# name, exit 1, nothing mounted, as any other bad number is.
for c in "memfs size" "memfs inodes" "nullfs size"; do
  set -- $c
  m=$work/neg
  mkdir -p "$m"
  timeout 5 "$B/examples/$1" -f -o "$2= -1" "$m" > "$work/neg.out" 2>&1; rc=$?
  if [ $rc -eq 1 ] && grep -q "$2" "$work/neg.out" && ! grep -q " $m " /proc/mounts; then
    pass "$1 -o '$2= -1' refused, exit 1"
  else
    fail "$1 -o '$2= -1'" "exit $rc: $(head -c 200 "$work/neg.out")"
    grep -q " $m " /proc/mounts && umount "$m"
  fi
done

# fusermount3 (here for auto_unmount) is found where packages put it when PATH lacks it
# (a service's or sudo's PATH), as libfuse finds it.
m=$work/nopath
if mount_fs "$m" "$work/nopath.log" env PATH=/nonexistent "$B/examples/hello" -o auto_unmount; then
  got=$(cat "$m/hello" 2>&1)
  unmount_fs "$m"; rc=$?
  if [ "$got" = "Hello from ringfuse!" ] && [ $rc -eq 0 ]; then
    pass "fusermount3 outside PATH: found in /usr/bin, mounted, clean exit"
  else
    fail "fusermount3 outside PATH" "read '$got', server exit $rc: $(head -3 "$work/nopath.log")"
  fi
else
  fail "fusermount3 outside PATH" "did not mount: $(head -3 "$work/nopath.log")"
fi

# auto_unmount's helper (fusermount3, it outlives the mount) writes nothing on the
# server's stderr after an ordinary umount ("fusermount3: M not mounted", once printed on
# the terminal long after a detached start had returned); a refused mount still says why.
m=$work/auto log=$work/auto.log
if mount_fs "$m" "$log" "$B/examples/hello" -o auto_unmount; then
  unmount_fs "$m"; rc=$?
  for _ in $(seq 30); do pgrep -f -- "fusermount3 .*auto_unmount -- $m\$" > /dev/null || break; sleep 0.1; done
  # A fusermount3 first in PATH that refuses, as the real one says why it refuses.
  mkdir -p "$work/bin" "$m"
  printf '#!/bin/sh\necho "fusermount3: refused for the test" >&2\nexit 1\n' > "$work/bin/fusermount3"
  chmod +x "$work/bin/fusermount3"
  PATH="$work/bin:$PATH" "$B/examples/hello" -f -o auto_unmount "$m" > "$work/auto-no.out" 2>&1; rc2=$?
  if [ $rc -eq 0 ] && [ ! -s "$log" ] && [ $rc2 -eq 1 ] &&
     grep -q "^fusermount3: refused for the test" "$work/auto-no.out"; then
    pass "auto_unmount: nothing on stderr after an umount, the reason when refused"
  else
    fail "auto_unmount" "exit $rc, log: $(head -c 200 "$log"); refused: exit $rc2: $(head -c 300 "$work/auto-no.out")"
  fi
else
  fail "auto_unmount" "hello did not mount: $(head -3 "$log")"
fi

# SIGTERM while a READ is in service on the first loop for longer than 2 s, two loops on
# kernel queues: the extra loop waits for the first one to end the connection (it once
# gave up after 2 s, logging "operations still in flight ... abandoned"). A clean end:
# exit 0, no log.
name="SIGTERM with a 3 s READ in service, 2 loops on kernel queues: exit 0, nothing logged"
if [ "$(cat /sys/module/fuse/parameters/enable_uring 2>/dev/null)" != Y ] || [ "$(nproc)" -lt 2 ]; then
  skip "$name" "needs fuse enable_uring=Y and 2 CPUs"
elif [ ! -x "$B/tests/integration/slowfs" ]; then
  skip "$name" "slowfs not built"
else
  m=$work/slow log=$work/slow.log ev=$work/slow.events
  : > "$ev"
  if mount_fs "$m" "$log" "$B/tests/integration/slowfs" -o delay_ms=3000,threads=2,transport=uring,log="$ev"; then
    # From CPU 0: its READ is on queue 0, the first loop's, so the extra loop has to wait.
    taskset -c 0 dd if="$m/slow" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null &
    rd=$!
    for _ in $(seq 50); do grep -q read-start "$ev" && break; sleep 0.05; done
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; rc=$?; SERVER_PID=
    wait "$rd"
    if [ $rc -eq 0 ] && [ ! -s "$log" ] && ! grep -q " $m " /proc/mounts; then pass "$name"
    else fail "$name" "server exit $rc, log: $(head -c 300 "$log")"; fi
  else
    fail "$name" "slowfs did not mount"
  fi
fi

echo "observe: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
