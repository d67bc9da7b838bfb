#!/usr/bin/env bash
# syscalls.sh - system calls, io_uring SQEs, io-wq punts and context switches per metadata
# operation of each server, over a tmpfs source, for the bench JSON (issue 13 item 2).
#
#   bench/tools/syscalls.sh [-n N] [-b BUILD] [-j OUT.jsonl] [SYSTEM...]
#
# SYSTEM: rf-uring (the passthrough, FUSE-over-io_uring), rf-dev (the passthrough on
# /dev/fuse), fuse3-ll (libfuse's own example passthrough_ll, compiled unchanged from
# /usr/share/doc/libfuse3-dev/examples into BUILD/bench/), fuse3-st (bench/peers'
# passthrough_fuse3, single-threaded). Default: rf-uring rf-dev fuse3-ll. Extra
# passthrough options: RF_OPTS (e.g. RF_OPTS=inline=never). All in cache=never, timeout 0,
# so every operation reaches the server, as in bench/run.sh's lat phase. The source is a
# tmpfs; SRC_FS=ext4 puts it on an ext4 image on a loop device instead.
#
# For each system and each operation of bench/tools/metaops (create, stat, openclose,
# unlink; N each, default 2000) the server is traced while the client runs:
#   strace -c -f -p SERVER   every system call of every server thread, by name;
#   perf stat -p SERVER      io_uring:io_uring_submit_req (SQEs), io_uring:io_uring_queue_async_work
#                            (punts to io-wq worker threads), context-switches;
#   rf_stats (SIGUSR1)       ringfuse's own loop_enters / loop_sqes counters (rf-* only).
# Each figure is divided by N. One JSON object per system and operation is appended to
# OUT.jsonl ({"syscalls":true,"system":..,"op":..,"n":..,"per_op":{...},"by_syscall":{...}})
# and a table is printed. strace slows the server down; counts at QD1 do not depend on
# speed, since metaops sends one request at a time, but context switches do: STRACE=0
# leaves strace out (syscalls then read 0) for true context-switch and punt figures.
# Root only (mounts).
#
# Hooking into bench/run.sh: run it once per bench run after the main phases, e.g.
#   bench/tools/syscalls.sh -n 2000 -b "$BUILD" -j "$RAW" rf-uring rf-dev fuse3-ll
# and have report.py read the {"syscalls":true} lines into results.json.
set -euo pipefail

N=2000 BUILD=build/gcc OUT=""
while getopts "n:b:j:" o; do
	case $o in
	n) N=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	j) OUT=$OPTARG ;;
	*) echo "usage: $0 [-n N] [-b BUILD] [-j OUT.jsonl] [SYSTEM...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(rf-uring rf-dev fuse3-ll)
[ "$(id -u)" -eq 0 ] || { echo "syscalls.sh: run as root" >&2; exit 2; }
for t in strace perf python3; do
	command -v $t >/dev/null || { echo "syscalls.sh: $t is missing (apt-get install $t)" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
METAOPS=$BUILD/bench/metaops
[ -x "$METAOPS" ] || { echo "syscalls.sh: $METAOPS missing (make $METAOPS)" >&2; exit 2; }

T=$(mktemp -d /tmp/ringfuse-syscalls.XXXXXX)
SRC=$T/tmpfs/src MNT=$T/mnt
SRV=""
cleanup() {
	set +e
	mountpoint -q "$MNT" && { umount "$MNT" 2>/dev/null || umount -l "$MNT"; }
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	mountpoint -q "$T/tmpfs" && umount "$T/tmpfs"
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/tmpfs" "$MNT"
if [ "${SRC_FS:-tmpfs}" = ext4 ]; then
	# A disk filesystem (the inline policy's "local" class), on a loop device.
	truncate -s 256m "$T/ext4.img"
	mkfs.ext4 -q -F "$T/ext4.img"
	mount -o loop "$T/ext4.img" "$T/tmpfs"
else
	mount -t tmpfs -o size=256m,mode=0755 syscalls-bench "$T/tmpfs"
fi
mkdir -p "$SRC"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ -w /sys/module/fuse/parameters/enable_uring ] && echo Y > /sys/module/fuse/parameters/enable_uring

# libfuse's passthrough_ll, unchanged (as the issue asks of the bench peers).
ll_bin() {
	local b=$BUILD/bench/passthrough_ll ex=/usr/share/doc/libfuse3-dev/examples
	if [ ! -x "$b" ]; then
		mkdir -p "$BUILD/bench"
		${CC:-cc} -O2 -w -I"$ex" $(pkg-config --cflags fuse3) -o "$b" "$ex/passthrough_ll.c" \
			$(pkg-config --libs fuse3) -lpthread >&2
	fi
	echo "$b"
}

start() {
	local s=$1 i
	case $s in
	rf-uring|rf-dev)
		"$BUILD/examples/passthrough" -f -o "source=$SRC,transport=${s#rf-},cache=never,timeout=0${RF_OPTS:+,$RF_OPTS}" \
			"$MNT" > "$T/$s.log" 2>&1 & ;;
	fuse3-ll)
		"$(ll_bin)" -f -o "source=$SRC,cache=never,timeout=0" "$MNT" > "$T/$s.log" 2>&1 & ;;
	fuse3-st)
		"$BUILD/bench/passthrough_fuse3" -f -o "source=$SRC,cache=never,single,timeout=0" \
			"$MNT" > "$T/$s.log" 2>&1 & ;;
	*) echo "syscalls.sh: unknown system $s" >&2; exit 2 ;;
	esac
	SRV=$!
	for i in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.05; done
	mountpoint -q "$MNT" || { echo "syscalls.sh: $s did not mount: $(tail -2 "$T/$s.log")" >&2; exit 1; }
	stat "$MNT" >/dev/null
}

