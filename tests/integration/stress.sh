#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# stress.sh DIR SECONDS - namespace concurrency stress on a mounted filesystem.
#
# Runs the stressor program (tests/integration/stressor.c: PROCS worker processes create,
# rename, hard-link, unlink, stat and list files in 3 shared directories under
# DIR/stress.XXXXXX while others hold files open and write/read through them), bounded in
# time: the whole run is killed after SECONDS + 90 s. Afterwards DIR must still answer
# (stat within 10 s) and no stress.* directory may be left in it.
#
# Environment: STRESSOR=path of the stressor binary (default: the first of
# build/{gcc,clang,asan}/tests/integration/stressor that exists), PROCS (default 6),
# STRESS_ARGS (extra stressor options, e.g. "-E 0 -n 16 -s 42").
# Exit status: 0 pass, 1 failure (unexpected errors, crash, inconsistency), 124 hung,
# 2 usage or no stressor binary.
set -uo pipefail

if [ $# -ne 2 ] || [ ! -d "$1" ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
  echo "usage: stress.sh DIR SECONDS" >&2
  exit 2
fi
dir=$1 secs=$2
root=$(cd "$(dirname "$0")/../.." && pwd)

bin=${STRESSOR:-}
if [ -z "$bin" ]; then
  for b in gcc clang asan; do
    if [ -x "$root/build/$b/tests/integration/stressor" ]; then
      bin=$root/build/$b/tests/integration/stressor; break
    fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "stress.sh: no stressor binary (run make, or set STRESSOR)" >&2
  exit 2
fi

# timeout puts the stressor in its own process group and signals the whole group, so
# the workers go too. -k: SIGKILL 10 s after the SIGTERM if it does not go.
# shellcheck disable=SC2086
timeout -k 10 $((secs + 90)) "$bin" -p "${PROCS:-6}" -t "$secs" ${STRESS_ARGS:-} "$dir"
rc=$?
case $rc in
  0) ;;
  124|137) echo "stress.sh: FAIL: stressor did not finish within $((secs + 90)) s (hung)"; rc=124 ;;
  *) echo "stress.sh: FAIL: stressor exit status $rc" ;;
esac

if ! timeout 10 stat "$dir" >/dev/null 2>&1; then
  echo "stress.sh: FAIL: $dir does not answer stat after the run"
  [ $rc -eq 0 ] && rc=1
fi
left=$(timeout 10 find "$dir" -maxdepth 1 -name 'stress.*' 2>/dev/null)
if [ -n "$left" ] && [ $rc -eq 0 ]; then
  echo "stress.sh: FAIL: left behind: $left"
  rc=1
fi
[ $rc -eq 0 ] && echo "stress.sh: PASS ($dir, $secs s)"
exit $rc
