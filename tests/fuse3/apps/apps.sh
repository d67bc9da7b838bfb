#!/usr/bin/env bash
# apps.sh - programs Debian ships linked with libfuse3, run unchanged on the binding's
# libfuse3.so.3 (LD_LIBRARY_PATH), from build directory $1 (default build/asan):
#
#   squashfuse      (low level) a squashfs image of a tree: the tree reads back the same
#   fuse-overlayfs  (low level, its own loop) a lower and an upper directory: writes,
#                   appends, deletions, renames, links land in the upper one as overlayfs does
#   sshfs           (high level, multi-threaded) over OpenSSH's sftp-server on a pipe (no
#                   network, no sshd): a tree reads back the same, a 20 MiB file round-trips,
#                   rename, unlink, mkdir; daemonized, it exits after its unmount
#   pyfuse3         Python's binding, which drives the session from its own trio loop
#                   (fuse_session_receive_buf/process_buf): pyfuse3_memfs.py here; a READ
#                   that overlaps a WRITE in service waits for it (the ordering chains) and
#                   still reaches the filesystem inside fuse_session_process_buf, as pyfuse3
#                   needs, woken by the runtime while trio waits for the fd; a walk and
#                   drop_caches give it its forgets; no pyfuse3 error, a clean exit; a
#                   lazy unmount under a reader killed in a READ: no release reaches it
#                   after its loop, no pyfuse3 error, a prompt exit
#
# Each case checks that the server mapped the binding's libfuse3.so.3 and no other; a case
# whose Debian package is missing is skipped with its name (scripts/deps.sh test installs
# them). Prints "PASS  name" / "FAIL  name: why" / "SKIP  name: why" lines, then
# "apps: N passed, N failed, N skipped"; exit 0 only if nothing failed.
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/../../.."
f3=$(cd "$B/fuse3" 2>/dev/null && pwd -P) || f3=$PWD/$B/fuse3
here=$PWD/tests/fuse3/apps
work=$(mktemp -d /tmp/ringfuse-apps.XXXXXX)
. tests/integration/lib.sh

# The programs are not ours: their own leaks are not looked for. An instrumented binding
# needs the sanitizer's runtime loaded first.
asan=$(ldd "$f3/libfuse3.so.3" 2>/dev/null | awk '/libasan/ {print $3}')
run_env=(env "LD_LIBRARY_PATH=$f3" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0"
	 ${asan:+"LD_PRELOAD=$asan"})

# dropin_problem: empty if the server (SERVER_PID) maps the binding's libfuse3.so.3 alone.
dropin_problem() {
  local maps=/proc/$SERVER_PID/maps
  if ! grep -q "$f3/libfuse3.so.3" "$maps" 2>/dev/null ||
     grep -qE " /(usr/)?lib/.*libfuse3\.so" "$maps"; then
    echo "libfuse3 mapped is not the binding's: $(grep -o '/[^ ]*libfuse3[^ ]*' "$maps" 2>/dev/null | sort -u | tr '\n' ' ')"
  fi
}

# finish NAME MNT WHY: unmount, wait for the server, and pass or fail NAME.
finish() {
  local name=$1 mnt=$2 why=$3 st
  unmount_fs "$mnt"; st=$?
  [ "$st" -ne 0 ] && why="${why:+$why; }server exit $st"
  if grep -qE "ERROR: AddressSanitizer|runtime error:" "$SERVER_LOG"; then
    why="${why:+$why; }sanitizer report"
    grep -m1 -A20 -E "ERROR: AddressSanitizer|runtime error:" "$SERVER_LOG"
  fi
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; tail -15 "$SERVER_LOG"; fi
}

# bounded_on MNT SECS CMD...: run CMD, at most SECS seconds. A process waiting for a request
# its server never answers cannot be killed (the kernel waits for the answer once the
# server has read the request): past SECS the connection is aborted, which ends the wait.
# Returns CMD's status, or 124 after an abort.
bounded_on() {
  local mnt=$1 secs=$2 pid i; shift 2
  "$@" & pid=$!
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; return; }
    sleep 0.1
  done
  echo 1 > "/sys/fs/fuse/connections/$(stat -c %d "$mnt")/abort" 2>/dev/null
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  return 124
}

