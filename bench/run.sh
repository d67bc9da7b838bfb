#!/usr/bin/env bash
# bench/run.sh - the ringfuse benchmark: native tmpfs, ringfuse passthrough (both transports,
# cache=never/auto, kernel passthrough, busy-poll), nullfs (both transports), the libfuse3
# peers (bench/peers and libfuse's own passthrough_ll, multi- and single-threaded loops), and
# the libfuse3 binding's rows (libfuse's passthrough_ll, passthrough, passthrough_fh on
# Debian's libfuse3.so.3 and on ringfuse's), round-robin, median of the repetitions.
#
#   bench/run.sh                  full run (3 repetitions; about 17 min on 2 cores)
#   QUICK=1 bench/run.sh          every system and workload, shorter (< 4 min)
#
# Run as root from anywhere; `make bench` builds what it needs first. Environment:
#   BUILD=build/gcc  NOCHAINS_BUILD=build/nochains  OUT_DIR=build/bench
#   REPS=  RUNTIME_MS=  RAMP_MS=  N=  CAL_N=   override the mode's defaults
#   PIN=0               default: nothing pinned, as a user runs it (the targets are judged so)
#   PIN=1 PIN_CPU=0     QD1 and metadata workloads: client and server on one CPU (analysis)
#   POLL_US=50          the busy-poll system's -o poll_us=
#   BENCH_NICE=-10      nice of everything the bench starts (0: unchanged)
#   SYSTEMS="rf-uring-* ll-*"  a subset of systems (names or shell patterns; ONLY= is the same)
#   WORKLOADS="randread-* stat" a subset of workloads (a partial run: bench-smoke fails then)
#   SYSCALLS_TOOL=bench/tools/count-syscalls.sh  the syscalls-per-operation pass (skipped if absent)
# Output: a table on stdout, $OUT_DIR/results.json (every figure), $OUT_DIR/results.txt
# (the table) and $OUT_DIR/logs/ (server logs of the last run). See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
QUICK=${QUICK:-0}
case "$QUICK" in 1|yes|true) QUICK=1 ;; *) QUICK=0 ;; esac
BUILD=${BUILD:-build/gcc}
NOCHAINS_BUILD=${NOCHAINS_BUILD:-build/nochains}
OUT_DIR=${OUT_DIR:-build/bench}
REPORT="$REPO/bench/report.py"
case "$OUT_DIR" in /*) ;; *) OUT_DIR="$REPO/$OUT_DIR" ;; esac
BENCH_NICE=${BENCH_NICE:--10}   # other agents' load on this machine: see bench/README.md

if [ "$QUICK" = 1 ]; then
	# 26 systems in CI's time: fio's own start-up (~0.3-1 s on a loaded VM) dominates anyway
	REPS=${REPS:-1} RUNTIME_MS=${RUNTIME_MS:-150} RAMP_MS=${RAMP_MS:-100} N=${N:-500} CAL_N=${CAL_N:-100}
else
	REPS=${REPS:-3} RUNTIME_MS=${RUNTIME_MS:-700} RAMP_MS=${RAMP_MS:-250} N=${N:-19000} CAL_N=${CAL_N:-200}
fi
FILE_MB=256              # the fio data file
CACHED_MB=64             # what cached-reread reads of it (its first pass must fit the ramp)
NULLFS_SIZE=1G           # every nullfs file

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it mounts a tmpfs and FUSE filesystems)"
# Servers and clients run at nice $BENCH_NICE (inherited), so that other work on the machine
# disturbs the figures less; the load average is reported with every run either way.
[ "$BENCH_NICE" != 0 ] && renice -n "$BENCH_NICE" -p $$ >/dev/null
command -v python3 >/dev/null || die "python3 is missing (scripts/deps.sh bench installs it)"
if ! command -v fio >/dev/null; then
	echo "bench: fio is missing; installing it (apt-get install -y fio)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null || die "could not install fio"
fi
need=("$BUILD/examples/passthrough" "$BUILD/examples/nullfs" "$BUILD/bench/passthrough_fuse3" "$BUILD/bench/metaops")
# the chains-off build only when a -nochains system is selected (SYSTEMS=, below)
if [ -z "${SYSTEMS:-${ONLY:-}}" ] || [[ " ${SYSTEMS:-${ONLY:-}} " == *nochains* ]] ||
   [[ " ${SYSTEMS:-${ONLY:-}} " == *"*"* ]]; then
	need+=("$NOCHAINS_BUILD/examples/passthrough" "$NOCHAINS_BUILD/examples/nullfs")
fi
for b in "${need[@]}"; do
	[ -x "$b" ] || die "$b is missing: run 'make bench' (it builds everything first)"
done
BUILD=$(cd "$BUILD" && pwd) NOCHAINS_BUILD=$(cd "$NOCHAINS_BUILD" 2>/dev/null && pwd || echo "$NOCHAINS_BUILD")
METAOPS="$BUILD/bench/metaops"
# The libfuse3 binding's systems: libfuse's examples (Debian's libfuse3-dev), built by
# bindings/fuse3/fuse3.mk and the Makefile's bench section. Missing ones are reported
# unavailable with the reason, not silently dropped.
LL_LIBFUSE="$BUILD/fuse3/peer/passthrough_ll"      # linked with Debian's libfuse3
LL_SRC="$BUILD/fuse3/examples/passthrough_ll"      # the same source built against ringfuse-fuse3
HL_BIN="$BUILD/bench/hl_passthrough" FH_BIN="$BUILD/bench/hl_passthrough_fh"
RF_LIBDIR="$BUILD/fuse3"                           # ringfuse's libfuse3.so.3 (the drop-in)
POLL_US=${POLL_US:-50}
SYSCALLS_TOOL=${SYSCALLS_TOOL:-$REPO/bench/tools/count-syscalls.sh}

# ---- the systems -------------------------------------------------------------------------
# Main systems run every workload; aux systems (the chains-off build) run a few, right after
# the system they are compared with.
MAIN_SYSTEMS=(native rf-dev-never rf-uring-never rf-dev-auto rf-uring-auto rf-dev-kpt rf-uring-kpt
	      nullfs-dev nullfs-uring fuse3-mt-never fuse3-st-never fuse3-mt-auto fuse3-st-auto
	      ll-mt-never ll-st-never ll-rf-mt-never ll-rf-st-never llsrc-mt-never llsrc-st-never
	      hl-mt hl-rf-mt fh-mt fh-rf-mt)
# Variants of a main system ("twin"): the chains-off builds, busy-poll, and the binding's
# multi-threaded loop on its worker pool (-o mt_pool) instead of its ring loops. They run a
# few workloads, right after their twin, and are compared with it pair by pair.
AUX_SYSTEMS=(rf-uring-never-nochains nullfs-uring-nochains rf-uring-never-poll
	     ll-rf-mt-never-pool hl-rf-mt-pool fh-rf-mt-pool)
twin_of() { local s=${1%-nochains}; s=${s%-pool}; echo "${s%-poll}"; }
is_aux() { case "$1" in *-nochains|*-poll|*-pool) return 0 ;; *) return 1 ;; esac; }
# Server instances per system and repetition (a "phase" each):
#  lat    QD1 and metadata workloads: one request at a time, so what is measured is the cost
#         of a round trip. With PIN=1, client and server (all its threads) run on CPU
#         $PIN_CPU: on this VM a wakeup across CPUs costs ~20 us and where the scheduler puts
#         the two decides the result by up to 5x (bench/README.md). Default PIN=0: unpinned,
#         as a user runs it; the issue-13 targets are judged on this.
#  tput   QD16 x 2 jobs and 1 MiB sequential: unpinned, both CPUs. With PIN=0, lat and tput
#         are one server instance (the same options, nothing to separate them).
#  cache  cached-reread, with the cache mode's default timeouts (see sys_cmd).
LAT_WORKLOADS=(randread-4k-qd1 randwrite-4k-qd1 create stat openclose unlink)
TPUT_WORKLOADS=(randread-4k-qd16 randwrite-4k-qd16 seqread-1m seqwrite-1m)
CACHE_WORKLOADS=(cached-reread)
AUX_LAT_WORKLOADS=(randread-4k-qd1 create stat unlink)
AUX_TPUT_WORKLOADS=(randread-4k-qd16)
PIN=${PIN:-0}
case "$PIN" in 1|yes|true) PIN=1 ;; *) PIN=0 ;; esac
PIN_CPU=${PIN_CPU:-0}
PIN_CMD=()                     # prefix of servers and clients in the lat phase

ORDER=()                       # one round: each aux system right after its twin
for s in "${MAIN_SYSTEMS[@]}"; do
	ORDER+=("$s")
	for a in "${AUX_SYSTEMS[@]}"; do [ "$(twin_of "$a")" = "$s" ] && ORDER+=("$a"); done
done
# matches LIST NAME: NAME is one of the words (or shell patterns) of LIST.
matches() { local - p; set -f; for p in $1; do [[ $2 == $p ]] && return 0; done; return 1; }
SYSTEMS=${SYSTEMS:-${ONLY:-}}
PARTIAL=0
if [ -n "$SYSTEMS" ]; then
	sel=()
	for s in "${ORDER[@]}"; do matches "$SYSTEMS" "$s" && sel+=("$s"); done
	[ ${#sel[@]} -gt 0 ] || die "SYSTEMS=\"$SYSTEMS\" selects no system (known: ${ORDER[*]})"
	[ ${#sel[@]} -eq ${#ORDER[@]} ] || PARTIAL=1
	ORDER=("${sel[@]}")
fi
if [ -n "${WORKLOADS:-}" ]; then
	# stat and unlink work on the files create made: selecting them selects create too
	for w in stat unlink; do
		matches "$WORKLOADS" "$w" && ! matches "$WORKLOADS" create && WORKLOADS="$WORKLOADS create"
	done
	filter_wl() {       # filter_wl ARRAYNAME: keep the workloads WORKLOADS= selects
		local -n arr=$1
		local w out=()
		for w in "${arr[@]}"; do matches "$WORKLOADS" "$w" && out+=("$w"); done
		arr=("${out[@]}")
	}
	for v in LAT_WORKLOADS TPUT_WORKLOADS CACHE_WORKLOADS AUX_LAT_WORKLOADS AUX_TPUT_WORKLOADS; do
		filter_wl $v
	done
	[ $(( ${#LAT_WORKLOADS[@]} + ${#TPUT_WORKLOADS[@]} + ${#CACHE_WORKLOADS[@]} )) -gt 0 ] ||
		die "WORKLOADS=\"$WORKLOADS\" selects no workload"
	[ $(( ${#LAT_WORKLOADS[@]} + ${#TPUT_WORKLOADS[@]} + ${#CACHE_WORKLOADS[@]} )) -eq 11 ] || PARTIAL=1
fi

# ---- private scratch space, and leaving nothing behind ---------------------------------------
T=$(mktemp -d /tmp/ringfuse-bench.XXXXXX)
TMPFS="$T/tmpfs" SRC="$T/tmpfs/src" MNT="$T/mnt" LOGS="$T/logs" RAW="$T/raw.jsonl"
PIDS=()                        # every server started (killed by pid in cleanup)
SRV_PID="" SRV_LOG=""
START_TS=$EPOCHREALTIME

fuse_mounts_under_T() {
	awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
cleanup() {
	local rc=$? p m i
	set +e
	trap - EXIT INT TERM
	for m in $(fuse_mounts_under_T); do
		[ "$m" = "$TMPFS" ] && continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		pid_alive "$p" || continue
		for i in $(seq 50); do pid_alive "$p" || break; sleep 0.1; done
		pid_alive "$p" && kill -TERM "$p" 2>/dev/null
		for i in $(seq 30); do pid_alive "$p" || break; sleep 0.1; done
		pid_alive "$p" && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for m in $(fuse_mounts_under_T); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	if [ -d "$LOGS" ] && [ -n "${OUT_DIR:-}" ]; then
		rm -rf "$OUT_DIR/logs" && mkdir -p "$OUT_DIR" && cp -r "$LOGS" "$OUT_DIR/logs"
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted; cleaning up" >&2; exit 130' INT TERM

mkdir -p "$TMPFS" "$MNT" "$LOGS" "$T/res" "$OUT_DIR"
mount -t tmpfs -o size=2g,mode=0755 ringfuse-bench "$TMPFS"
mkdir -p "$SRC"
dd if=/dev/zero of="$SRC/data" bs=1M count=$FILE_MB status=none
: > "$RAW"

# Every server holds an fd per inode it knows (ours and the peer): raise the soft limit to
# the hard one. metaops -n N needs N + a few; this machine's hard limit is 20000.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

# FUSE-over-io_uring must be switched on in the fuse module (root only).
URING_PARAM=/sys/module/fuse/parameters/enable_uring
if [ -w "$URING_PARAM" ]; then
	echo Y > "$URING_PARAM" 2>/dev/null || true
fi
URING_STATE=$(cat "$URING_PARAM" 2>/dev/null || echo "absent")

declare -A UNAVAIL=()          # system -> reason

START_US=${EPOCHREALTIME/./}
elapsed() { printf '%4ds' $(( (${EPOCHREALTIME/./} - START_US) / 1000000 )); }
say() { echo "[$(elapsed)] $*"; }

# ---- starting and stopping servers ----------------------------------------------------------
# sys_cmd SYSTEM PHASE -> BIN, OPTS, ARGS (more arguments), SRV_ENV (environment of the
# server alone), WDIR (where the workloads run). PHASE lat/tput: timeouts 0 (every
# stat/lookup reaches the server); PHASE cache: the mode's default timeouts (for
# cached-reread: at timeout 0 the kernel would ask for the attributes before every read,
# auto_inval_data).
sys_cmd() {
	local s=$1 phase=$2 b=$BUILD base poll="" pool=""
	ARGS=() SRV_ENV=() WDIR=$MNT
	case "$s" in *-nochains) b=$NOCHAINS_BUILD; s=${s%-nochains} ;; esac
	case "$s" in *-poll) poll=",poll_us=$POLL_US"; s=${s%-poll} ;; esac
	case "$s" in *-pool) pool="mt_pool"; s=${s%-pool} ;; esac   # a ringfuse option
	case "$s" in
	rf-*)
		IFS=- read -r _ tr mode <<< "$s"
		BIN="$b/examples/passthrough"
		base="source=$SRC,transport=$tr,log_level=info$poll"  # info: the transport line
		case "$mode" in
		never) OPTS="$base,cache=never" ;;
		auto) OPTS="$base,cache=auto" ;;
		kpt) OPTS="$base,cache=auto,passthrough" ;;
		esac ;;
	nullfs-*)
		BIN="$b/examples/nullfs"
		OPTS="transport=${s#nullfs-},size=$NULLFS_SIZE,log_level=info"
		# like cache=never: every read reaches the server once (no GETATTR per read from
		# auto_inval_data at timeout 0); the cache phase uses the page cache
		[ "$phase" != cache ] && OPTS="$OPTS,direct_io" ;;
	fuse3-*)
		IFS=- read -r _ loop mode <<< "$s"
		BIN="$BUILD/bench/passthrough_fuse3"
		OPTS="source=$SRC,cache=$mode"
		[ "$loop" = st ] && OPTS="$OPTS,single" ;;
	ll-*|llsrc-*)
		# libfuse's passthrough_ll, unchanged: -s is its single-threaded loop. ll-rf-*: the
		# binary linked with Debian's libfuse3, loading ringfuse's libfuse3.so.3 instead.
		BIN=$LL_LIBFUSE
		case "$s" in
		llsrc-*) BIN=$LL_SRC ;;
		ll-rf-*) SRV_ENV=("LD_LIBRARY_PATH=$RF_LIBDIR") ;;
		esac
		OPTS="source=$SRC,cache=never${pool:+,$pool}"
		case "$s" in *-st-*) ARGS=(-s) ;; esac ;;
	hl-*|fh-*)
		# libfuse's high-level passthrough.c / passthrough_fh.c, run as they come: they
		# mirror / (no source option) and set every timeout to 0 in their init. No
		# direct_io (libfuse 3.14's fuse_main has no such option): O_DIRECT reads still
		# reach the server every time, after a GETATTR (auto_inval_data at timeout 0).
		BIN=$HL_BIN
		case "$s" in fh-*) BIN=$FH_BIN ;; esac
		case "$s" in *-rf-*) SRV_ENV=("LD_LIBRARY_PATH=$RF_LIBDIR") ;; esac
		OPTS=$pool
		case "$s" in *-st) ARGS=(-s) ;; esac
		WDIR="$MNT$SRC"
		return 0 ;;
	*) die "unknown system $s" ;;
	esac
	[ "$phase" != cache ] && OPTS="$OPTS,timeout=0"
	return 0
}

# check_system SYSTEM: sets UNAVAIL[SYSTEM] (with the reason) when it cannot run here: a
# libfuse example missing, or ringfuse's libfuse3.so.3 lacking a symbol the program needs
# (the dynamic linker would refuse to start it).
check_system() {
	local s=$1 missing
	case "$s" in ll-*|llsrc-*|hl-*|fh-*) ;; *) return 0 ;; esac
	sys_cmd "$s" lat
	if [ ! -x "$BIN" ]; then
		UNAVAIL[$s]="not built: $BIN (needs Debian's libfuse3-dev examples in /usr/share/doc/libfuse3-dev/examples)"
		return 0
	fi
	[ ${#SRV_ENV[@]} -gt 0 ] || return 0
	if [ ! -e "$RF_LIBDIR/libfuse3.so.3" ]; then
		UNAVAIL[$s]="not built: $RF_LIBDIR/libfuse3.so.3 (make fuse3)"
		return 0
	fi
	# versioned symbols the program imports from libfuse3 that the drop-in does not define
	missing=$(comm -23 <(nm -D --undefined-only "$BIN" | awk '$2 ~ /^(fuse|cuse)_/ {print $2}' | sort -u) \
		<(nm -D --defined-only "$RF_LIBDIR/libfuse3.so.3" | awk '{print $3}' | sed 's/@@/@/' | sort -u) |
		tr '\n' ' ')
	if [ -n "$missing" ]; then
		case "$missing" in
		*fuse_main_real*) UNAVAIL[$s]="not run: the binding has no fuse_main (ringfuse's libfuse3.so.3 lacks $missing)" ;;
		*) UNAVAIL[$s]="not run: ringfuse's libfuse3.so.3 lacks $missing" ;;
		esac
	fi
	return 0
}

mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# start_server SYSTEM PHASE [extra args...]: mounts at $MNT, sets SRV_PID. Returns 1 (with
# UNAVAIL set) if the system cannot run here.
start_server() {
	local s=$1 phase=$2 i
	shift 2
	sys_cmd "$s" "$phase"
	SRV_LOG="$LOGS/$s.log"
	[ -n "$OPTS" ] && ARGS=(-o "$OPTS" "${ARGS[@]}")
	echo "=== $(date +%T) $phase: ${SRV_ENV[*]} $BIN -f ${ARGS[*]} $* $MNT" >> "$SRV_LOG"
	# env execs the server: $SRV_PID is the server itself (its CPU is read from /proc)
	"${PIN_CMD[@]}" env "${SRV_ENV[@]}" "$BIN" -f "${ARGS[@]}" "$@" "$MNT" >> "$SRV_LOG" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	for i in $(seq 100); do
		mounted "$MNT" && break
		if ! pid_alive "$SRV_PID"; then
			wait "$SRV_PID" 2>/dev/null || true
			UNAVAIL[$s]="server exited before mounting (see logs/$s.log: $(tail -1 "$SRV_LOG"))"
			SRV_PID=""
			return 1
		fi
		sleep 0.05
	done
	if ! mounted "$MNT"; then
		UNAVAIL[$s]="not mounted after 5 s"
		stop_server
		return 1
	fi
	stat "$WDIR/data" >/dev/null         # INIT done: the transport line is in the log
	case "$s" in
	*-uring-*|*-uring)
		if ! grep -q "transport: FUSE-over-io_uring" "$SRV_LOG"; then
			UNAVAIL[$s]="io_uring transport unavailable: $(grep -o 'transport: .*' "$SRV_LOG" | tail -1)"
			[ "${UNAVAIL[$s]}" = "io_uring transport unavailable: " ] &&
				UNAVAIL[$s]="io_uring transport unavailable: the server did not log 'transport: FUSE-over-io_uring'"
			[ "$URING_STATE" = absent ] && UNAVAIL[$s]="io_uring transport unavailable: no $URING_PARAM (kernel < 6.14)"
			stop_server
			return 1
		fi ;;
	esac
	case "$s" in
	*-kpt*)
		if grep -q "kernel passthrough not used\|kernel passthrough disabled" "$SRV_LOG"; then
			UNAVAIL[$s]="kernel passthrough not allowed: $(grep 'kernel passthrough' "$SRV_LOG" | tail -1)"
			stop_server
			return 1
		fi ;;
	esac
	return 0
}

# server_stats SYSTEM PHASE: a ringfuse server writes its live statistics (rf_stats_json) to
# its log on SIGUSR1; the last line is kept in the raw results, beside the figures.
server_stats() {
	local s=$1 phase=$2 n0 i line
	case "$s" in rf-*|nullfs-*) ;; *) return 0 ;; esac
	n0=$(grep -c 'stats: {' "$SRV_LOG" || true)
	kill -USR1 "$SRV_PID" 2>/dev/null || return 0
	for i in $(seq 40); do
		[ "$(grep -c 'stats: {' "$SRV_LOG" || true)" -gt "$n0" ] && break
		sleep 0.05
	done
	line=$(grep -o 'stats: {.*' "$SRV_LOG" | tail -1 | cut -c8-)
	[ -n "$line" ] && [ "$(grep -c 'stats: {' "$SRV_LOG" || true)" -gt "$n0" ] &&
		python3 -c 'import json, sys; json.loads(sys.argv[1])' "$line" 2>/dev/null &&
		echo "{\"stats\":true,\"system\":\"$s\",\"phase\":\"$phase\",\"json\":$line}" >> "$RAW"
	return 0
}

stop_server() {
	local i
	[ -n "$SRV_PID" ] || return 0
	if mounted "$MNT"; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	fi
	for i in $(seq 100); do pid_alive "$SRV_PID" || break; sleep 0.05; done
	if pid_alive "$SRV_PID"; then
		echo "bench: server $SRV_PID did not exit after unmount; SIGTERM" >&2
		kill -TERM "$SRV_PID" 2>/dev/null || true
		for i in $(seq 50); do pid_alive "$SRV_PID" || break; sleep 0.1; done
		pid_alive "$SRV_PID" && kill -KILL "$SRV_PID" 2>/dev/null
	fi
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
	mounted "$MNT" && { umount -l "$MNT" 2>/dev/null || true; }
	return 0
}

# ---- workloads --------------------------------------------------------------------------------
# proc_sample PID -> "utime+stime minflt" (clock ticks, faults) of the whole process.
proc_sample() {
	local s
	[ -n "$1" ] && s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo "- -"; return; }
	s=${s##*) }
	set -- $s
	echo "$(( ${12} + ${13} )) $8"
}

# proc_sample_file FILE: the same from a saved copy of /proc/PID/stat (fio's exec_prerun).
proc_sample_file() {
	local s
	s=$(tail -n 1 "$1" 2>/dev/null) && [ -n "$s" ] || { echo "- -"; return; }
	s=${s##*) }
	set -- $s
	echo "$(( ${12} + ${13} )) $8"
}

fio_args() {       # fio_args WORKLOAD FILE: one fio job (its options after --name)
	local w=$1 f=$2
	local c=(--name="$w" --filename="$f" --size=${FILE_MB}M --time_based --runtime=${RUNTIME_MS}ms
		 --norandommap --randrepeat=0)
	case "$w" in
	randread-4k-qd1)   c+=(--rw=randread --bs=4k --direct=1 --ioengine=psync --numjobs=1
			       --lat_percentiles=1 --percentile_list=50:99) ;;
	randwrite-4k-qd1)  c+=(--rw=randwrite --bs=4k --direct=1 --ioengine=psync --numjobs=1
			       --lat_percentiles=1 --percentile_list=50:99) ;;
	randread-4k-qd16)  c+=(--rw=randread --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --numjobs=2) ;;
	randwrite-4k-qd16) c+=(--rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --numjobs=2) ;;
	seqread-1m)        c+=(--rw=read --bs=1M --direct=1 --ioengine=psync --numjobs=1) ;;
	seqwrite-1m)       c+=(--rw=write --bs=1M --direct=1 --ioengine=psync --numjobs=1) ;;
	cached-reread)     c+=(--rw=read --bs=128k --direct=0 --invalidate=0 --ioengine=psync --numjobs=1
			       --ramp_time=${RAMP_MS}ms --size=${CACHED_MB}M) ;;
	esac
	printf '%s\n' "${c[@]}"
}

# json_str TEXT: TEXT as a JSON string (quotes, backslashes and control characters dropped).
json_str() { printf '"%s"' "$(printf '%s' "$1" | tr -d '"\\' | tr '\n\t\r' '   ' | cut -c1-400)"; }

# figure WORKLOAD FILE: the headline number of a metaops result, and fio_figures FILE those
# of a fio run, for the progress lines only (report.py parses the files properly at the end).
figure() { sed -n 's/.*"ops_per_sec":\([0-9.]*\).*/\1 ops\/s/p' "$2" | tail -1; }
fio_figures() {
	python3 -c '
import json, sys
t = open(sys.argv[1]).read()
out = []
for j in json.loads(t[t.index("{"):])["jobs"]:
    w = j["jobname"]
    d = j["write" if "write" in w else "read"]
    out.append("%s %.0f %s" % (w, d["iops"], "IOPS") if w.startswith("rand") else
               "%s %.0f MiB/s" % (w, d["bw_bytes"] / 1048576))
print(", ".join(out))' "$1" 2>/dev/null || echo "(fio output unreadable)"
}

