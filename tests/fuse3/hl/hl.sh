#!/usr/bin/env bash
# hl.sh - libfuse's high-level (fuse_main) example filesystems, unchanged, on real mounts
# (issue 15), from build directory $1 (default build/asan). README.md here says more.
#
# Each library in HL_LIBS (default "source dropin"):
#   libfuse3  the examples linked with Debian's libfuse3 ($B/fuse3/peer/), on Debian's
#             library: the reference every expectation here was checked against
#   source    the examples built against ringfuse-fuse3 ($B/fuse3/examples/)
#   dropin    the libfuse3-linked binaries on the binding's libfuse3.so.3 (LD_LIBRARY_PATH)
# runs: hello (ls, cat, its options); null (mounted on a file: 4 GiB of zeros, writes
# swallowed); passthrough and passthrough_fh, single- (-s) and multi-threaded, in libfuse's
# default "hide" mode and with fuse_config.hard_remove (hard_remove_shim.c), each over a
# private tmpfs through the syscall suite, fsx, unlink_open and rename_stress;
# invalidate_path with and without its notifications (the kernel's cache invalidated, or
# kept); poll (poll_client wakes up 16 times); ioctl (ioctl_client sets and gets the size).
#
# Environment: HL_LIBS; HL_ONLY (an extended regexp: only the cases whose name matches);
# HL_FSX_OPS (fsx steps, default 5000); HL_RENAME_SECS (rename_stress, default 5).
# Prints "PASS  name" / "FAIL  name: why" / "SKIP  name: why" lines (scripts/run-tests.sh
# counts them), then "hl: N passed, N failed, N skipped"; exit 0 only if nothing failed.
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/../../.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
HL_LIBS=${HL_LIBS:-source dropin}
HL_ONLY=${HL_ONLY:-.}
HL_FSX_OPS=${HL_FSX_OPS:-5000}
HL_RENAME_SECS=${HL_RENAME_SECS:-5}
f3=$B/fuse3 hl=$B/tests/fuse3/hl

work=$(mktemp -d /tmp/ringfuse-hl.XXXXXX)
. tests/integration/lib.sh
want() { [[ $1 =~ $HL_ONLY ]]; }
sanitizer_reports() { grep -cE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"; }

# srv_problem LOG STATUS: empty if the server exited 0 with no sanitizer report; else says
# what (and shows the log's report or tail on stderr).
srv_problem() {
  local log=$1 st=$2 r
  r=$(sanitizer_reports "$log")
  if [ "$st" -ne 0 ] || [ "$r" -ne 0 ]; then
    echo "server exit $st, $r sanitizer report(s)"
    grep -m1 -A25 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log" >&2 || tail -15 "$log" >&2
  fi
}

# cmd_for LIB EXAMPLE [hard_remove]: sets CMD (the array that runs EXAMPLE on LIB) or
# returns 1 with WHY.
lsan_env="LSAN_OPTIONS=suppressions=$PWD/tests/fuse3/lsan-examples.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cmd_for() {
  local lib=$1 ex=$2 hr=${3:-} bin pre=()
  CMD=(env "$lsan_env")
  case $lib in
    libfuse3) bin=$f3/peer/$ex ;;
    dropin) bin=$f3/peer/$ex; CMD+=("LD_LIBRARY_PATH=$PWD/$f3${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}") ;;
    source) bin=$f3/examples/$ex; [ -n "$hr" ] && bin=$hl/$ex-hard_remove ;;
  esac
  if [ -n "$hr" ] && [ "$lib" != source ]; then
    [ -e "$hl/hard_remove_shim.so" ] || { WHY="$hl/hard_remove_shim.so not built"; return 1; }
    # The sanitizer runtime must come first in a preload list: ahead of the shim.
    local asan; asan=$(ldd "$bin" 2>/dev/null | awk '/libasan/{print $3}')
    CMD+=("LD_PRELOAD=${asan:+$asan:}$PWD/$hl/hard_remove_shim.so")
  fi
  [ -x "$bin" ] || { WHY="$bin not built"; return 1; }
  CMD+=("$bin")
}

# lib_usable LIB: 0, or 1 with WHY (the binding has no high-level API yet).
lib_usable() {
  case $1 in
    libfuse3) pkg-config --exists fuse3 || { WHY="Debian's libfuse3 (pkg-config fuse3) missing"; return 1; } ;;
    source) [ -x "$f3/examples/passthrough" ] ||
      { WHY="the examples were not built against ringfuse-fuse3 (the binding implements no fuse_main_real yet, bindings/fuse3/fuse3.mk)"; return 1; } ;;
    dropin) nm -D --defined-only "$f3/libfuse3.so.3" 2>/dev/null | grep -q " fuse_main_real@" ||
      { WHY="$f3/libfuse3.so.3 defines no fuse_main_real yet"; return 1; } ;;
  esac
  [ -x "$f3/peer/passthrough" ] || { WHY="$f3/peer/ not built (no /usr/share/doc/libfuse3-dev/examples?)"; return 1; }
}

