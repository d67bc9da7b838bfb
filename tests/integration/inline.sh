#!/usr/bin/env bash
# inline.sh - where the passthrough's backing calls run (-o inline=auto|always|never,
# ringfuse.h "Where the call runs"), on real mounts from build directory $1 (default
# build/asan):
#   slow source: the passthrough's SOURCE is a FUSE mount (slowfs) whose READ of `slow`
#     takes DELAY ms. While such a read is in flight through the passthrough, a stat of
#     `fast` through it must complete (slowfs's log has no read-done yet when stat
#     returns): with inline=auto the FUSE source is served on the ring, so the loop never
#     waits for it. With inline=always the read is done on the loop thread and the stat
#     waits behind it: that case checks the opposite, so the test can tell the difference.
#   tmpfs source: create, stat, rename, unlink, mkdir, rmdir, read and write under each
#     mode; the statistics (SIGUSR1) show where the calls ran: auto and always in place
#     (backing.inline > 0, backing.ring 0), never on the ring (backing.inline 0).
#   FLUSH: a close(2) through the passthrough sends the kernel's FLUSH only where the
#     source has something to flush (rf_backing_flush_needed) or the open was O_RDWR (a
#     shared mmap's dirty pages are written back at close): on tmpfs with auto and always
#     only the one O_RDWR close sends it, with never every close, and on the FUSE source.
# Prints "PASS  name" / "FAIL  name: why" / "SKIP  name: why" lines, ends with
# "inline: N passed, N failed"; exit 0 only if nothing failed. Everything it mounts or
# starts is gone on exit.
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/../.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
DELAY=${INLINE_DELAY_MS:-3000}

work=$(mktemp -d /tmp/ringfuse-inline.XXXXXX)
. tests/integration/lib.sh

for b in examples/passthrough tests/integration/slowfs; do
  [ -x "$B/$b" ] || { echo "FAIL  inline: $B/$b not built"; exit 1; }
done

# ---- a slow FUSE source ---------------------------------------------------------------------
# One loop (threads=1): with one per kernel queue, a stat sent from the other CPU goes to
# the other loop, and inline=always would show no stall whenever the two ran apart.
slow_case() {
  local mode=$1 src=$work/slowsrc-$1 pt=$work/pt-slow-$1 slog=$work/slowfs-$1.events
  local name="inline=$mode, source a slow FUSE mount" spid ppid rpid t0 t1 done_at_stat
  : > "$slog"
  if ! mount_fs "$src" "$work/slowfs-$mode.log" "$B/tests/integration/slowfs" \
         -o "delay_ms=$DELAY,log=$slog"; then
    fail "$name" "slowfs did not mount: $(tail -3 "$work/slowfs-$mode.log")"; return
  fi
  spid=$SERVER_PID
  if ! mount_fs "$pt" "$work/pt-slow-$mode.log" "$B/examples/passthrough" \
         -o "source=$src,cache=never,inline=$mode,threads=1"; then
    fail "$name" "passthrough did not mount: $(tail -3 "$work/pt-slow-$mode.log")"
    unmount_fs "$src" "$spid"; return
  fi
  ppid=$SERVER_PID
  stat "$pt/fast" > /dev/null || { fail "$name" "stat fast before the read"; }
  dd if="$pt/slow" of=/dev/null bs=4k count=1 2> /dev/null &
  rpid=$!
  for _ in $(seq 100); do grep -q '^read-start' "$slog" && break; sleep 0.05; done
  if ! grep -q '^read-start' "$slog"; then
    fail "$name" "the slow READ never reached slowfs"
  else
    t0=$(date +%s%N)
    timeout $((DELAY / 1000 + 10)) stat "$pt/fast" > /dev/null
    t1=$(date +%s%N)
    # Was the slow READ still in flight when the stat came back?
    if grep -q '^read-done' "$slog"; then done_at_stat=1; else done_at_stat=0; fi
    wait "$rpid"
    case "$mode" in
    auto|never)
      if [ "$done_at_stat" = 0 ]; then
        pass "$name: stat of another file done in $(((t1 - t0) / 1000000)) ms while a $DELAY ms read is in flight"
      else
        fail "$name" "the stat waited for the slow read ($(((t1 - t0) / 1000000)) ms)"
      fi ;;
    always)
      # The loop thread itself waits in pread: the stat can only come after the read.
      if [ "$done_at_stat" = 1 ]; then
        pass "$name: the loop waits (stat after $(((t1 - t0) / 1000000)) ms, behind the read): the test sees a stall"
      else
        fail "$name" "the stat did not wait for a read done on the loop thread"
      fi ;;
    esac
  fi
  if [ "$mode" = auto ]; then
    json=$(server_stats "$work/pt-slow-$mode.log" "$ppid")
    if python3 -c "import json,sys; s=json.loads(sys.argv[1])['backing']; sys.exit(s['inline'] != 0 or s['ring'] == 0)" "$json" 2>/dev/null; then
      pass "$name: no backing call in place on a FUSE source ($json)"
    else
      fail "$name" "backing calls in place on a FUSE source: $json"
    fi
    # The read of `slow` opened and closed it once: a FUSE source has a flush method.
    if python3 -c "import json,sys; sys.exit(json.loads(sys.argv[1])['requests'].get('FLUSH', 0) < 1)" "$json" 2>/dev/null; then
      pass "$name: close(2) sends FLUSH on a FUSE source"
    else
      fail "$name" "no FLUSH for a close on a FUSE source: $json"
    fi
  fi
  unmount_fs "$pt" "$ppid" || fail "$name" "passthrough exit $?"
  unmount_fs "$src" "$spid" || fail "$name" "slowfs exit $?"
}