# run_fio REP SYSTEM DIR WORKLOAD...: the fio workloads of a phase in ONE fio run, one job
# after the other (stonewall; new_group: a result per job). fio's own start-up (it loads 64
# libraries) costs 0.3-1 s on this VM, more than a QUICK workload, so one start per phase.
# Each job samples the server's /proc/PID/stat right before and after it (exec_prerun/
# exec_postrun, in the job's directory as JOB.prerun.txt), so its CPU window is its own.
# One line per workload in $RAW, as run_workload writes them.
run_fio() {
	local rep=$1 s=$2 dir=$3 w bdir out rc=0 tlimit=60 before after msg
	local -a args=(--output-format=json --group_reporting --disk_util=0) job
	shift 3
	NRES=$(( NRES + 1 ))
	bdir="$T/res/$NRES-$s-fio" out="$T/res/$NRES-$s-fio/fio.json"
	mkdir -p "$bdir"
	for w in "$@"; do
		mapfile -t job < <(fio_args "$w" "$dir/data")
		args+=("${job[@]}" --stonewall --new_group)
		[ -n "$SRV_PID" ] && args+=(--exec_prerun="cat /proc/$SRV_PID/stat"
					    --exec_postrun="cat /proc/$SRV_PID/stat")
		tlimit=$(( tlimit + (RUNTIME_MS + RAMP_MS) / 1000 + 30 ))
	done
	(cd "$bdir" && exec "${PIN_CMD[@]}" timeout "$tlimit" fio "${args[@]}" --output="$out") \
		> "$T/wl.log" 2>&1 || rc=$?
	for w in "$@"; do
		if [ "$rc" -ne 0 ] || [ ! -s "$out" ] || ! grep -q "\"jobname\" : \"$w\"" "$out"; then
			msg="fio exit status $rc: $(cat "$T/wl.log")"
			echo "{\"rep\":$rep,\"system\":\"$s\",\"workload\":\"$w\",\"error\":$(json_str "$msg")}" >> "$RAW"
			say "   rep $rep  $s  $w: FAILED: $(json_str "$msg")" >&2
			continue
		fi
		before="- -" after="- -"
		if [ -n "$SRV_PID" ]; then
			before=$(proc_sample_file "$bdir/$w.prerun.txt")
			after=$(proc_sample_file "$bdir/$w.postrun.txt")
		fi
		echo "{\"rep\":$rep,\"system\":\"$s\",\"workload\":\"$w\",\"file\":\"$out\",\"job\":\"$w\",\"before\":\"$before\",\"after\":\"$after\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RAW"
	done
	[ "$rc" -eq 0 ] && say "   rep $rep  $s  $(fio_figures "$out")"
	return 0
}