# dropin_check: the server (env's exec: SERVER_PID is the program itself) maps the binding's
# libfuse3.so.3 and no other. Empty when fine.
dropin_check() {
  [ "$1" = dropin ] || return 0
  if ! grep -q "$f3/libfuse3.so.3" "/proc/$SERVER_PID/maps" 2>/dev/null ||
     grep -qE "/(usr/)?lib/.*libfuse3\.so" "/proc/$SERVER_PID/maps"; then
    echo "libfuse3.so.3 mapped is not the binding's: $(grep -o '/[^ ]*libfuse3[^ ]*' "/proc/$SERVER_PID/maps" | sort -u | tr '\n' ' ')"
  fi
}

src=$work/src
mkdir -p "$src" && mount -t tmpfs -o size=512m tmpfs "$src" && mounts+=("$src") && chmod 0755 "$src" ||
  { fail "hl setup" "could not mount a tmpfs at $src"; exit 1; }

for lib in $HL_LIBS; do
  case $lib in
    libfuse3) what="Debian's libfuse3" ;;
    source) what="built with ringfuse-fuse3" ;;
    dropin) what="libfuse3 binary on the binding's libfuse3.so.3" ;;
    *) fail "HL_LIBS" "unknown library '$lib' (libfuse3, source, dropin)"; continue ;;
  esac
  if ! lib_usable "$lib"; then skip "libfuse3 high-level examples ($what)" "$WHY"; continue; fi

  # ---- hello: ls, cat, --name/--contents ----------------------------------------------
  name="hl hello ($lib): ls, cat, --name/--contents, clean unmount"
  if want "$name"; then
    m=$work/hello-$lib log=$work/hello-$lib.log
    if ! cmd_for "$lib" hello; then skip "$name" "$WHY"
    elif mount_fs "$m" "$log" "${CMD[@]}" --name=greeting --contents=bonjour; then
      got="$(ls -a "$m" | tr '\n' ' ')/$(cat "$m/greeting" 2>&1)/$(stat -c %s:%A "$m/greeting")"
      mp=$(dropin_check "$lib")
      unmount_fs "$m"; st=$?; sp=$(srv_problem "$log" $st)
      exp=". .. greeting /bonjour/7:-r--r--r--"
      if [ "$got" = "$exp" ] && [ -z "$sp$mp" ]; then pass "$name"
      else fail "$name" "got '$got', expected '$exp' $sp $mp"; fi
    else fail "$name" "did not mount"; fi
  fi

  # ---- null: a file as mount point -----------------------------------------------------
  name="hl null ($lib): mounted on a file, 4 GiB of zeros, writes accepted"
  if want "$name"; then
    m=$work/null-$lib log=$work/null-$lib.log
    : > "$m"
    if ! cmd_for "$lib" null; then skip "$name" "$WHY"
    elif mount_fs "$m" "$log" "${CMD[@]}"; then
      size=$(stat -c %s "$m")
      zeros=$(dd if="$m" bs=64k count=16 skip=1000 status=none | tr -d '\0' | wc -c)
      nread=$(dd if="$m" bs=64k count=16 skip=1000 status=none | wc -c)
      head -c 1048576 /dev/urandom | dd of="$m" bs=64k conv=notrunc status=none; wr=$?
      tail=$(dd if="$m" bs=1 count=10 skip=$((4294967296 - 4)) status=none | wc -c)
      unmount_fs "$m"; st=$?; sp=$(srv_problem "$log" $st)
      if [ "$size" = 4294967296 ] && [ "$nread" = 1048576 ] && [ "$zeros" = 0 ] && [ $wr -eq 0 ] &&
         [ "$tail" = 4 ] && [ -z "$sp" ]; then pass "$name"
      else fail "$name" "size $size, read $nread bytes ($zeros non-zero), write exit $wr, read at EOF-4: $tail bytes $sp"; fi
    else fail "$name" "did not mount"; fi
  fi

  # ---- passthrough, passthrough_fh ----------------------------------------------------
  # passthrough.c mirrors /: the tests run in $m$src, the private tmpfs seen through it.
  # Excluded, because they fail on Debian's libfuse3 just the same:
  #  - syscalls perm_sticky, perm_owner, perm_setgid_dir: the examples do everything with
  #    their own credentials (root), so new files belong to root, not to the caller;
  #  - syscalls link, in hide mode: unlinking one of the names of an open file renames it
  #    to .fuse_hidden* instead (libfuse hides any open node), so st_nlink does not drop;
  #  - syscalls rename and concurrent, multi-threaded in hide mode: they list the directory
  #    right after close(2) of a file unlinked (or renamed over) while open, and the
  #    kernel sends RELEASE asynchronously: the .fuse_hidden* file the library removes in
  #    RELEASE may still be listed (seen on libfuse3 in passthrough_fh's concurrent case);
  #  - with hard_remove, syscalls unlink_open and rename (fstat of an unlinked, or renamed-
  #    over, open file: ESTALE; libfuse documents fstat, ftruncate, ... failing there);
  #    and unlink_open (ours) for passthrough.c, which has no nullpath_ok: read and write
  #    of the unlinked file reach it with a NULL path (EFAULT). passthrough_fh.c sets
  #    nullpath_ok and keeps reads and writes working: unlink_open runs there;
  #  - fsx's fallocate and punch (-F): the examples' fallocate takes mode 0 only and answers
  #    EOPNOTSUPP to KEEP_SIZE and PUNCH_HOLE (syscalls' fallocate case covers mode 0).
  for ex in passthrough passthrough_fh; do
    for mt in -s ""; do
      for mode in hide hard_remove; do
        name="hl $ex $([ -n "$mt" ] && echo single || echo multi)-threaded $mode ($lib): syscalls, fsx, unlink_open, rename_stress"
        want "$name" || continue
        hr=; [ $mode = hard_remove ] && hr=1
        if ! cmd_for "$lib" $ex $hr; then skip "$name" "$WHY"; continue; fi
        tag=$ex$mt-$mode-$lib m=$work/$ex$mt-$mode-$lib log=$work/$ex$mt-$mode-$lib.log
        rm -rf "${src:?}"/* 2>/dev/null
        if ! mount_fs "$m" "$log" "${CMD[@]}" $mt -o allow_other,default_permissions; then
          fail "$name" "did not mount"; continue
        fi
        d=$m$src
        excl=perm_sticky,perm_owner,perm_setgid_dir uo=ok
        if [ $mode = hide ]; then excl=$excl,link; else excl=$excl,unlink_open,rename; fi
        [ $mode = hide ] && [ -z "$mt" ] && excl=$excl,rename,concurrent
        [ $mode = hard_remove ] && [ $ex = passthrough ] && uo=excluded
        shim=ok
        [ -n "$hr" ] && { grep -q "hard_remove shim: on" "$log" || shim="no 'hard_remove shim: on' in the log"; }
        mp=$(dropin_check "$lib")
        "$B/tests/integration/syscalls" -x "$excl" "$d" > "$log.syscalls" 2>&1; rc1=$?
        "$B/tests/integration/fsx" -F -N "$HL_FSX_OPS" -S "$RANDOM" "$d/fsx.file" > "$log.fsx" 2>&1; rc2=$?
        rc3=0
        if [ $uo = ok ]; then "$hl/unlink_open" -m $mode "$d" > "$log.uo" 2>&1; rc3=$?; fi
        "$hl/rename_stress" -t "$HL_RENAME_SECS" "$d" > "$log.rs" 2>&1; rc4=$?
        [ -n "$hr" ] && { grep -q "hard_remove shim: on" "$log" || shim="no 'hard_remove shim: on' in the log"; }
        unmount_fs "$m"; st=$?; sp=$(srv_problem "$log" $st)
        echo "      $(tail -1 "$log.syscalls"); $(tail -1 "$log.fsx")"
        echo "      $(tail -1 "$log.uo" 2>/dev/null || echo "unlink_open excluded"); $(tail -1 "$log.rs")"
        if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ] && [ $rc4 -eq 0 ] && [ -z "$sp$mp" ] &&
           [ "$shim" = ok ]; then pass "$name"
        else
          fail "$name" "syscalls $rc1, fsx $rc2, unlink_open $rc3, rename_stress $rc4; $sp $mp${shim#ok}"
          grep -E "^FAIL" "$log.syscalls"; tail -30 "$log.fsx" | grep -v "^ok"
          grep -E "^FAIL" "$log.uo" 2>/dev/null; grep -E "ERROR|more errors" "$log.rs" | head -10
          tail -15 "$log"
        fi
      done
    done
  done

  # ---- invalidate_path: fuse_invalidate_path drops the kernel's cache -------------------
  # The example caches with keep_cache and ~6-day timeouts and changes both files every
  # second (current_time's contents, growing's size); its thread invalidates them by path.
  for notify in yes no; do
    name="hl invalidate_path ($lib): $([ $notify = yes ] && echo "contents and size re-read after fuse_invalidate_path" || echo "--no-notify: the kernel keeps the cached contents and size")"
    want "$name" || continue
    m=$work/inval-$notify-$lib log=$work/inval-$notify-$lib.log
    args=(); [ $notify = no ] && args=(--no-notify)
    if ! cmd_for "$lib" invalidate_path; then skip "$name" "$WHY"; continue; fi
    if ! mount_fs "$m" "$log" "${CMD[@]}" "${args[@]}"; then fail "$name" "did not mount"; continue; fi
    a=$(cat "$m/current_time"); s1=$(stat -c %s "$m/growing"); sleep 2.5
    b=$(cat "$m/current_time"); s2=$(stat -c %s "$m/growing")
    # Sanitizer reports counted up to the unmount only: the example never joins its update
    # thread, which goes on calling fuse_invalidate_path on the struct fuse that main
    # destroys after the loop (heap-use-after-free under ASan on Debian's libfuse3 too).
    cp "$log" "$log.before-unmount"
    unmount_fs "$m"; st=$?; sp=$(srv_problem "$log.before-unmount" $st)
    res="current_time \"$a\" then \"$b\", growing $s1 then $s2 bytes"
    ok=0
    if [ $notify = yes ]; then [ -n "$a" ] && [ "$a" != "$b" ] && [ "$s2" -gt "$s1" ] && ok=1
    else [ -n "$a" ] && [ "$a" = "$b" ] && [ "$s2" = "$s1" ] && ok=1; fi
    if [ $ok = 1 ] && [ -z "$sp" ]; then pass "$name ($res)"; else fail "$name" "$res $sp"; fi
  done

  # ---- poll: fuse_notify_poll wakes the client ----------------------------------------
  name="hl poll ($lib): poll_client woken 16 times by fuse_notify_poll"
  if want "$name"; then
    m=$work/poll-$lib log=$work/poll-$lib.log
    if ! cmd_for "$lib" poll; then skip "$name" "$WHY"
    elif [ ! -x "$f3/examples/poll_client" ]; then skip "$name" "poll_client not built"
    elif mount_fs "$m" "$log" "${CMD[@]}"; then
      pc=$(realpath "$f3/examples/poll_client")
      (cd "$m" && timeout 60 "$pc") > "$log.client" 2>&1; rc=$?
      lines=$(grep -cE "^([0-9A-F_]:[ 0-9]*)+" "$log.client")
      unmount_fs "$m"; st=$?; sp=$(srv_problem "$log" $st)
      notes=$(grep -c "^NOTIFY" "$log")
      if [ $rc -eq 0 ] && [ "$lines" = 16 ] && [ "$notes" -gt 0 ] && [ -z "$sp" ]; then
        pass "$name ($notes NOTIFY in the server's log)"
      else fail "$name" "client exit $rc, $lines lines, $notes NOTIFY $sp"; tail -5 "$log.client"; fi
    else fail "$name" "did not mount"; fi
  fi

  # ---- ioctl: FIOC_SET_SIZE / FIOC_GET_SIZE -------------------------------------------
  name="hl ioctl ($lib): ioctl_client sets and gets the size"
  if want "$name"; then
    m=$work/ioctl-$lib log=$work/ioctl-$lib.log
    if ! cmd_for "$lib" ioctl; then skip "$name" "$WHY"
    elif [ ! -x "$f3/examples/ioctl_client" ]; then skip "$name" "ioctl_client not built"
    elif mount_fs "$m" "$log" "${CMD[@]}"; then
      "$f3/examples/ioctl_client" "$m/fioc" 4321 > "$log.set" 2>&1; rc1=$?
      got=$("$f3/examples/ioctl_client" "$m/fioc" 2>&1); rc2=$?
      sleep 1.2   # the size the kernel cached at the open, for attr_timeout (1 s), expires
      size=$(stat -c %s "$m/fioc")
      unmount_fs "$m"; st=$?; sp=$(srv_problem "$log" $st)
      if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(echo $got)" = 4321 ] && [ "$size" = 4321 ] && [ -z "$sp" ]; then
        pass "$name"
      else fail "$name" "set exit $rc1 ($(head -c 200 "$log.set")), get exit $rc2 '$got', stat size $size $sp"; fi
    else fail "$name" "did not mount"; fi
  fi
done

echo "hl: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