# A tree of files of every size up to 64 KiB, a subdirectory, a symlink.
make_tree() {
  local d=$1 i
  mkdir -p "$d/sub/deeper"
  for i in $(seq 1 40); do head -c $((i * 1637)) /dev/urandom > "$d/f$i"; done
  echo hello > "$d/sub/deeper/g"
  ln -s sub/deeper/g "$d/link"
}

[ -e "$f3/libfuse3.so.3" ] || { skip "apps" "$f3/libfuse3.so.3 not built"; exit 0; }

# ---- squashfuse ------------------------------------------------------------------------
name="squashfuse on the binding's libfuse3.so.3: a squashfs image reads back as its tree"
if ! command -v squashfuse >/dev/null || ! command -v mksquashfs >/dev/null; then
  skip "$name" "squashfuse or mksquashfs not installed (scripts/deps.sh test)"
else
  make_tree "$work/sq-src"
  mksquashfs "$work/sq-src" "$work/img.sqfs" -quiet -noappend > /dev/null
  m=$work/sq
  if mount_fs "$m" "$work/sq.log" "${run_env[@]}" squashfuse "$work/img.sqfs"; then
    why=$(dropin_problem)
    diff -r "$work/sq-src" "$m" > "$work/sq.diff" 2>&1 || why="${why:+$why; }tree differs: $(head -c 200 "$work/sq.diff")"
    [ "$(cat "$m/link" 2>&1)" = hello ] || why="${why:+$why; }symlink not followed"
    finish "$name" "$m" "$why"
  else
    fail "$name" "did not mount"
  fi
fi

# ---- fuse-overlayfs --------------------------------------------------------------------
name="fuse-overlayfs on the binding's libfuse3.so.3: copy-up, whiteouts, renames in the upper directory"
if ! command -v fuse-overlayfs >/dev/null; then
  skip "$name" "fuse-overlayfs not installed (scripts/deps.sh test)"
else
  o=$work/ov; mkdir -p "$o/up" "$o/wk"; make_tree "$o/lo"
  m=$o/m
  if mount_fs "$m" "$work/ov.log" "${run_env[@]}" fuse-overlayfs \
       -o "lowerdir=$o/lo,upperdir=$o/up,workdir=$o/wk"; then
    why=$(dropin_problem)
    diff -r "$o/lo" "$m" > "$work/ov.diff" 2>&1 || why="${why:+$why; }merged tree differs from the lower one"
    { echo new > "$m/new" && echo more >> "$m/f1" && rm "$m/f2" && mv "$m/f3" "$m/f3b" &&
      mkdir "$m/nd" && ln "$m/f4" "$m/f4link" && rm -r "$m/sub"; } 2> "$work/ov.err" ||
      why="${why:+$why; }operations failed: $(head -c 200 "$work/ov.err")"
    [ "$(tail -c 5 "$m/f1")" = "more" ] || why="${why:+$why; }append lost"
    cmp -s "$o/lo/f3" "$m/f3b" || why="${why:+$why; }renamed file differs"
    [ -e "$m/f2" ] && why="${why:+$why; }deleted file still there"
    [ -e "$o/up/new" ] && [ -e "$o/up/f1" ] && [ -e "$o/up/f3b" ] && [ -d "$o/up/nd" ] ||
      why="${why:+$why; }upper directory lacks new, f1, f3b or nd: $(ls "$o/up" | tr '\n' ' ')"
    [ -e "$o/lo/f2" ] && [ -e "$o/lo/f3" ] && [ "$(stat -c %s "$o/lo/f1")" = 1637 ] ||
      why="${why:+$why; }the lower directory changed"
    finish "$name" "$m" "$why"
  else
    fail "$name" "did not mount"
  fi
fi