# run_workload REP SYSTEM WORKLOAD DIR: one measurement: its result file in $T/res and one
# line in $RAW naming it, with the server's CPU ticks and minor faults before and after.
NRES=0
run_workload() {
	local rep=$1 s=$2 w=$3 dir=$4 before after out rc=0 tlimit msg
	local -a args
	NRES=$(( NRES + 1 ))
	out="$T/res/$NRES-$s-$w.json"
	before=$(proc_sample "$SRV_PID")
	tlimit=$(( N / 200 + 60 ))
	"${PIN_CMD[@]}" timeout "$tlimit" "$METAOPS" -n "$N" -j "$out" "$w" "$dir" > "$T/wl.log" 2>&1 || rc=$?
	after=$(proc_sample "$SRV_PID")
	if [ "$rc" -ne 0 ] || [ ! -s "$out" ]; then
		msg="exit status $rc: $(cat "$T/wl.log")"
		echo "{\"rep\":$rep,\"system\":\"$s\",\"workload\":\"$w\",\"error\":$(json_str "$msg")}" >> "$RAW"
		say "   rep $rep  $s  $w: FAILED: $(json_str "$msg")" >&2
		return 0
	fi
	echo "{\"rep\":$rep,\"system\":\"$s\",\"workload\":\"$w\",\"file\":\"$out\",\"before\":\"$before\",\"after\":\"$after\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RAW"
	say "   rep $rep  $s  $w: $(figure "$w" "$out")"
}

