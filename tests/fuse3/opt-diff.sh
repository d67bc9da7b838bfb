#!/bin/bash
# Differential test of the binding's fuse_opt_*, fuse_parse_cmdline and fuse_buf_copy against
# Debian's libfuse3 (see tests/fuse3/opt_diff.c). One program, three runs that must print the
# same transcript:
#   1. linked with -lfuse3, on Debian's libfuse3.so.3 (the reference);
#   2. the same binary on the binding's libfuse3.so.3 through LD_LIBRARY_PATH (the binary
#      drop-in, symbol versions included: it looks up fuse_parse_cmdline@FUSE_3.0 with dlvsym);
#   3. the program compiled and linked against the binding's static library (the source way).
#
# Usage: tests/fuse3/opt-diff.sh [--so DIR] [--static 'LINK ARGS'] [--cc CC]
#   --so DIR          directory holding the binding's libfuse3.so.3
#   --static ARGS     what links the binding statically, e.g.
#                     'build/gcc/bindings/fuse3/libringfuse-fuse3.a build/gcc/libringfuse.a -luring -lpthread'
#   Without --so and --static, both are built here from the session-independent sources
#   (bindings/fuse3/{opt,cmdline,buf,log}.c), which is enough for what the program calls.
# Exit: 0 same, 1 different (the diff is printed), 77 skipped (no libfuse3 to compare with).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
so_dir= static_args= cc=${CC:-cc}
while [ $# -gt 0 ]; do
	case $1 in
	--so) so_dir=$2; shift 2 ;;
	--static) static_args=$2; shift 2 ;;
	--cc) cc=$2; shift 2 ;;
	*) echo "opt-diff: unknown argument $1" >&2; exit 2 ;;
	esac
done

if ! pkg-config --exists fuse3 2>/dev/null; then
	echo "opt-diff: SKIP (pkg-config fuse3 not found: install libfuse3-dev)"
	exit 77
fi

work=$(mktemp -d /tmp/rf3-optdiff.XXXXXX)
trap 'rm -rf "$work"' EXIT
fuse_cflags=$(pkg-config --cflags fuse3)
warn="-std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes"

if [ -z "$so_dir" ] || [ -z "$static_args" ]; then
	srcs="opt cmdline buf log"
	objs=
	for s in $srcs; do
		$cc $warn -D_GNU_SOURCE -fPIC -g $fuse_cflags -c -o "$work/$s.o" \
			"$root/bindings/fuse3/$s.c"
		objs="$objs $work/$s.o"
	done
	if [ -z "$so_dir" ]; then
		mkdir -p "$work/so"
		$cc -shared -o "$work/so/libfuse3.so.3" $objs -Wl,-soname,libfuse3.so.3 \
			-Wl,--version-script="$root/bindings/fuse3/libfuse3.map" -Wl,-z,defs
		so_dir=$work/so
	fi
	if [ -z "$static_args" ]; then
		ar rcs "$work/libpart.a" $objs
		static_args=$work/libpart.a
	fi
fi
if [ ! -e "$so_dir/libfuse3.so.3" ]; then
	echo "opt-diff: $so_dir/libfuse3.so.3 does not exist" >&2
	exit 2
fi

prog=$root/tests/fuse3/opt_diff.c
$cc $warn -g "$prog" $fuse_cflags $(pkg-config --libs fuse3) -ldl -o "$work/dyn"
# shellcheck disable=SC2086 # the link arguments are a word list
$cc $warn -g "$prog" $fuse_cflags $static_args -ldl -o "$work/static"

"$work/dyn" >"$work/reference" 2>&1
"$work/dyn" --static >"$work/reference-static" 2>&1
LD_LIBRARY_PATH=$so_dir "$work/dyn" >"$work/dropin" 2>&1
"$work/static" --static >"$work/source" 2>&1

# The drop-in run must really have used the binding's library.
if LD_LIBRARY_PATH=$so_dir ldd "$work/dyn" | grep -q "libfuse3.so.3 => /usr/lib\|libfuse3.so.3 => /lib"; then
	echo "opt-diff: LD_LIBRARY_PATH=$so_dir did not replace Debian's libfuse3.so.3" >&2
	exit 1
fi

status=0
if ! diff -u "$work/reference" "$work/dropin" >"$work/d1"; then
	echo "opt-diff: FAIL: binding's libfuse3.so.3 differs from libfuse3 (- libfuse3, + binding):"
	cat "$work/d1"
	status=1
fi
if ! diff -u "$work/reference-static" "$work/source" >"$work/d2"; then
	echo "opt-diff: FAIL: binding linked statically differs from libfuse3 (- libfuse3, + binding):"
	cat "$work/d2"
	status=1
fi
if [ $status -eq 0 ]; then
	echo "opt-diff: PASS ($(wc -l <"$work/reference") transcript lines identical on libfuse3," \
		"the drop-in libfuse3.so.3 and the static binding)"
fi
exit $status
