#!/usr/bin/env bash
# teardown.sh - every way a server stops leaves nothing behind (docs/architecture.md §5, README "How a
# server stops"). Real mounts, as root, from build directory $1 (default build/asan).
#
# The backing filesystem is an ext4 image on a loop device, created here. For each
# transport (dev, uring) and loop thread count (1, 2), TEARDOWN_ITERS times (default 20)
# for each trigger:
#   examples/passthrough serves DIR on the ext4 (cache=auto and cache=never by turns),
#   loadgen keeps 4 files open, 2 of them mmapped, busy with reads, writes, O_DIRECT I/O
#   and mmap stores from 3 processes, then the server is stopped by
#     umount   by turns: "umount -l" under load (the server ends when the load lets go),
#              or the load stops and then "fusermount3 -u", or plain "umount";
#     sigterm  SIGTERM while the load runs;
#     abort    1 written to /sys/fs/fuse/connections/N/abort while the load runs
#              (fusectl is mounted there if it is not, and left mounted);
#   and then, the moment the server process has exited:
#     the ext4 unmounts (no EBUSY: nothing left for a delayed fput), the server exited 0
#     (passthrough exits 3 if an fd into the source was still open at exit), no
#     sanitizer report, no teardown trouble in the runtime's log (work abandoned to the
#     kernel, a command on a closed fd...), no FUSE mount left, no server process left.
# Then tests/integration/api_restart: TEARDOWN_API_CYCLES (default TEARDOWN_ITERS / 2, at
# least 10) mount/serve/rf_session_exit cycles in one process, the ext4 unmounted after
# each; and tests/integration/abortfs: an abort with backing reads blocked on a pipe and a
# READ parked behind a blocked WRITE (exit within grace_ms + 1 s, no leak, a release for
# every open and a forget for every lookup), TEARDOWN_ABORT_ITERS times per transport
# (default TEARDOWN_ITERS / 10, at least 2), loop threads 1 and 2 by turns.
#
# TEARDOWN_TRIGGERS and TEARDOWN_TRANSPORTS narrow the matrix ("sigterm abort", "dev").
# Prints "PASS  name (...)", "FAIL  name: why" and "SKIP  name: why" lines (each name
# without ": "), the details of the first failures, and ends with
# "teardown: N passed, N failed, N skipped"; exit status 0 only if nothing failed.
# Everything it mounts, attaches or starts is unmounted, detached or killed on exit.
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/../.."
ITERS=${TEARDOWN_ITERS:-20}
API_CYCLES=${TEARDOWN_API_CYCLES:-$(( ITERS / 2 > 10 ? ITERS / 2 : 10 ))}
ABORT_ITERS=${TEARDOWN_ABORT_ITERS:-$(( ITERS / 10 > 2 ? ITERS / 10 : 2 ))}
TRIGGERS=${TEARDOWN_TRIGGERS:-umount sigterm abort}
TRANSPORTS=${TEARDOWN_TRANSPORTS:-dev uring}
GRACE_MS=1000                       # abortfs: -o grace_ms
# Runtime log lines that mean a stop was not clean: work abandoned to the kernel (what a
# delayed fput is made of), a command on a closed fd, a handle never released...
TROUBLE='abandoned|gave up|command failed|refused|short write|BUG:|unmount of .* failed|close of backing fd'
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