# ---- sshfs -----------------------------------------------------------------------------
name="sshfs on the binding's libfuse3.so.3: over sftp-server, a tree, a 20 MiB round trip, renames"
sftp=/usr/lib/openssh/sftp-server
if ! command -v sshfs >/dev/null || [ ! -x "$sftp" ]; then
  skip "$name" "sshfs or openssh-sftp-server not installed (scripts/deps.sh test)"
else
  make_tree "$work/ss-src"
  # sshfs starts "ssh_command ... host -s sftp": here, the SFTP server itself on the pipe.
  printf '#!/bin/sh\nexec %s\n' "$sftp" > "$work/fake-ssh"; chmod +x "$work/fake-ssh"
  m=$work/ss
  if mount_fs "$m" "$work/ss.log" "${run_env[@]}" sshfs -o "ssh_command=$work/fake-ssh" \
       "localhost:$work/ss-src"; then
    why=$(dropin_problem)
    cp -a "$work/ss-src" "$work/ss-ref"
    diff -r "$work/ss-ref" "$m" > "$work/ss.diff" 2>&1 || why="${why:+$why; }tree differs: $(head -c 200 "$work/ss.diff")"
    head -c $((20 << 20)) /dev/urandom > "$work/big"
    { cp "$work/big" "$m/big" && mv "$m/big" "$m/big2" && mkdir "$m/nd" && rm "$m/f5"; } 2> "$work/ss.err" ||
      why="${why:+$why; }operations failed: $(head -c 200 "$work/ss.err")"
    cmp -s "$work/big" "$m/big2" || why="${why:+$why; }20 MiB file differs read back"
    cmp -s "$work/big" "$work/ss-src/big2" || why="${why:+$why; }20 MiB file differs on the server's side"
    [ -d "$work/ss-src/nd" ] && [ ! -e "$work/ss-src/f5" ] || why="${why:+$why; }mkdir or unlink not done"
    finish "$name" "$m" "$why"
  else
    fail "$name" "did not mount"
  fi
  # Daemonized (no -f): sshfs sets the signal handlers before fuse_daemonize forks, and
  # its child must still end after the unmount (it waited for ever to join a statistics
  # thread that had stayed in the parent).
  name="sshfs daemonized on the binding's libfuse3.so.3: exits after its unmount"
  m=$work/ssd; mkdir -p "$m"; mounts+=("$m")
  if "${run_env[@]}" sshfs -o "ssh_command=$work/fake-ssh" "localhost:$work/ss-src" "$m" \
       > "$work/ssd.log" 2>&1 && mountpoint -q "$m"; then
    SERVER_PID=$(pgrep -n -f "sshfs .*$m\$") SERVER_LOG=$work/ssd.log
    why=$(dropin_problem)
    ls "$m" > /dev/null
    umount "$m"
    for _ in $(seq 50); do pgrep -f "sshfs .*$m\$" > /dev/null || break; sleep 0.1; done
    if pgrep -f "sshfs .*$m\$" > /dev/null; then
      why="${why:+$why; }still running 5 s after its unmount"; pkill -KILL -f "sshfs .*$m\$"
    fi
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
  else
    fail "$name" "did not mount: $(tail -3 "$work/ssd.log")"
  fi
fi

# ---- pyfuse3 ---------------------------------------------------------------------------
name="pyfuse3 on the binding's libfuse3.so.3: its own loop, ordering, forgets, no lost handler"
py=/usr/bin/python3
if ! "$py" -c 'import pyfuse3, trio' 2>/dev/null; then
  skip "$name" "python3-pyfuse3 or python3-trio not installed (scripts/deps.sh test)"
