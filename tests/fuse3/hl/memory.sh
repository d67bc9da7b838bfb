#!/usr/bin/env bash
# memory.sh - the high-level path layer gives its memory back once the kernel forgets
# (issue 15), from build directory $1 (default build/gcc: under ASan its quarantine keeps
# freed memory resident), slow: `make test-hl-mem`.
#
# passthrough.c (multi-threaded) over a private tmpfs holding a tree of HL_MEM_FILES
# (200,000) empty files, 1,000 to a directory (mktree, written to the tmpfs directly).
# Warm-up: `find` over a 2,000-file tree through the mount, then drop_caches, so that the
# worker threads and their malloc arenas exist before the baseline. Then:
#   RSS before; `find` stats every file through the mount (one node per file); RSS and
#   the node count after the walk; `echo 3 > /proc/sys/vm/drop_caches` (the kernel
#   forgets every inode it is not using); after the FORGETs: RSS (the lowest of 10 s of
#   samples), and the node count
#   from the statistics the server logs on SIGUSR1 (a "nodes" field).
# PASS when the node count is 1 (the root alone) and RSS after <= 1.10 x RSS before;
# every figure is printed. HL_MEM_LIBS (default "source dropin"; libfuse3 gives the
# reference RSS figures only: Debian's libfuse3 dies of SIGUSR1 and reports no nodes).
set -uo pipefail
B=${1:-build/gcc}
cd "$(dirname "$0")/../../.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
HL_MEM_LIBS=${HL_MEM_LIBS:-source dropin}
HL_MEM_FILES=${HL_MEM_FILES:-200000}
f3=$B/fuse3 hl=$B/tests/fuse3/hl

work=$(mktemp -d /tmp/ringfuse-hlmem.XXXXXX)
. tests/integration/lib.sh
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; sleep 2; echo 3 > /proc/sys/vm/drop_caches; sleep 2; }
# nodes PID LOG: the "nodes" figure of the statistics line the server logs on SIGUSR1.
nodes() {
  server_stats "$2" "$1" | grep -o '"nodes": *[0-9]*' | grep -o '[0-9]*$' ||
    echo "no \"nodes\" in the statistics it logged on SIGUSR1"
}

if [ "$(id -u)" -ne 0 ]; then skip "hl memory" "needs root (drop_caches)"; exit 0; fi
src=$work/src
mkdir -p "$src" && mount -t tmpfs -o size=1g,nr_inodes=1000000 tmpfs "$src" && mounts+=("$src") ||
  { fail "hl memory" "no tmpfs"; exit 1; }
mkdir "$src/warm" "$src/tree"
"$hl/mktree" "$src/warm" 2000 && "$hl/mktree" "$src/tree" "$HL_MEM_FILES" ||
  { fail "hl memory" "mktree failed"; exit 1; }

for lib in $HL_MEM_LIBS; do
  name="hl memory ($lib): $HL_MEM_FILES files walked, drop_caches: the root node alone, RSS within 10%"
  env=(env)
  case $lib in
    source) bin=$f3/examples/passthrough ;;
    dropin) bin=$f3/peer/passthrough; env+=("LD_LIBRARY_PATH=$PWD/$f3") ;;
    libfuse3) bin=$f3/peer/passthrough ;;
    *) fail "HL_MEM_LIBS" "unknown '$lib'"; continue ;;
  esac
  [ -x "$bin" ] || { skip "$name" "$bin not built"; continue; }
  if [ $lib = dropin ] && ! nm -D --defined-only "$f3/libfuse3.so.3" | grep -q " fuse_main_real@"; then
    skip "$name" "the binding's libfuse3.so.3 has no fuse_main_real"; continue
  fi
  m=$work/m-$lib log=$work/$lib.log
  mkdir -p "$m"
  if ! mount_fs "$m" "$log" "${env[@]}" "$bin"; then fail "$name" "did not mount"; continue; fi
  pid=$SERVER_PID
  find "$m$src/warm" -size +1G; drop
  r0=$(rss $pid) t0=$SECONDS
  n=$(find "$m$src/tree" -size +1G -o -type f -printf x | wc -c)
  walk=$((SECONDS - t0)) r1=$(rss $pid)
  drop
  # The binding trims malloc's arenas off the request path once the forgets are over:
  # RSS is sampled for 10 s more, the lowest figure counts.
  r2=$(rss $pid)
  for _ in $(seq 10); do sleep 1; r=$(rss $pid); [ "$r" -lt "$r2" ] && r2=$r; done
  if [ $lib = libfuse3 ]; then nd="(libfuse3: no node count)"; else nd=$(nodes $pid "$log"); fi
  unmount_fs "$m"; st=$?
  pct=$(( (r2 - r0) * 100 / r0 ))
  figs="$n files stat'ed in $walk s; RSS $r0 kB before, $r1 kB after the walk, $r2 kB after drop_caches (${pct}%); nodes after: $nd; server exit $st"
  if [ $lib = libfuse3 ]; then skip "$name" "reference figures only: $figs"
  elif [ "$nd" = 1 ] && [ "$r2" -le $((r0 * 110 / 100)) ] && [ "$n" -eq "$HL_MEM_FILES" ] && [ $st -eq 0 ]; then
    pass "$name ($figs)"
  else fail "$name" "$figs"; tail -5 "$log"; fi
done
echo "hl memory: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