PT=$B/examples/passthrough
LG=$B/tests/integration/loadgen
API=$B/tests/integration/api_restart
ABF=$B/tests/integration/abortfs

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $1: $2"; }
finish() {
  echo "teardown: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}

if [ "$(id -u)" -ne 0 ]; then skip "teardown tests" "need root (loop device, mount(2))"; finish; fi
if [ ! -c /dev/fuse ]; then skip "teardown tests" "no /dev/fuse"; finish; fi
for t in mkfs.ext4 losetup fusermount3 mountpoint; do
  command -v $t >/dev/null || { skip "teardown tests" "$t missing"; finish; }
done
for b in "$PT" "$LG" "$API" "$ABF"; do
  [ -x "$b" ] || { skip "teardown tests" "$b not built"; finish; }
done

work=$(mktemp -d /tmp/ringfuse-teardown.XXXXXX)
ext=$work/ext mnt=$work/mnt amnt=$work/abort
loopdev="" uring_param=/sys/module/fuse/parameters/enable_uring uring_old=""

cleanup() {
  local p m
  # Our children not reaped yet (loadgen's workers die with it: PR_SET_PDEATHSIG).
  for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  # Deepest first: FUSE mounts inside the work directory, then the ext4.
  for m in $(awk -v w="$work" 'index($2, w "/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
  if [ -n "$uring_old" ] && [ "$uring_old" != Y ]; then echo "$uring_old" > "$uring_param"; fi
  rm -rf "$work" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ----------------------------------------------------------------------------
now() { local t=${EPOCHREALTIME/[.,]/}; NOW=$((10#$t / 1000)); }   # ms, no fork
# wait_for MS CMD...: run CMD every 10 ms until it succeeds; status 1 if MS passed first.
wait_for() {
  local end; now; end=$((NOW + $1)); shift
  until "$@"; do
    now; [ "$NOW" -ge "$end" ] && return 1
    sleep 0.01
  done
}
fuse_mounted() { grep -q " $1 fuse" /proc/mounts; }
# The process has exited: gone, or a zombie whose threads have all exited (a zombie
# leader still lists threads that are on their way out, perhaps still closing files).
exited() {
  local s t
  { read -r s < "/proc/$1/stat"; } 2>/dev/null || return 0
  s=${s##*) }
  [ "${s:0:1}" = Z ] || return 1
  t=(/proc/"$1"/task/*)
  [ "${#t[@]}" -le 1 ]
}
has_line() { grep -q -- "$2" "$1" 2>/dev/null; }
sanitizer_reports() { grep -cE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"; }
# What a process is doing, for a hang report.
proc_state() {
  local t
  echo "    fds: $(ls -l "/proc/$1/fd" 2>/dev/null | grep -c -- '->') ($(ls -l "/proc/$1/fd" 2>/dev/null | grep -c -- "-> $ext/") on the ext4)"
  for t in /proc/"$1"/task/*; do
    echo "    thread ${t##*/} $(cat "$t/comm" 2>/dev/null): wchan $(cat "$t/wchan" 2>/dev/null)"
    sed 's/^/      /' "$t/stack" 2>/dev/null | head -12
  done
}
stop_proc() {        # SIGTERM, 10 s, then SIGKILL; reaps it
  [ -n "${1:-}" ] || return 0
  kill -TERM "$1" 2>/dev/null
  wait_for 10000 exited "$1" || { echo "    pid $1 ignored SIGTERM for 10 s: killed"; kill -KILL "$1"; }
  wait "$1" 2>/dev/null
}
# Unmount the ext4 right now. On failure, say who holds it and whether it frees itself
# later (the signature of a delayed fput) before detaching it.
umount_ext4() {
  local err t0
  err=$(umount "$ext" 2>&1) && return 0
  now; t0=$NOW
  echo "    umount of the ext4 failed: $err"
  echo "    holders: $(fuser -vm "$ext" 2>&1 | tr '\n' ' ')"
  ls -l /proc/[0-9]*/fd 2>/dev/null | grep -- "-> $ext/" | head -5 | sed 's/^/      /'
  dmesg 2>/dev/null | tail -5 | sed 's/^/    dmesg: /'
  if wait_for 5000 umount "$ext" 2>/dev/null; then
    now; echo "    ... the ext4 unmounted $((NOW - t0)) ms later (something let go after the server exited)"
  else
    echo "    ... still busy after 5 s: detached"; umount -l "$ext"
  fi
  return 1
}

# ---- the backing ext4 ----------------------------------------------------------------------
mkdir -p "$ext" "$mnt" "$amnt" "$work/api"
if ! truncate -s 256M "$work/ext4.img" || ! mkfs.ext4 -q -F "$work/ext4.img" ||
   ! loopdev=$(losetup -f --show "$work/ext4.img") || ! mount "$loopdev" "$ext"; then
  fail "teardown setup" "cannot create and mount the ext4 image"; finish
fi
mkdir -p "$ext/src"
for f in 0 1 2 3; do head -c 1048576 /dev/urandom > "$ext/src/lg.$f"; done
umount "$ext" || { fail "teardown setup" "the fresh ext4 does not unmount"; finish; }

# FUSE-over-io_uring needs the module parameter (left as found at exit).
uring_why=""
if [ ! -e "$uring_param" ]; then
  uring_why="no FUSE-over-io_uring in this kernel ($uring_param missing)"
else
  uring_old=$(cat "$uring_param")
  [ "$uring_old" = Y ] || echo Y > "$uring_param" 2>/dev/null
  [ "$(cat "$uring_param")" = Y ] || uring_why="fuse enable_uring is N and cannot be set"
fi

# The abort trigger writes to fusectl.
fusectl_why=""
if ! mountpoint -q /sys/fs/fuse/connections; then
  mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null ||
    fusectl_why="fusectl is not mounted and cannot be"
fi

# ---- one stop of the passthrough under load ---------------------------------------------------
# iter TRANSPORT THREADS TRIGGER I: sets WHY (empty: clean), STOP_MS, FDS, VARIANT.
# Status 2: the kernel did not grant io_uring queues (skip).
iter() {
  local tr=$1 thr=$2 trig=$3 i=$4 cache srv lg="" conn="" t0 src n p tag want
  cache=$([ $((i % 2)) -eq 0 ] && echo auto || echo never)
  tag=$work/$tr-$thr-$trig-$i
  WHY="" STOP_MS=0 FDS=0 VARIANT=$trig
  mountpoint -q "$ext" || mount "$loopdev" "$ext" || { WHY="cannot mount the ext4"; return 1; }

  "$PT" -f -o "source=$ext/src,cache=$cache,threads=$thr,transport=$tr,log_level=info" "$mnt" > "$tag.srv" 2>&1 &
  srv=$!
  if ! wait_for 10000 fuse_mounted "$mnt"; then
    WHY="the server did not mount"; tail -5 "$tag.srv" | sed 's/^/    /'
    stop_proc "$srv"; return 1
  fi
  [ "$trig" = abort ] && conn=$(mountpoint -d "$mnt") && conn=${conn#*:}
  "$LG" -n 4 -s 1048576 -p 3 "$mnt" > "$tag.lg" 2>&1 &
  lg=$!
  if ! wait_for 10000 has_line "$tag.lg" ready; then
    WHY="loadgen did not get going: $(tail -1 "$tag.lg")"
    stop_proc "$lg"; stop_proc "$srv"; fuse_mounted "$mnt" && umount -l "$mnt"; return 1
  fi
  if [ "$tr" = uring ] && ! has_line "$tag.srv" "transport: FUSE-over-io_uring"; then
    WHY=$(grep -m1 transport "$tag.srv")
    stop_proc "$lg"; stop_proc "$srv"; fuse_mounted "$mnt" && umount -l "$mnt"; return 2
  fi
  sleep "0.0$((RANDOM % 10))"                  # 0-90 ms more of the load
  FDS=$(ls -l "/proc/$srv/fd" 2>/dev/null | grep -c -- "-> $ext/")

  case $trig in
    sigterm) now; t0=$NOW; kill -TERM "$srv" ;;
    abort)   now; t0=$NOW; echo 1 > "/sys/fs/fuse/connections/$conn/abort" ;;
    umount)
      case $((i % 3)) in
        0) VARIANT="umount -l under load"
           umount -l "$mnt"; stop_proc "$lg"; lg=""
           now; t0=$NOW ;;                       # the connection ends with the last file
        1) VARIANT="fusermount3 -u"
           stop_proc "$lg"; lg=""; now; t0=$NOW
           fusermount3 -u "$mnt" || WHY="fusermount3 -u failed" ;;
        2) VARIANT="umount"
           stop_proc "$lg"; lg=""; now; t0=$NOW
           umount "$mnt" || WHY="umount failed" ;;
      esac ;;
  esac

  if ! wait_for 10000 exited "$srv"; then
    WHY="the server did not exit within 10 s ($VARIANT)"
    proc_state "$srv"; kill -KILL "$srv"; wait "$srv" 2>/dev/null
    stop_proc "$lg"; fuse_mounted "$mnt" && umount -l "$mnt"; umount_ext4
    return 1
  fi
  wait "$srv"; src=$?
  now; STOP_MS=$((NOW - t0))
  # The moment it is gone (the load, if any, still holds its files on the dead mount):
  umount_ext4 || WHY="${WHY:+$WHY; }the ext4 was busy after the server exited ($VARIANT)"
  # An abort cuts the file system off: the server says so with status 1 (as rf_main).
  want=0; [ "$trig" = abort ] && want=1
  if [ "$src" -ne "$want" ]; then
    WHY="${WHY:+$WHY; }server exit status $src (expected $want)"
    grep -m5 -E "still open|ERROR|error" "$tag.srv" | sed 's/^/    /'
  fi
  n=$(sanitizer_reports "$tag.srv")
  if [ "$n" -ne 0 ]; then
    WHY="${WHY:+$WHY; }$n sanitizer report(s)"
    grep -m1 -A20 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$tag.srv" | sed 's/^/    /'
  fi
  # Requests on the ext4 take milliseconds: none may need the 5 s grace period.
  n=$(grep -cE "$TROUBLE|still in service" "$tag.srv")
  [ "$n" -eq 0 ] || WHY="${WHY:+$WHY; }the runtime logged $n teardown problem(s): $(grep -m1 -E "$TROUBLE|still in service" "$tag.srv")"
  if fuse_mounted "$mnt"; then
    WHY="${WHY:+$WHY; }a FUSE mount was left at $mnt"; umount -l "$mnt"
  fi
  # Only servers of this run name this run's private source directory.
  n=$(pgrep -f -- "source=$ext/src")
  if [ -n "$n" ]; then
    WHY="${WHY:+$WHY; }a server process was left: $(pgrep -af -- "source=$ext/src" | head -1)"
    for p in $n; do kill -KILL "$p"; done
  fi
  stop_proc "$lg"
  [ -z "$WHY" ] || { echo "    server log:"; tail -8 "$tag.srv" | sed 's/^/      /'; return 1; }
  rm -f "$tag.srv" "$tag.lg"
  return 0
}

echo "== teardown: passthrough on a loop-mounted ext4 under load, $ITERS stops per trigger =="
uring_refused=""
for tr in $TRANSPORTS; do
  for thr in 1 2; do
    for trig in $TRIGGERS; do
      name="teardown passthrough transport=$tr threads=$thr, stop by $trig x$ITERS"
      if [ "$tr" = uring ] && [ -n "$uring_why$uring_refused" ]; then skip "$name" "$uring_why$uring_refused"; continue; fi
      if [ "$trig" = abort ] && [ -n "$fusectl_why" ]; then skip "$name" "$fusectl_why"; continue; fi
      ok=0 bad=0 max=0 sum=0 fds=0 start=$SECONDS refused=0
      for ((i = 0; i < ITERS; i++)); do
        iter "$tr" "$thr" "$trig" "$i" > "$work/iter.out" 2>&1; rc=$?
        if [ "$rc" -eq 2 ]; then
          refused=1; uring_refused="the kernel did not grant io_uring queues ($WHY)"; break
        elif [ "$rc" -eq 0 ]; then
          ok=$((ok + 1)); sum=$((sum + STOP_MS)); fds=$((fds + FDS))
          [ "$STOP_MS" -gt "$max" ] && max=$STOP_MS
        else
          bad=$((bad + 1))
          if [ "$bad" -le 3 ]; then        # the first failures in full
            echo "  iteration $i ($tr, threads=$thr, $VARIANT): $WHY"
            cat "$work/iter.out"
          fi
        fi
      done
      if [ "$refused" -eq 1 ]; then skip "$name" "$uring_refused"; continue; fi
      if [ "$bad" -eq 0 ]; then
        pass "$name ($ok/$ITERS clean; stop to exit avg $((sum / ITERS)) ms, max $max ms; avg $((fds / ITERS)) backing fds open at the stop; $((SECONDS - start)) s)"
      else
        fail "$name" "$bad of $ITERS stops left something behind (details above)"
      fi
    done
  done
done

echo "== teardown: stop and mount again in one process (API), $API_CYCLES cycles =="
name="teardown API restart in one process (rf_session_exit from another thread) x$API_CYCLES"
mountpoint -q "$ext" || mount "$loopdev" "$ext"
api_args=(-n "$API_CYCLES" -l "$LG")
[ -z "$uring_why$uring_refused" ] && [[ " $TRANSPORTS " == *" uring "* ]] && api_args+=(-u)
start=$SECONDS
"$API" "${api_args[@]}" "$loopdev" "$ext" "$work/api" > "$work/api.out" 2>&1; rc=$?
n=$(sanitizer_reports "$work/api.out")
trouble=$(grep -cE "$TROUBLE" "$work/api.out")
grep -E "^cycle|^  " "$work/api.out" | sed 's/^/    /'
grep -m3 -E "$TROUBLE" "$work/api.out" | sed 's/^/    /'
if [ "$rc" -eq 0 ] && [ "$n" -eq 0 ] && [ "$trouble" -eq 0 ]; then
  pass "$name ($(tail -1 "$work/api.out" | sed 's/^api_restart: //'), $((SECONDS - start)) s)"
else
  grep -m1 -A20 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$work/api.out" | sed 's/^/    /'
  fail "$name" "exit $rc, $n sanitizer report(s), $trouble teardown problem(s) logged: $(tail -1 "$work/api.out")"
fi
fuse_mounted "$work/api" && umount -l "$work/api"

echo "== teardown: abort with backing reads blocked and a READ parked, $ABORT_ITERS per transport =="
# abort_iter TRANSPORT THREADS I: sets WHY and STOP_MS.
abort_iter() {
  local tr=$1 thr=$2 i=$3 srv cli conn t0 src n line tag=$work/abort-$1-$2-$3
  WHY="" STOP_MS=0
  "$ABF" -d -f -o "log=$tag.log,grace_ms=$GRACE_MS,transport=$tr,threads=$thr" "$amnt" > "$tag.srv" 2>&1 &
  srv=$!
  if ! wait_for 10000 fuse_mounted "$amnt"; then
    WHY="abortfs did not mount"; stop_proc "$srv"; return 1
  fi
  conn=$(mountpoint -d "$amnt"); conn=${conn#*:}
  "$ABF" client "$amnt" "$tag.log" > "$tag.cli" 2>&1 &
  cli=$!
  if ! wait_for 10000 has_line "$tag.cli" "client: ready" ||
     ! wait_for 5000 has_line "$tag.srv" "parked behind"; then
    WHY="the client's requests did not get stuck as planned: $(tail -1 "$tag.cli")"
    echo 1 > "/sys/fs/fuse/connections/$conn/abort"; stop_proc "$cli"; stop_proc "$srv"
    fuse_mounted "$amnt" && umount -l "$amnt"; return 1
  fi
  if [ "$tr" = uring ] && ! has_line "$tag.srv" "transport: FUSE-over-io_uring"; then
    WHY="not on io_uring: $(grep -m1 transport "$tag.srv")"
  fi
  now; t0=$NOW
  echo 1 > "/sys/fs/fuse/connections/$conn/abort"
  if ! wait_for 10000 exited "$srv"; then
    WHY="abortfs did not exit within 10 s of the abort"
    proc_state "$srv"; kill -KILL "$srv"; wait "$srv" 2>/dev/null
    stop_proc "$cli"; fuse_mounted "$amnt" && umount -l "$amnt"; return 1
  fi
  wait "$srv"; src=$?
  now; STOP_MS=$((NOW - t0))
  [ "$STOP_MS" -le $((GRACE_MS + 1000)) ] ||
    WHY="${WHY:+$WHY; }exit took $STOP_MS ms after the abort (grace_ms $GRACE_MS + 1 s allowed)"
  [ "$src" -eq 0 ] || WHY="${WHY:+$WHY; }exit status $src"
  has_line "$tag.srv" "abortfs: rf_session_run: connection aborted" ||
    WHY="${WHY:+$WHY; }rf_session_run did not return -ECONNABORTED"
  n=$(sanitizer_reports "$tag.srv")
  if [ "$n" -ne 0 ]; then
    WHY="${WHY:+$WHY; }$n sanitizer report(s)"
    grep -m1 -A20 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$tag.srv" | sed 's/^/    /'
  fi
  n=$(grep -cE "$TROUBLE" "$tag.srv")
  [ "$n" -eq 0 ] || WHY="${WHY:+$WHY; }the runtime logged $n teardown problem(s): $(grep -m1 -E "$TROUBLE" "$tag.srv")"
  line=$(grep -m1 "^abortfs: opens" "$tag.srv")
  if [[ $line =~ opens\ ([0-9]+)\ releases\ ([0-9]+)\ lookups\ ([0-9]+)\ forgets\ ([0-9]+)\ bad\ ([0-9]+) ]]; then
    local o=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]} l=${BASH_REMATCH[3]} f=${BASH_REMATCH[4]} b=${BASH_REMATCH[5]}
    [ "$o" -ge 3 ] && [ "$o" -eq "$r" ] && [ "$l" -ge 3 ] && [ "$l" -eq "$f" ] && [ "$b" -eq 0 ] ||
      WHY="${WHY:+$WHY; }$line"
  else
    WHY="${WHY:+$WHY; }no counts printed at exit"
  fi
  has_line "$tag.log" "read-done -125" && has_line "$tag.log" "write-done -125" ||
    WHY="${WHY:+$WHY; }the blocked backing read and write were not cancelled (-ECANCELED)"
  wait_for 5000 exited "$cli" || WHY="${WHY:+$WHY; }the client was still blocked 5 s after the abort"
  stop_proc "$cli"
  if fuse_mounted "$amnt"; then WHY="${WHY:+$WHY; }a FUSE mount was left"; umount -l "$amnt"; fi
  if [ -n "$WHY" ]; then
    echo "    server log:"; grep -v "^ringfuse: [<-]" "$tag.srv" | tail -12 | sed 's/^/      /'
    echo "    fs events:"; tail -12 "$tag.log" | sed 's/^/      /'
    echo "    client:"; sed 's/^/      /' "$tag.cli"
    return 1
  fi
  rm -f "$tag".*
  return 0
}

for tr in $TRANSPORTS; do
  name="teardown abort with stuck and parked requests, transport=$tr, grace_ms=$GRACE_MS x$ABORT_ITERS"
  if [ "$tr" = uring ] && [ -n "$uring_why$uring_refused" ]; then skip "$name" "$uring_why$uring_refused"; continue; fi
  if [ -n "$fusectl_why" ]; then skip "$name" "$fusectl_why"; continue; fi
  ok=0 bad=0 max=0 start=$SECONDS
  for ((i = 0; i < ABORT_ITERS; i++)); do
    thr=$((1 + i % 2))
    abort_iter "$tr" "$thr" "$i" > "$work/iter.out" 2>&1; rc=$?
    if [ "$rc" -eq 0 ]; then
      ok=$((ok + 1)); [ "$STOP_MS" -gt "$max" ] && max=$STOP_MS
    else
      bad=$((bad + 1))
      echo "  iteration $i (threads=$thr): $WHY"
      cat "$work/iter.out"
    fi
  done
  if [ "$bad" -eq 0 ]; then
    pass "$name ($ok/$ABORT_ITERS clean, threads 1 and 2; exit at most $max ms after the abort; releases = opens, forgets = lookups; $((SECONDS - start)) s)"
  else
    fail "$name" "$bad of $ABORT_ITERS aborts failed (details above)"
  fi
done

finish
