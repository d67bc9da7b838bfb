#!/usr/bin/env bash
# access.sh - the example filesystems mounted for many users are safe (issue 12). Real
# mounts, as root, from build directory $1 (default build/asan); uid 65534 plays the
# other user (setpriv).
#
#   memfs, -o allow_other alone: default_permissions comes on by itself. In a 1777
#     directory, uid 65534 can neither chmod, write nor unlink root's 0644 file, nor
#     unlink root's 0666 one; its write, truncate, O_TRUNC open, fallocate and
#     copy_file_range on 0666 files with u+s,g+s drop the bits exactly as tmpfs does
#     (compared on a tmpfs next to it); root's write keeps them (CAP_FSETID).
#   passthrough symlink attack: with a negative entry cached for NAME, uid 65534 plants
#     NAME -> a root-only file outside the source, directly in a 1777 source directory,
#     then opens NAME with O_CREAT|O_APPEND through the mount: the target stays intact.
#     The same with a root-only 0600 file made directly in the source: uid 65534 may
#     not append to it. Root's own O_CREAT of a name made behind the kernel's back
#     still opens that file.
#   passthrough and the source's own rules (ACLs, sticky directories, trusted.*): uid 65534
#     cannot read through the mount a file whose source ACL denies it (user:65534:---,
#     mode 0644); cannot unlink uid 4242's file in a 1777 directory, nor rename it away,
#     when the kernel still caches the name as its own (it removed its file and 4242 made
#     one, in the source); does not see root's trusted.* names (listxattr); and cannot
#     have a MKDIR hand it a root directory it swapped in under the new name (mkswap).
#     memfs: the same listing.
#   passthrough negative lookups: a name missing through the mount and then made in the
#     source is visible at once (cache=auto); with -o negative_timeout=30 it is not.
#   passthrough descriptors: the soft RLIMIT_NOFILE is raised to the hard one at start;
#     under a hard limit of 200, opening 300 files gives EMFILE/ENFILE (openmany), the
#     server keeps serving, and exits 0 at unmount (empty inode table, no fd left); the
#     same with -o inode_handles (an fd per open file only: more opens succeed). Under the
#     same limit, `ls -l` and `cat` of 1500 files succeed: the passthrough has the kernel
#     prune inodes it remembers (FUSE_NOTIFY_PRUNE, 6.18; skipped before); with only 80
#     fds and cache=always the syscall suite passes (lookups, creates, mkdirs and opendirs
#     that find no fd free prune and try again).
#
# ACCESS_PT and ACCESS_MEMFS replace the servers (to run the checks against another
# build); ACCESS_ATTACK_OPTS the mount options of the attack (default
# cache=always,negative_timeout=60: the negative entry certainly cached).
# Prints "PASS  name", "FAIL  name: why" and "SKIP  name: why" lines and ends with
# "access: N passed, N failed, N skipped"; exit status 0 only if nothing failed.
# Everything it mounts or starts is unmounted or killed on exit.
set -uo pipefail
B=${1:-build/asan}
cd "$(dirname "$0")/../.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

PT=${ACCESS_PT:-$B/examples/passthrough}
MEMFS=${ACCESS_MEMFS:-$B/examples/memfs}
OPENMANY=$B/tests/integration/openmany
COPYRANGE=$B/tests/integration/copyrange
MKSWAP=$B/tests/integration/mkswap
ATTACK_OPTS=${ACCESS_ATTACK_OPTS:-cache=always,negative_timeout=60}

work=
. tests/integration/lib.sh
finish() {
  echo "access: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
  exit
}

if [ "$(id -u)" -ne 0 ]; then skip "access tests" "need root (mount(2), acting as uid 65534)"; finish; fi
if [ ! -c /dev/fuse ]; then skip "access tests" "no /dev/fuse"; finish; fi
for t in setpriv prlimit mountpoint fallocate; do
  command -v $t >/dev/null || { skip "access tests" "$t missing"; finish; }
done
for b in "$OPENMANY" "$COPYRANGE" "$MKSWAP"; do
  [ -x "$b" ] || { skip "access tests" "$b not built"; finish; }
done

work=$(mktemp -d /tmp/ringfuse-access.XXXXXX)
chmod 0755 "$work"              # uid 65534 must reach the mount points below

# as_other CMD...: run CMD as uid/gid 65534 with no supplementary groups.
as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

mode_of() { stat -c %a "$1"; }