# Remove what an interrupted metaops may have left in the source (not for nullfs: fresh).
clean_source() { find "$SRC" -maxdepth 1 -name 'f[0-9]*' -delete 2>/dev/null || true; }

# run_phase REP SYSTEM PHASE WORKLOAD...: one server instance (none for native), its workloads.
run_phase() {
	local rep=$1 s=$2 phase=$3 w dir
	shift 3
	[ -n "${UNAVAIL[$s]:-}" ] && return 0
	[ $# -gt 0 ] || return 0                 # WORKLOADS= left nothing for this phase
	PIN_CMD=()
	[ "$phase" = lat ] && [ "$PIN" = 1 ] && PIN_CMD=(taskset -c "$PIN_CPU")
	if [ "$s" = native ]; then
		SRV_PID="" dir=$SRC
	elif ! start_server "$s" "$phase"; then
		say "   rep $rep  $s: unavailable (${UNAVAIL[$s]})"
		PIN_CMD=()
		return 0
	else
		dir=$WDIR
	fi
	local -a fio_wl=() meta_wl=()
	for w in "$@"; do
		case "$w" in create|stat|openclose|unlink) meta_wl+=("$w") ;; *) fio_wl+=("$w") ;; esac
	done
	[ ${#fio_wl[@]} -gt 0 ] && run_fio "$rep" "$s" "$dir" "${fio_wl[@]}"
	for w in "${meta_wl[@]}"; do run_workload "$rep" "$s" "$w" "$dir"; done
	[ "$s" = native ] || server_stats "$s" "$phase"
	[ "$s" = native ] || stop_server
	case "$s" in
	*-kpt*)      # an open that failed to get a backing id switched passthrough off
		if grep -q "kernel passthrough disabled" "$SRV_LOG"; then
			UNAVAIL[$s]="kernel passthrough failed during the run: $(grep 'kernel passthrough disabled' "$SRV_LOG" | tail -1)"
		fi ;;
	esac
	PIN_CMD=()
	clean_source
}

