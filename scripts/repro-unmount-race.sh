#!/usr/bin/env bash
# repro-unmount-race.sh - mount, read one file, unmount at once, N times; count the runs
# whose loop drain left a queue command un-ended and the runs whose server did not exit.
# Many loops starting while INIT arrives is where two threads once filled one ring's SQ
# (runtime/src/loop.c, rf__loop_reserve): a lost REGISTER, or a ring consuming stale
# entries forever. A server still alive 10 s after its unmount has its connection aborted
# through fusectl first (what frees what its ring holds; a killed server frees nothing),
# then its threads' stacks saved (gdb). Exits 1 if any run left a command or hung.
#   scripts/repro-unmount-race.sh [BUILD_DIR] [MODE] [N]
#   MODE: mt_loops (libfuse's hello_ll -o mt_loops), pool (hello_ll), native (examples/hello)
# Root; FUSE-over-io_uring on (/sys/module/fuse/parameters/enable_uring = Y).
set -u
B=${1:-build/asan}; MODE=${2:-mt_loops}; N=${3:-200}
cd "$(dirname "$0")/.."
case $MODE in
  mt_loops) cmd=("$B/fuse3/examples/hello_ll" -o mt_loops) ;;
  pool) cmd=("$B/fuse3/examples/hello_ll") ;;
  native) cmd=("$B/examples/hello") ;;
  *) echo "unknown mode $MODE (mt_loops, pool, native)" >&2; exit 2 ;;
esac
[ -x "${cmd[0]}" ] || { echo "${cmd[0]} not built (make SANITIZE=1 all)" >&2; exit 2; }
work=$(mktemp -d /tmp/ringfuse-unmount-race.XXXXXX); m=$work/m
left=0 hung=0
for i in $(seq "$N"); do
  mkdir -p "$m"; log=$work/server$i.log
  "${cmd[@]}" -f "$m" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q " $m fuse" /proc/mounts && break; sleep 0.05; done
  minor=$(mountpoint -d "$m" 2>/dev/null | cut -d: -f2)
  cat "$m/hello" > /dev/null
  umount "$m" 2>/dev/null || umount -l "$m"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    hung=$((hung + 1))
    echo "run $i: server $pid alive 10 s after the unmount; stacks in $log"
    [ -n "$minor" ] && echo 1 > "/sys/fs/fuse/connections/$minor/abort" 2>/dev/null
    timeout 30 gdb -batch -ex "thread apply all bt 25" -p "$pid" >> "$log" 2>&1 < /dev/null
    kill -KILL "$pid"
  fi
  wait "$pid" 2>/dev/null
  if grep -q "still in flight" "$log"; then left=$((left + 1))
  elif ! grep -q "Thread " "$log"; then rm -f "$log"; fi   # kept: what went wrong
done
echo "$MODE: $N runs; a queue command left un-ended: $left; server alive 10 s after its unmount: $hung"
if [ $left -eq 0 ] && [ $hung -eq 0 ]; then rm -rf "$work"; exit 0; fi
echo "server logs kept in $work"
exit 1