# A python3 uid 65534 can run (ACLs and xattr lists have no tool on a bare Debian).
PY=
for p in /usr/bin/python3 "$(command -v python3)"; do
  [ -n "$p" ] && [ -x "$p" ] && as_other "$p" -c pass 2>/dev/null && { PY=$p; break; }
done
# deny_acl FILE: a POSIX access ACL that denies uid 65534 everything, others may read.
deny_acl() {
  "$PY" -c 'import os, struct, sys
ents = [(1, 6, -1), (2, 0, 65534), (4, 4, -1), (0x10, 4, -1), (0x20, 4, -1)]
os.setxattr(sys.argv[1], "system.posix_acl_access", struct.pack("<I", 2) +
            b"".join(struct.pack("<HHI", t, p, i & 0xffffffff) for t, p, i in ents))' "$1"
}
set_trusted() { "$PY" -c 'import os, sys; os.setxattr(sys.argv[1], "trusted.t", b"1")' "$1"; }
# other_xattrs FILE: the names listxattr(2) gives uid 65534.
other_xattrs() {
  as_other "$PY" -c 'import os, sys; print(" ".join(os.listxattr(sys.argv[1])))' "$1"
}

# setid_run DIR : in DIR (1777), uid 65534 writes to, truncates, opens with O_TRUNC,
# fallocates and copy_file_ranges into a root file 06666 each; root writes to a sixth.
# Prints the six modes afterwards, as stat(1) %a sees them (STATX_MODE alone: what the
# kernel has cached, as exec would).
setid_run() {
  local d=$1 f
  for f in w t o f c r; do
    rm -f "$d/$f"; echo data > "$d/$f"; chmod 06666 "$d/$f"
  done
  as_other sh -c "echo more >> '$d/w'" || echo "write-failed"
  as_other truncate -s 1 "$d/t" || echo "truncate-failed"
  as_other sh -c ": > '$d/o'" || echo "open-trunc-failed"
  as_other fallocate -l 8192 "$d/f" || echo "fallocate-failed"
  as_other "$COPYRANGE" "$d/r" "$d/c" || echo "copy-failed"
  echo more >> "$d/r"
  echo "$(mode_of "$d/w") $(mode_of "$d/t") $(mode_of "$d/o") $(mode_of "$d/f") $(mode_of "$d/c") $(mode_of "$d/r")"
}

# ---- memfs ------------------------------------------------------------------------------
name="memfs allow_other: default_permissions on, sticky dir and set-id rules"
if [ ! -x "$MEMFS" ]; then
  skip "$name" "$MEMFS not built"
else
  m=$work/memfs log=$work/memfs.log why=""
  if mount_fs "$m" "$log" "$MEMFS" -o allow_other; then
    grep " $m fuse" /proc/mounts | grep -q default_permissions ||
      why="$why; default_permissions not in /proc/mounts"
    mkdir "$m/pub" && chmod 1777 "$m/pub"
    echo secret > "$m/pub/root644" && chmod 0644 "$m/pub/root644"
    echo shared > "$m/pub/root666" && chmod 0666 "$m/pub/root666"
    as_other chmod 0666 "$m/pub/root644" 2>/dev/null && why="$why; other user chmod'ed root's file"
    as_other sh -c "echo x >> '$m/pub/root644'" 2>/dev/null && why="$why; other user wrote root's 0644 file"
    as_other rm -f "$m/pub/root644" 2>/dev/null; [ -e "$m/pub/root644" ] || why="$why; other user unlinked root's 0644 file"
    as_other rm -f "$m/pub/root666" 2>/dev/null; [ -e "$m/pub/root666" ] || why="$why; other user unlinked root's 0666 file in a sticky dir"
    as_other chown 65534 "$m/pub/root666" 2>/dev/null && why="$why; other user chown'ed root's file"
    if [ -n "$PY" ] && set_trusted "$m/pub/root666"; then
      case "$(other_xattrs "$m/pub/root666")" in
        *trusted.*) why="$why; other user lists root's trusted.* names";;
      esac
    fi
    [ "$(cat "$m/pub/root644" 2>/dev/null)" = secret ] && [ "$(mode_of "$m/pub/root644" 2>/dev/null)" = 644 ] ||
      why="$why; root644 is now $(mode_of "$m/pub/root644" 2>&1) '$(cat "$m/pub/root644" 2>&1)'"
    # The set-id rules, against the kernel's own on tmpfs.
    ref=$work/tmpfs
    mkdir -p "$ref" && mount -t tmpfs -o size=1m,mode=1777 tmpfs "$ref" && mounts+=("$ref")
    want=$(setid_run "$ref") got=$(setid_run "$m/pub")
    umount "$ref"
    echo "      set-id modes after other's write, truncate, O_TRUNC open, fallocate, copy_file_range, root's write: memfs $got, tmpfs $want"
    [ "$got" = "$want" ] || why="$why; set-id modes $got, tmpfs gives $want"
    case "$got" in "666 666 666 666 666 6666") ;; *) why="$why; expected 666 666 666 666 666 6666";; esac
    unmount_fs "$m"; rc=$?
    [ $rc -eq 0 ] || why="$why; server exit $rc"
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "${why#; }"; tail -5 "$log"; fi
  else
    fail "$name" "did not mount"
  fi