run_system() {            # run_system REP SYSTEM
	local rep=$1 s=$2
	[ -n "${UNAVAIL[$s]:-}" ] && { say "   rep $rep  $s: unavailable (${UNAVAIL[$s]})"; return 0; }
	clean_source
	if is_aux "$s" && [ "$PIN" = 1 ]; then
		run_phase "$rep" "$s" lat "${AUX_LAT_WORKLOADS[@]}"
		run_phase "$rep" "$s" tput "${AUX_TPUT_WORKLOADS[@]}"
	elif is_aux "$s"; then                   # unpinned: one instance for both
		run_phase "$rep" "$s" lat "${AUX_LAT_WORKLOADS[@]}" "${AUX_TPUT_WORKLOADS[@]}"
	elif [ "$PIN" = 1 ]; then
		run_phase "$rep" "$s" lat "${LAT_WORKLOADS[@]}"
		run_phase "$rep" "$s" tput "${TPUT_WORKLOADS[@]}"
		run_phase "$rep" "$s" cache "${CACHE_WORKLOADS[@]}"
	else
		run_phase "$rep" "$s" lat "${LAT_WORKLOADS[@]}" "${TPUT_WORKLOADS[@]}"
		run_phase "$rep" "$s" cache "${CACHE_WORKLOADS[@]}"
	fi
}

