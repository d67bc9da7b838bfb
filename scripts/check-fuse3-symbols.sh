#!/bin/bash
# Does the binding's libfuse3.so.3 export what Debian's libfuse3.so.3 exports, with the same
# symbol versions? Compares the defined dynamic symbols as name@VERSION (compat) and
# name@@VERSION (default) -- a program built against libfuse3 binds to exactly those -- and
# the version nodes with their parents.
#
# Usage: scripts/check-fuse3-symbols.sh [--lowlevel] BINDING_LIBFUSE3_SO [REFERENCE_SO]
#   --lowlevel    check only the low-level subset: every symbol except the functions that
#                 /usr/include/fuse3/fuse.h (the high-level API) declares
#   REFERENCE_SO  default: Debian's /usr/lib/x86_64-linux-gnu/libfuse3.so.3
# Exit: 0 when every reference symbol is exported with the same version (extra symbols are
# listed but allowed), 1 with the list of what is missing or versioned differently, 2 on
# usage errors.
set -euo pipefail

lowlevel=0
if [ "${1:-}" = --lowlevel ]; then
	lowlevel=1
	shift
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	sed -n '6,13p' "$0" >&2
	exit 2
fi
ours=$1
ref=${2:-/usr/lib/x86_64-linux-gnu/libfuse3.so.3}
header=/usr/include/fuse3/fuse.h
for f in "$ours" "$ref"; do
	if [ ! -r "$f" ]; then
		echo "check-fuse3-symbols: cannot read $f" >&2
		exit 2
	fi
done

work=$(mktemp -d /tmp/rf3-syms.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Defined, versioned dynamic symbols as name@VER / name@@VER, without the version-node
# symbols themselves (FUSE_3.0@@FUSE_3.0 and the like).
syms() {
	readelf --dyn-syms -W "$1" |
		awk '$7 != "UND" && $8 ~ /@/ { split($8, p, "@+"); if (p[1] != p[2]) print $8 }' |
		sort -u
}

# Version definitions as "NODE parent PARENT" lines (the base entry skipped).
nodes() {
	readelf -V -W "$1" | awk '
		/Version definition section/ { in_def = 1; next }
		/Version needs section/ { in_def = 0 }
		in_def && /Name:/ && !/Flags: BASE/ { name = $NF; print name " parent -" }
		in_def && /Parent 1:/ { print name " parent " $NF }' |
		awk '{ last[$1] = $0 } END { for (n in last) print last[n] }' | sort
}

syms "$ref" >"$work/ref"
syms "$ours" >"$work/ours"
if [ ! -s "$work/ref" ]; then
	echo "check-fuse3-symbols: no versioned symbols in $ref" >&2
	exit 2
fi

if [ $lowlevel -eq 1 ]; then
	if [ ! -r "$header" ]; then
		echo "check-fuse3-symbols: --lowlevel needs $header (libfuse3-dev)" >&2
		exit 2
	fi
	# Functions declared by fuse.h, comments stripped (the preprocessor, without expanding
	# includes), so a function merely mentioned in a comment does not count.
	gcc -fpreprocessed -dD -E -P "$header" 2>/dev/null |
		grep -o '\bfuse_[a-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' | sort -u \
		>"$work/highlevel"
	if [ ! -s "$work/highlevel" ]; then
		echo "check-fuse3-symbols: found no declarations in $header" >&2
		exit 2
	fi
	awk 'NR == FNR { hl[$1] = 1; next } { split($0, p, "@"); if (!(p[1] in hl)) print }' \
		"$work/highlevel" "$work/ref" >"$work/ref.ll"
	mv "$work/ref.ll" "$work/ref"
	scope="low-level subset ($(wc -l <"$work/ref") symbols; high-level: the $(wc -l \
		<"$work/highlevel") functions of fuse.h)"
else
	scope="full set ($(wc -l <"$work/ref") symbols)"
fi

status=0
comm -23 "$work/ref" "$work/ours" >"$work/missing"
if [ -s "$work/missing" ]; then
	status=1
	echo "check-fuse3-symbols: FAIL: $ours lacks $(wc -l <"$work/missing") of the $scope of $ref:"
	while read -r s; do
		name=${s%%@*}
		have=$(grep -E "^${name}@" "$work/ours" | tr '\n' ' ' || true)
		if [ -n "$have" ]; then
			echo "  $s   (exported as: $have)"
		else
			echo "  $s"
		fi
	done <"$work/missing"
fi

# Version nodes used by the checked symbols must exist with libfuse's parents.
nodes "$ref" >"$work/ref.nodes"
nodes "$ours" >"$work/ours.nodes"
sed 's/.*@//' "$work/ref" | sort -u >"$work/used"
while read -r node; do
	want=$(grep "^$node " "$work/ref.nodes" || true)
	got=$(grep "^$node " "$work/ours.nodes" || true)
	if [ "$want" != "$got" ]; then
		status=1
		echo "check-fuse3-symbols: FAIL: version node $node: libfuse has '${want:-none}'," \
			"the binding '${got:-none}'"
	fi
done <"$work/used"

extra=$(comm -13 "$work/ref" "$work/ours" | grep -v -E '^(cuse|fuse)_' || true)
if [ -n "$extra" ]; then
	echo "check-fuse3-symbols: note: exported beyond fuse_*/cuse_*:" $extra
fi
if [ $status -eq 0 ]; then
	echo "check-fuse3-symbols: PASS: $ours exports the $scope of $ref with its versions"
fi
exit $status