fi

# ---- passthrough ------------------------------------------------------------------------
if [ ! -x "$PT" ]; then
  skip "passthrough access tests" "$PT not built"; finish
fi
src=$work/src
mkdir -p "$src" && mount -t tmpfs -o size=64m,mode=0755 tmpfs "$src" && mounts+=("$src")
mkdir "$src/pub" && chmod 1777 "$src/pub"
secret=$work/secret
echo "root only" > "$secret" && chmod 0600 "$secret"

name="passthrough allow_other: a planted symlink does not redirect an O_CREAT open"
m=$work/pt-attack log=$work/pt-attack.log why=""
if mount_fs "$m" "$log" "$PT" -o "source=$src,allow_other,$ATTACK_OPTS"; then
  # 1. the other user looks the name up through the mount: the kernel caches "missing";
  # 2. plants NAME -> the secret, straight into the source;
  # 3. opens NAME for appending, O_CREAT, through the mount.
  as_other stat "$m/pub/evil" >/dev/null 2>&1 && why="$why; evil exists before the test"
  as_other ln -s "$secret" "$src/pub/evil"
  as_other sh -c "echo pwned >> '$m/pub/evil'" 2>/dev/null && why="$why; the append through the symlink succeeded"
  [ "$(cat "$secret")" = "root only" ] || why="$why; the root-only target now holds '$(tr '\n' ' ' < "$secret")'"
  # The same with a root-only file made in the source behind the kernel's back.
  as_other stat "$m/pub/private" >/dev/null 2>&1
  echo private > "$src/pub/private" && chmod 0600 "$src/pub/private"
  as_other sh -c "echo pwned >> '$m/pub/private'" 2>/dev/null && why="$why; other user appended to root's 0600 file"
  [ "$(cat "$src/pub/private")" = private ] || why="$why; root's 0600 file now holds '$(tr '\n' ' ' < "$src/pub/private")'"
  # Nothing lost for the owner: root's O_CREAT of a name made behind the kernel's back
  # opens that very file.
  stat "$m/pub/later" >/dev/null 2>&1
  echo one > "$src/pub/later"
  echo two >> "$m/pub/later" || why="$why; root's O_CREAT append to a file made in the source failed"
  [ "$(cat "$src/pub/later" | tr '\n' ' ')" = "one two " ] || why="$why; later holds '$(tr '\n' ' ' < "$src/pub/later")'"
  unmount_fs "$m"; rc=$?
  [ $rc -eq 0 ] || why="$why; server exit $rc"
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "${why#; }"; tail -5 "$log"; fi
else
  fail "$name" "did not mount"