# ---- calibration: requests reaching the server per operation (debug logs) --------------------
CAL_SYSTEMS=(rf-uring-never rf-uring-auto nullfs-uring fuse3-mt-never ll-mt-never)
[ "$QUICK" = 1 ] && CAL_SYSTEMS=(rf-uring-never ll-mt-never)    # the mechanism, not the survey
calibrate() {
	local s op log kind n0 dir
	for s in "${CAL_SYSTEMS[@]}"; do
		[ -n "$SYSTEMS" ] && ! matches "$SYSTEMS" "$s" && continue
		[ -n "${UNAVAIL[$s]:-}" ] && continue
		clean_source
		start_server "$s" main -d 2>/dev/null || continue
		log="$T/cal-$s.log" kind=ringfuse
		case "$s" in fuse3-*|ll-*) kind=libfuse ;; esac
		for op in create stat openclose unlink randread-4k; do
			sleep 0.2
			cp "$SRV_LOG" "$log.$op.0"
			if [ "$op" = randread-4k ]; then
				dd if="$WDIR/data" of=/dev/null bs=4k count="$CAL_N" iflag=direct status=none
			else
				"$METAOPS" -n "$CAL_N" "$op" "$WDIR" > /dev/null
			fi
			sleep 0.3        # let asynchronous RELEASE/FORGET arrive
			cp "$SRV_LOG" "$log.$op.1"
			echo "{\"calib\":true,\"system\":\"$s\",\"workload\":\"$op\",\"n\":$CAL_N,\"kind\":\"$kind\",\"before\":\"$log.$op.0\",\"after\":\"$log.$op.1\"}" >> "$RAW"
		done
		stop_server
		say "   calibration $s: done"
	done
	clean_source
}

