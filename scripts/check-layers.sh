#!/usr/bin/env bash
# check-layers.sh [BUILD_OBJ_DIR] - calls in runtime/src go down the layers, never up, and
# no set of files calls each other in a circle.
#
# The call graph comes from the objects (default build/gcc/runtime/src): a file calls
# another when its object has an undefined symbol that the other's object defines (nm).
# Each file belongs to one layer of the list below. The check fails (exit 1) on:
#   - a call from a lower layer to a higher one;
#   - a cycle between files (calls inside one layer are fine as long as they are acyclic);
#   - an object whose source file is not in the list.
# Offending edges are printed as `caller.c -> callee.c (symbol, ...)`.
# Exit 0: clean; 1: violations; 2: usage or environment error.
set -euo pipefail

# ---- the layers, lowest first (one line per layer: "name: file.c file.c ...") ----------
# Edit this block when files move; a file may appear in one layer only.
LAYERS='
base: log.c proto.c version.c
util: opts.c mount.c inode.c slab.c inline.c
loop: loop.c
transport: chan.c transport_dev.c transport_sock.c transport_uring.c transport_manual.c
request: conn.c req.c reply.c stats.c
io: backing.c notify.c lookups.c
order: order.c order_intr.c reply_ref.c
interrupt: interrupt.c
dispatch: access.c trace.c decode.c dispatch_names.c dispatch_files.c init.c cuse.c dispatch.c
session: session.c teardown.c custom.c
api: daemon.c main.c
'
# ---- end of the layer list ---------------------------------------------------------------

dir=${1:-build/gcc/runtime/src}
if [ ! -d "$dir" ]; then
	echo "check-layers: no directory $dir (build the library first: make lib)" >&2
	exit 2
fi
shopt -s nullglob
objs=("$dir"/*.o)
if [ ${#objs[@]} -eq 0 ]; then
	echo "check-layers: no objects in $dir (build the library first: make lib)" >&2
	exit 2
fi
command -v nm >/dev/null || { echo "check-layers: nm not found (binutils)" >&2; exit 2; }

# One line per symbol: "<file.c> <D|U> <symbol>". Weak and common symbols count as defined.
for o in "${objs[@]}"; do
	f=$(basename "$o" .o).c
	nm -P "$o" | awk -v f="$f" '
		$2 == "U" || $2 == "w" || $2 == "v" { if ($2 == "U") print f, "U", $1; next }
		$2 ~ /^[A-Z]$/ { print f, "D", $1 }'
done | LAYERS="$LAYERS" python3 -c '
import os, sys

layer_of, order = {}, []
bad = False
for line in os.environ["LAYERS"].splitlines():
	line = line.split("#", 1)[0].strip()
	if not line:
		continue
	name, _, files = line.partition(":")
	order.append(name.strip())
	for f in files.split():
		if f in layer_of:
			print(f"check-layers: {f} is listed in two layers ({layer_of[f]}, {name})")
			bad = True
		layer_of[f] = name.strip()
rank = {n: i for i, n in enumerate(order)}

defs, undefs, files = {}, [], set()
for line in sys.stdin:
	f, kind, sym = line.split()
	files.add(f)
	if kind == "D":
		defs.setdefault(sym, f)
	else:
		undefs.append((f, sym))

edges = {}                      # (caller, callee) -> sorted symbols
for f, sym in undefs:
	g = defs.get(sym)
	if g and g != f:
		edges.setdefault((f, g), set()).add(sym)

def show(e):
	syms = ", ".join(sorted(edges[e]))
	return f"  {e[0]} -> {e[1]} ({syms})"

unknown = sorted(f for f in files if f not in layer_of)
if unknown:
	bad = True
	print(f"files in no layer ({len(unknown)}): add them to the list in scripts/check-layers.sh")
	for f in unknown:
		print(f"  {f}")

up = sorted(e for e in edges if e[0] in layer_of and e[1] in layer_of
	    and rank[layer_of[e[0]]] < rank[layer_of[e[1]]])
if up:
	bad = True
	nsym = sum(len(edges[e]) for e in up)
	print(f"upward calls ({len(up)} file-to-file edges, {nsym} symbols):")
	for e in up:
		print(show(e) + f"  [{layer_of[e[0]]} -> {layer_of[e[1]]}]")

# Strongly connected components (Tarjan, iterative): any with two or more files is a cycle.
succ = {f: sorted(g for (a, g) in edges if a == f) for f in files}
index, low, onstack, stack, sccs, counter = {}, {}, set(), [], [], [0]
for root in sorted(files):
	if root in index:
		continue
	work = [(root, 0)]
	while work:
		v, i = work.pop()
		if i == 0:
			index[v] = low[v] = counter[0]; counter[0] += 1
			stack.append(v); onstack.add(v)
		if i < len(succ[v]):
			work.append((v, i + 1))
			w = succ[v][i]
			if w not in index:
				work.append((w, 0))
			elif w in onstack:
				low[v] = min(low[v], index[w])
			continue
		if low[v] == index[v]:
			comp = []
			while True:
				w = stack.pop(); onstack.discard(w); comp.append(w)
				if w == v:
					break
			if len(comp) > 1:
				sccs.append(sorted(comp))
		if work:
			u = work[-1][0]
			low[u] = min(low[u], low[v])
if sccs:
	bad = True
	print(f"cycles ({len(sccs)}):")
	for comp in sccs:
		names = " ".join(comp)
		print(f" {len(comp)} files call each other in a circle: {names}")
		for e in sorted(e for e in edges if e[0] in comp and e[1] in comp):
			print(show(e))

if bad:
	print(f"check-layers: FAIL ({len(up)} upward calls, {len(sccs)} cycles, "
	      f"{len(unknown)} unlisted files; {len(edges)} file-to-file edges)")
	sys.exit(1)
print(f"check-layers: ok ({len(files)} files, {len(edges)} file-to-file edges, "
      "no upward calls, no cycles)")
'