fi
rm -rf "${src:?}/pub"/* 2>/dev/null

name="passthrough allow_other: source ACLs, sticky names replaced in the source, trusted.* names, MKDIR swap"
m=$work/pt-rules log=$work/pt-rules.log why=""
as_victim() { setpriv --reuid=4242 --regid=4242 --clear-groups "$@"; }
if [ -z "$PY" ]; then
  skip "$name" "no python3 that uid 65534 can run"
elif mount_fs "$m" "$log" "$PT" -o "source=$src,allow_other,$ATTACK_OPTS"; then
  # A source ACL that denies uid 65534 holds through the mount (the kernel checked the
  # mode bits alone, and the passthrough opens as root).
  echo secret > "$src/pub/acl" && chmod 0644 "$src/pub/acl"
  if deny_acl "$src/pub/acl" 2>/dev/null && ! as_other cat "$src/pub/acl" >/dev/null 2>&1; then
    as_other cat "$m/pub/acl" >/dev/null 2>&1 && why="$why; uid 65534 read a file its ACL denies it"
  else
    echo "      (the source has no POSIX ACLs: that check skipped)"
  fi
  # Sticky directory, a name the kernel caches as uid 65534's own file, replaced in the
  # source by uid 4242's: neither an unlink nor a rename of the name into 65534's own
  # directory may take 4242's file (the kernel revalidates a rename's target by itself).
  as_other mkdir "$m/pub/own-dir"
  for op in rm mv; do
    as_other sh -c "echo mine > '$src/pub/st-$op'"
    as_other stat "$m/pub/st-$op" >/dev/null 2>&1
    as_other rm -f "$src/pub/st-$op"
    as_victim sh -c "echo victim > '$src/pub/st-$op'"
    if [ $op = rm ]; then
      as_other rm -f "$m/pub/st-$op" 2>/dev/null
    else
      as_other "$PY" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' \
        "$m/pub/st-$op" "$m/pub/own-dir/st-$op" 2>/dev/null
    fi
    [ "$(cat "$src/pub/st-$op" 2>/dev/null)" = victim ] ||
      why="$why; uid 65534's $op took uid 4242's file in a sticky directory"
  done
  # trusted.* names are listed to CAP_SYS_ADMIN only, as the source lists them.
  if set_trusted "$src/pub/acl" 2>/dev/null; then
    case "$(other_xattrs "$m/pub/acl")" in
      *trusted.*) why="$why; uid 65534 lists root's trusted.* names";;
    esac
  fi
  # MKDIR is made as root, then given to the caller by its name: a root 0700 directory
  # that uid 65534 swaps in under the name (RENAME_EXCHANGE in a 0777 directory) in
  # between must stay root's. Before, mkswap won within some hundred tries.
  mkdir -m 0777 "$src/shared" && mkdir -m 0700 "$src/shared/rootdir"
  sleep 1.1                     # born a second before any try (born_since)
  as_other "$MKSWAP" "$src/shared" "$m/shared" rootdir new 1500 > "$work/mkswap.out" 2>&1 ||
    why="$why; a root directory swapped in during MKDIR was handed to uid 65534"
  sed 's/^/      /' "$work/mkswap.out"
  unmount_fs "$m"; rc=$?
  [ $rc -eq 0 ] || why="$why; server exit $rc"
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "${why#; }"; tail -5 "$log"; fi
else
  fail "$name" "did not mount"
fi
rm -rf "${src:?}/pub"/* "${src:?}/shared" 2>/dev/null

name="passthrough allow_other: set-id bits dropped as on tmpfs"
m=$work/pt-setid log=$work/pt-setid.log
if mount_fs "$m" "$log" "$PT" -o "source=$src,allow_other"; then
  ref=$work/tmpfs
  mkdir -p "$ref" && mount -t tmpfs -o size=1m,mode=1777 tmpfs "$ref" && mounts+=("$ref")
  want=$(setid_run "$ref") got=$(setid_run "$m/pub")
  umount "$ref"
  echo "      set-id modes after other's write, truncate, O_TRUNC open, fallocate, copy_file_range, root's write: passthrough $got, tmpfs $want"
  why=""
  [ "$got" = "$want" ] || why="set-id modes $got, tmpfs gives $want"
  unmount_fs "$m"; rc=$?
  [ $rc -eq 0 ] || why="${why:+$why; }server exit $rc"
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; tail -5 "$log"; fi
else
  fail "$name" "did not mount"
fi
rm -rf "${src:?}/pub"/* 2>/dev/null

for mode in auto neg; do
  if [ $mode = auto ]; then
    name="passthrough cache=auto: a name made in the source after a failed lookup is visible at once"
    opts="source=$src"
  else
    name="passthrough -o negative_timeout=30: a missing name stays cached"
    opts="source=$src,negative_timeout=30"
  fi
  m=$work/pt-neg-$mode log=$work/pt-neg-$mode.log
  if mount_fs "$m" "$log" "$PT" -o "$opts"; then
    stat "$m/fresh" >/dev/null 2>&1 && why="fresh exists before the test" || why=""
    touch "$src/fresh"
    if [ $mode = auto ]; then
      stat "$m/fresh" >/dev/null 2>&1 || why="${why:+$why; }not visible through the mount right after its creation"
    else
      stat "$m/fresh" >/dev/null 2>&1 && why="${why:+$why; }visible although the negative entry should be cached"
    fi
    unmount_fs "$m"; rc=$?
    [ $rc -eq 0 ] || why="${why:+$why; }server exit $rc"
    rm -f "$src/fresh"
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; tail -5 "$log"; fi
  else
    fail "$name" "did not mount"
  fi
done

name="passthrough raises its soft RLIMIT_NOFILE to the hard limit"
m=$work/pt-rlimit log=$work/pt-rlimit.log
if mount_fs "$m" "$log" prlimit --nofile=100:4096 "$PT" -o "source=$src"; then
  soft=$(awk '/Max open files/ {print $4}' "/proc/$SERVER_PID/limits")
  unmount_fs "$m"; rc=$?
  if [ "$soft" = 4096 ] && [ $rc -eq 0 ]; then pass "$name"
  else fail "$name" "soft limit $soft (want 4096), server exit $rc"; fi
else
  fail "$name" "did not mount"
fi

for i in $(seq 0 299); do echo "$i" > "$src/pub/f$i"; done
for handles in "" ",inode_handles"; do
  name="passthrough${handles:+ -o ${handles#,}} out of descriptors (hard limit 200, 300 opens): EMFILE, still serving, clean exit"
  m=$work/pt-emfile log=$work/pt-emfile.log
  if mount_fs "$m" "$log" prlimit --nofile=200:200 "$PT" -o "source=$src,allow_other$handles"; then
    timeout 90 "$OPENMANY" "$m/pub" 300 > "$work/openmany.out" 2>&1; rc=$?
    sed 's/^/      /' "$work/openmany.out" | tail -5
    alive=yes; kill -0 "$SERVER_PID" 2>/dev/null || alive=no
    unmount_fs "$m"; srv=$?
    if [ $rc -eq 0 ] && [ $alive = yes ] && [ $srv -eq 0 ]; then pass "$name"
    else fail "$name" "openmany exit $rc, server alive: $alive, server exit $srv"; tail -10 "$log"; fi
  else
    fail "$name" "did not mount"
  fi
done

# More files than descriptors, none held open: every inode the kernel remembers keeps an
# fd in the passthrough, so past 3/4 of the limit it has the kernel prune the ones looked up
# least recently (FUSE_NOTIFY_PRUNE, kernel 6.18), and a LOOKUP that still finds no fd free
# tries again once they went. Before, `ls -l` got EMFILE on about 4 names in 5.
for i in $(seq 300 1499); do echo "$i" > "$src/pub/f$i"; done
name="passthrough past its descriptor limit (hard limit 200, 1500 files): ls -l and cat of each succeed"
m=$work/pt-prune log=$work/pt-prune.log
if mount_fs "$m" "$log" prlimit --nofile=200:200 "$PT" -o "source=$src,allow_other"; then
  ls -l "$m/pub" > "$work/prune.ls" 2> "$work/prune.err"; rc1=$?
  cat "$m"/pub/f* > "$work/prune.cat" 2>> "$work/prune.err"; rc2=$?
  lines=$(wc -l < "$work/prune.cat"); errs=$(wc -l < "$work/prune.err")
  unmount_fs "$m"; srv=$?
  if grep -q "no FUSE_NOTIFY_PRUNE" "$log"; then
    skip "$name" "the kernel has no FUSE_NOTIFY_PRUNE (before 6.18)"
  elif [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$lines" = 1500 ] && [ $srv -eq 0 ]; then
    pass "$name"
  else
    fail "$name" "ls -l $rc1, cat $rc2 ($lines of 1500 lines), $errs errors, server exit $srv"
    head -3 "$work/prune.err"; tail -5 "$log"
  fi
else
  fail "$name" "did not mount"
fi

# The whole syscall suite on a server with only 80 fds, the kernel caching everything
# (cache=always): creates, mkdirs, opendirs and lookups that find no fd free prune and try
# again. Before, 13 of its 32 tests failed with EMFILE.
SYSCALLS=$B/tests/integration/syscalls
name="passthrough with 80 descriptors (cache=always): the syscall suite passes"
m=$work/pt-fd80 log=$work/pt-fd80.log
mkdir -p "$src/fd80"
if grep -q "no FUSE_NOTIFY_PRUNE" "$work/pt-prune.log" 2>/dev/null; then
  skip "$name" "the kernel has no FUSE_NOTIFY_PRUNE (before 6.18)"
elif mount_fs "$m" "$log" prlimit --nofile=80:80 "$PT" -o "source=$src/fd80,allow_other,cache=always"; then
  timeout 300 "$SYSCALLS" "$m" > "$work/fd80.out" 2>&1; rc=$?
  unmount_fs "$m"; srv=$?
  echo "      $(tail -1 "$work/fd80.out")"
  if [ $rc -eq 0 ] && [ $srv -eq 0 ]; then pass "$name"
  else fail "$name" "syscalls exit $rc, server exit $srv"; grep "^FAIL" "$work/fd80.out" | head -5; tail -5 "$log"; fi
else
  fail "$name" "did not mount"
fi

umount "$src" 2>/dev/null || umount -l "$src"
finish