# ---- system calls per operation (strace -c), through $SYSCALLS_TOOL if it exists -------------
# The interface (bench/README.md, "System calls per operation"):
#   $SYSCALLS_TOOL PID -- CMD [ARG...]
# runs CMD while counting the system calls of process PID and all its threads, and prints
# one JSON object on stdout: {"name": calls, ...}, or {"calls": {"name": calls, ...}, ...}
# with anything else it wants to keep. The bench divides the counts by the operations of
# CMD (report.py) and keeps the object as it came in results.json (per system, "syscalls").
if [ "$QUICK" = 1 ]; then
	SYSCALL_SYSTEMS=${SYSCALL_SYSTEMS:-"rf-uring-never ll-mt-never"}
else
	SYSCALL_SYSTEMS=${SYSCALL_SYSTEMS:-"rf-* nullfs-* fuse3-* ll-* llsrc-* hl-* fh-*"}  # every server
fi
SYSCALL_WORKLOADS=(randread-4k-qd1 create stat openclose unlink)
SYSCALLS_NOTE=""
syscalls_pass() {
	local s op out rc
	local -a cmd
	if [ ! -x "$SYSCALLS_TOOL" ]; then
		SYSCALLS_NOTE="not measured: $SYSCALLS_TOOL does not exist"
		say "   system calls per operation: $SYSCALLS_NOTE"
		return 0
	fi
	SYSCALLS_NOTE="$SYSCALLS_TOOL, N=$CAL_N per workload, server unpinned, after the repetitions"
	for s in "${ORDER[@]}"; do
		{ [ "$s" = native ] || is_aux "$s"; } && continue
		matches "$SYSCALL_SYSTEMS" "$s" || continue
		[ -n "${UNAVAIL[$s]:-}" ] && continue
		clean_source
		start_server "$s" lat || continue
		for op in "${SYSCALL_WORKLOADS[@]}"; do
			[ -n "${WORKLOADS:-}" ] && ! matches "$WORKLOADS" "$op" && continue
			case "$op" in
			randread-4k-qd1) cmd=(dd if="$WDIR/data" of=/dev/null bs=4k count="$CAL_N" iflag=direct status=none) ;;
			*) cmd=("$METAOPS" -n "$CAL_N" "$op" "$WDIR") ;;
			esac
			out="$T/sys-$s-$op.json" rc=0
			timeout 120 "$SYSCALLS_TOOL" "$SRV_PID" -- "${cmd[@]}" > "$out" 2> "$T/sys.err" || rc=$?
			if [ "$rc" -ne 0 ]; then
				echo "{\"syscalls\":true,\"system\":\"$s\",\"workload\":\"$op\",\"n\":$CAL_N,\"error\":$(json_str "exit status $rc: $(cat "$T/sys.err")")}" >> "$RAW"
			else
				echo "{\"syscalls\":true,\"system\":\"$s\",\"workload\":\"$op\",\"n\":$CAL_N,\"file\":\"$out\"}" >> "$RAW"
			fi
		done
		stop_server
		say "   system calls per operation $s: done"
	done
	clean_source
}