for mode in auto always never; do slow_case "$mode"; done

# ---- a tmpfs source, every mode -------------------------------------------------------------
tsrc=$work/tmpfs
mkdir -p "$tsrc" && mount -t tmpfs -o size=64m tmpfs "$tsrc" && mounts+=("$tsrc")
for mode in auto always never; do
  name="inline=$mode, tmpfs source"
  rm -rf "${tsrc:?}"/*
  m=$work/pt-tmpfs-$mode log=$work/pt-tmpfs-$mode.log
  if ! mount_fs "$m" "$log" "$B/examples/passthrough" -o "source=$tsrc,cache=never,timeout=0,inline=$mode"; then
    fail "$name" "did not mount: $(tail -3 "$log")"; continue
  fi
  ok=1 why=""
  {
    # one O_RDWR open (it may map the file writable: its close keeps FLUSH)
    : > "$m/rw" && python3 -c "import os, sys; os.close(os.open(sys.argv[1], os.O_RDWR))" \
      "$m/rw" && rm "$m/rw" || exit 1
    for i in $(seq 50); do echo "data $i" > "$m/f$i"; done
    for i in $(seq 50); do [ "$(cat "$m/f$i")" = "data $i" ] || exit 1; done
    mkdir "$m/d" && mv "$m/f1" "$m/d/g" && [ -f "$tsrc/d/g" ] && ln "$m/d/g" "$m/h" &&
      ln -s f2 "$m/s" && [ "$(cat "$m/s")" = "data 2" ] && rm "$m/h" "$m/d/g" "$m/s" && rmdir "$m/d" &&
      for i in $(seq 2 50); do rm "$m/f$i"; done &&
      [ -z "$(ls -A "$tsrc")" ] && ! stat "$m/f2" 2> /dev/null
  } || { ok=0; why="file operations failed"; }
  json=$(server_stats "$log" "$SERVER_PID")
  if [ "$ok" = 1 ]; then
    if out=$(python3 - "$json" "$mode" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); mode = sys.argv[2]; b = s["backing"]
flush = s["requests"].get("FLUSH", 0)
def check(ok, why):
    if not ok:
        print(why)
        sys.exit(1)
if mode == "never":
    check(b["inline"] == 0 and b["ring"] > 0, f"never: {b}")
    # 50 files written, 50 read back, one cat through the symlink: a FLUSH per close
    check(flush >= 101, f"never: {flush} FLUSH for at least 101 closes")
else:
    check(b["inline"] > 0 and b["ring"] == 0, f"{mode}: {b}")
    check(flush == 1, f"{mode}: {flush} FLUSH on a tmpfs source, where only the O_RDWR "
          "close should send one (FOPEN_NOFLUSH on the others)")
check(s["loop_enters"] > 0 and s["loop_sqes"] > 0, "loop counters")
print(f"backing {b}, {flush} FLUSH, {s['loop_enters']} enters, {s['loop_sqes']} SQEs")
PY
    ); then
      pass "$name: $out"
    else
      fail "$name" "$out"
    fi
  else
    fail "$name" "$why"
  fi
  unmount_fs "$m" || fail "$name" "server exit $?"
done

echo "inline: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