stop() {
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	wait "$SRV" 2>/dev/null || true
	SRV=""
}

# The last rf_stats line of the server's log (written on SIGUSR1), or {}.
rf_stats() {
	local s=$1 n0 i
	case $s in rf-*) ;; *) echo '{}'; return ;; esac
	n0=$(grep -c 'stats: {' "$T/$s.log" || true)
	kill -USR1 "$SRV"
	for i in $(seq 50); do
		[ "$(grep -c 'stats: {' "$T/$s.log" || true)" -gt "$n0" ] && break
		sleep 0.02
	done
	grep -o 'stats: {.*' "$T/$s.log" | tail -1 | cut -c8-
}

printf '%-9s %-9s %8s %8s %8s %8s %8s %8s  %s\n' system op syscalls sqes punts ctxsw rf_enter rf_sqes "top system calls per op"
for s in "${SYSTEMS[@]}"; do
	start "$s"
	for op in create stat openclose unlink; do
		before=$(rf_stats "$s")
		: > "$T/strace.txt"
		if [ "${STRACE:-1}" = 1 ]; then
			strace -c -f -q -p "$SRV" -o "$T/strace.txt" &
			st=$!
		else
			sleep 30 & st=$!     # a stand-in for the wait below
		fi
		perf stat -x, -e io_uring:io_uring_submit_req,io_uring:io_uring_queue_async_work,context-switches \
			-p "$SRV" -o "$T/perf.txt" &
		pf=$!
		sleep 1                  # both attached (strace -f attaches every thread)
		"$METAOPS" -n "$N" "$op" "$MNT" > /dev/null
		kill -INT "$pf" "$st"
		wait "$pf" "$st" 2>/dev/null || true
		after=$(rf_stats "$s")
		python3 - "$s" "$op" "$N" "$T/strace.txt" "$T/perf.txt" "$before" "$after" "$OUT" <<'EOF'
import json, sys
s, op, n, stf, pff, before, after, out = sys.argv[1:]
n = int(n)
calls = {}
for line in open(stf):
    f = line.split()
    # "% time seconds usecs/call calls [errors] syscall"
    if len(f) >= 5 and f[0][0].isdigit() and not line.startswith("100.00"):
        name = f[-1]
        if name == "total":
            continue
        try:
            calls[name] = int(f[3])
        except ValueError:
            pass
ev = {}
for line in open(pff):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        ev[f[2]] = float(f[0])
total = sum(calls.values())
per = {
    "syscalls": round(total / n, 2),
    "sqes": round(ev.get("io_uring:io_uring_submit_req", 0) / n, 2),
    "punts": round(ev.get("io_uring:io_uring_queue_async_work", 0) / n, 2),
    "ctx_switches": round(ev.get("context-switches", 0) / n, 2),
}
b, a = json.loads(before or "{}"), json.loads(after or "{}")
for k in ("loop_enters", "loop_sqes"):
    if k in a and k in b:
        per["rf_" + k] = round((a[k] - b[k]) / n, 2)
by = {k: round(v / n, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1]) if v / n >= 0.05}
top = " ".join(f"{k}={v}" for k, v in list(by.items())[:6])
print(f"{s:9} {op:9} {per['syscalls']:8} {per['sqes']:8} {per['punts']:8} {per['ctx_switches']:8} "
      f"{per.get('rf_loop_enters', '-'):>8} {per.get('rf_loop_sqes', '-'):>8}  {top}")
if out:
    with open(out, "a") as o:
        o.write(json.dumps({"syscalls": True, "system": s, "op": op, "n": n, "per_op": per,
                            "by_syscall": by}) + "\n")
EOF
	done
	stop
	# The inline policy's cut-off may demote a source while strace slows every call.
	grep -h "on the ring for" "$T/$s.log" | sed "s/^/$s: /" >&2 || true
done