# ---- the run ----------------------------------------------------------------------------------
say "ringfuse bench: $( [ "$QUICK" = 1 ] && echo QUICK || echo FULL ) run, $REPS repetition(s), fio ${RUNTIME_MS} ms per workload, metaops N=$N, ${#ORDER[@]} systems"
say "machine: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "enable_uring: $URING_STATE; RLIMIT_NOFILE $NOFILE; nice $BENCH_NICE; QD1/metadata pinned: $( [ "$PIN" = 1 ] && echo "CPU $PIN_CPU" || echo no); scratch $T"
for s in "${ORDER[@]}"; do
	check_system "$s"
	[ -n "${UNAVAIL[$s]:-}" ] && say "$s: unavailable (${UNAVAIL[$s]})"
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
LOADS=()
n=${#ORDER[@]}
for rep in $(seq "$REPS"); do
	LOADS+=("$(cut -d' ' -f1-3 /proc/loadavg)")
	say "== repetition $rep/$REPS (load ${LOADS[-1]}) =="
	for i in $(seq 0 $(( n - 1 ))); do
		# rotate the starting system each repetition; aux systems stay after their twin
		s=${ORDER[$(( (i + (rep - 1) * 3) % n ))]}
		# an aux system runs right after its twin (alone if SYSTEMS= left the twin out)
		if is_aux "$s" && matches "${ORDER[*]}" "$(twin_of "$s")"; then continue; fi
		run_system "$rep" "$s"
		for a in "${ORDER[@]}"; do
			is_aux "$a" && [ "$(twin_of "$a")" = "$s" ] && run_system "$rep" "$a"
		done
	done
done
say "== calibration: requests per operation (-d logs, N=$CAL_N) =="
calibrate
say "== system calls per operation (N=$CAL_N) =="
syscalls_pass
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
END_TS=$EPOCHREALTIME

unavail_args=()
for s in "${!UNAVAIL[@]}"; do unavail_args+=(--unavailable "$s=${UNAVAIL[$s]}"); done
python3 "$REPORT" report --raw "$RAW" --out "$OUT_DIR/results.json" --text "$OUT_DIR/results.txt" \
	--quick "$QUICK" --reps "$REPS" --runtime-ms "$RUNTIME_MS" --ramp-ms "$RAMP_MS" --n "$N" --cal-n "$CAL_N" \
	--file-mb "$FILE_MB" --nofile "$NOFILE" --enable-uring "$URING_STATE" \
	--load-start "$LOAD_START" --load-end "$LOAD_END" --loads "$(IFS=';'; echo "${LOADS[*]}")" \
	--start "$START_TS" --end "$END_TS" --systems "${ORDER[*]}" --nice "$BENCH_NICE" \
	--pin "$( [ "$PIN" = 1 ] && echo "cpu $PIN_CPU" || echo none)" "${unavail_args[@]}" \
	--workloads "${LAT_WORKLOADS[*]} ${TPUT_WORKLOADS[*]} ${CACHE_WORKLOADS[*]}" \
	--partial "$PARTIAL" --poll-us "$POLL_US" --syscalls-note "$SYSCALLS_NOTE"
if [ "$QUICK" = 0 ] && [ "$PARTIAL" = 0 ]; then        # the last FULL run stays available after QUICK runs
	cp "$OUT_DIR/results.json" "$OUT_DIR/results-full.json"
	cp "$OUT_DIR/results.txt" "$OUT_DIR/results-full.txt"
fi
say "results: ${OUT_DIR#$REPO/}/results.json, table: ${OUT_DIR#$REPO/}/results.txt, server logs: ${OUT_DIR#$REPO/}/logs/"
