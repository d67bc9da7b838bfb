#!/usr/bin/env bash
# count-syscalls.sh PID -- CMD [ARG...] : the system calls of process PID (every thread) while
# CMD runs, as one JSON object on stdout: {"calls": {"name": count, ...}, "tool": "strace -c"}.
# This is bench/run.sh's SYSCALLS_TOOL interface (bench/README.md, "System calls per
# operation"); bench/tools/syscalls.sh is the stand-alone analysis (SQEs, punts, context
# switches) that mounts its own servers. Exit status: CMD's, or 2 on a usage error.
set -uo pipefail
[ $# -ge 3 ] && [ "$2" = -- ] || { echo "usage: $0 PID -- CMD [ARG...]" >&2; exit 2; }
pid=$1; shift 2
command -v strace >/dev/null || { echo "count-syscalls.sh: strace is missing (apt-get install strace)" >&2; exit 2; }
kill -0 "$pid" 2>/dev/null || { echo "count-syscalls.sh: no process $pid" >&2; exit 2; }
out=$(mktemp /tmp/count-syscalls.XXXXXX)
trap 'rm -f "$out"' EXIT
strace -c -f -p "$pid" -o "$out" 2>/dev/null &
tracer=$!
# Attached once the process says it is traced (5 s at most).
for _ in $(seq 500); do
	[ "$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != 0 ] && break
	sleep 0.01
done
# CMD's own output goes to stderr: stdout is the JSON alone.
"$@" >&2
rc=$?
kill -INT "$tracer" 2>/dev/null
wait "$tracer" 2>/dev/null
# strace -c: "% time seconds usecs/call calls [errors] syscall" rows between dashed lines.
awk 'BEGIN { printf "{\"tool\":\"strace -c\",\"calls\":{"; sep = "" }
     /^-/ || /^%/ || /total$/ { next }
     NF >= 5 && $4 ~ /^[0-9]+$/ { printf "%s\"%s\":%d", sep, $NF, $4; sep = "," }
     END { print "}}" }' "$out"
exit "$rc"