else
  m=$work/py
  if mount_fs "$m" "$work/py.log" "${run_env[@]}" SLOW_WRITE_MS=300 "$py" -X dev \
       "$here/pyfuse3_memfs.py"; then
    why=$(dropin_problem)
    # Files, a directory, their listing, a rename, an unlink.
    { mkdir "$m/d" && for i in $(seq 1 100); do echo "file $i" > "$m/d/f$i"; done &&
      mv "$m/d/f1" "$m/d/g1" && rm "$m/d/f2"; } 2> "$work/py.err"
    [ "$(ls "$m/d" | wc -l)" = 99 ] && [ "$(cat "$m/d/g1")" = "file 1" ] ||
      why="${why:+$why; }tree wrong: $(ls "$m/d" | wc -l) entries, $(head -c 200 "$work/py.err")"
    # A READ over a WRITE in service (300 ms in the filesystem): it must wait for the WRITE
    # and see its data, and still be answered (by a handler started in process_buf).
    bounded_on "$m" 20 "$py" "$here/read_during_write.py" "$m/rw" > "$work/rw.out" 2>&1; st=$?
    [ "$st" -eq 0 ] || why="${why:+$why; }read during a write: $([ "$st" -eq 124 ] &&
      echo "no answer in 20 s (connection aborted)" || tail -1 "$work/rw.out")"
    # The kernel forgets the 100 nodes: pyfuse3 must see them in forget/forget_multi.
    ls -l "$m/d" > /dev/null; sync; echo 2 > /proc/sys/vm/drop_caches; sleep 0.5
    finish "$name" "$m" "$why"
    # The summary the filesystem prints at exit, and nothing pyfuse3 calls its own bug.
    forgets=$(sed -n 's/^pyfuse3_memfs: \([0-9]*\) forgets.*/\1/p' "$SERVER_LOG")
    if grep -qE "py_retval was not awaited|was never awaited|ERROR" "$SERVER_LOG"; then
      fail "pyfuse3: no handler lost" "$(grep -m2 -E "py_retval|never awaited|ERROR" "$SERVER_LOG" | tr '\n' ' ')"
    elif [ "${forgets:-0}" -lt 50 ]; then
      fail "pyfuse3: no handler lost" "only ${forgets:-no} forgets reached the filesystem after drop_caches"
    else
      pass "pyfuse3: no handler lost ($forgets forgets, no pyfuse3 error)"
    fi
  else
    fail "$name" "did not mount"
  fi
fi

# ---- pyfuse3: a lazy unmount under a reader killed in a READ -----------------------------
# Its RELEASE never leaves the kernel: libfuse passes nothing, and nothing may reach
# pyfuse3 outside fuse_session_process_buf (it would log "py_retval was not awaited", and
# the exit would wait for a reply that never comes). Three rounds: the kill lands in a
# READ most of the time.
name="pyfuse3: lazy unmount under a reader killed in a READ, a clean and prompt exit"
if "$py" -c 'import pyfuse3, trio' 2>/dev/null; then
  why=
  for round in 1 2 3; do
    m=$work/pyl$round
    mount_fs "$m" "$work/pyl$round.log" "${run_env[@]}" "$py" "$here/pyfuse3_memfs.py" ||
      { why="round $round: did not mount"; break; }
    dd if=/dev/urandom of="$m/big" bs=1M count=4 status=none
    ( while :; do dd if="$m/big" of=/dev/null bs=128k iflag=direct 2>/dev/null || exit; done ) &
    rd=$!
    sleep 0.5
    umount -l "$m"
    pkill -TERM -P "$rd"; kill "$rd" 2>/dev/null; wait "$rd" 2>/dev/null
    t0=$(date +%s%N)
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    ms=$((($(date +%s%N) - t0) / 1000000))
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -KILL "$SERVER_PID"; why="round $round: server still running 5 s after the unmount"
    else
      wait "$SERVER_PID"; st=$?
      [ "$st" -eq 0 ] || why="${why:+$why; }round $round: server exit $st"
      [ "$ms" -lt 800 ] || why="${why:+$why; }round $round: exit took $ms ms"
    fi
    SERVER_PID=
    grep -qE "py_retval|never awaited|ERROR" "$work/pyl$round.log" &&
      why="${why:+$why; }round $round: $(grep -m1 -E "py_retval|never awaited|ERROR" "$work/pyl$round.log")"
    [ -n "$why" ] && break
  done
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
fi

echo "apps: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
