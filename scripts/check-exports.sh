#!/usr/bin/env bash
# check-exports.sh [SHARED_LIB] - the shared library exports exactly the public API.
#
# Compares the dynamic symbols the library defines (nm -D --defined-only; default
# build/gcc/libringfuse.so.0.1.0) with the functions declared in runtime/include/ringfuse.h
# and runtime/include/ringfuse/*.h, and fails (exit 1) listing
#   - exports that no header declares (internals such as rf__*, or anything else), and
#   - functions a header declares that the library does not export
#     (static inline functions defined in a header are exempt: they are not exported).
# It also checks that the version in ringfuse.h (RF_VERSION_MAJOR/MINOR/PATCH, RF_VERSION,
# RF_VERSION_STRING) agrees with VERSION in the Makefile.
# Exit 0: clean; 1: mismatch; 2: usage or environment error.
set -euo pipefail
cd "$(dirname "$0")/.."

lib=${1:-build/gcc/libringfuse.so.0.1.0}
if [ ! -f "$lib" ]; then
	echo "check-exports: no library $lib (build it first: make lib)" >&2
	exit 2
fi
command -v nm >/dev/null || { echo "check-exports: nm not found (binutils)" >&2; exit 2; }

# Defined dynamic symbols without their version suffix, minus the version node itself
# (type A: an absolute symbol named after the node in runtime/libringfuse.map).
exports=$(nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)
makefile_version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)

EXPORTS="$exports" MAKEFILE_VERSION="$makefile_version" python3 - \
	runtime/include/ringfuse.h runtime/include/ringfuse/*.h <<'EOF'
import os, re, sys

def strip(text):
    """Drop comments, string literals and preprocessor lines (and what
    `#ifdef __cplusplus` guards: the extern "C" braces) from a header."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)
    out, skip = [], []          # skip: one flag per open #if
    for line in text.split("\n"):
        d = line.strip()
        if d.startswith("#"):
            word = d[1:].split()
            word = word[0] if word else ""
            if word in ("if", "ifdef", "ifndef"):
                skip.append(word == "ifdef" and "__cplusplus" in d)
            elif word in ("else", "elif") and skip:
                skip[-1] = False
            elif word == "endif" and skip:
                skip.pop()
            continue
        out.append("" if any(skip) else line)
    return re.sub(r'"(\\.|[^"\\])*"', '""', "\n".join(out))

def declarations(text):
    """Names of functions declared at file scope (depth 0), and of those defined
    in the header (static inline)."""
    declared, inline = set(), set()
    depth, stmt = 0, []
    for ch in text:
        if depth == 0:
            if ch in ";{":
                s = " ".join("".join(stmt).split())
                stmt = []
                if ch == "{":
                    depth = 1
                m = re.match(r"(.*?)\b(rf_[a-z0-9_]*)\s*\(", s)
                if s.startswith("typedef") or not m or m.group(2).endswith("_cb"):
                    continue
                # The name is at paren depth 0 of the statement: not a parameter type.
                if m.group(1).count("(") != m.group(1).count(")"):
                    continue
                (inline if ch == "{" else declared).add(m.group(2))
            else:
                stmt.append(ch)
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
    return declared - inline, inline

declared, inline, headers = set(), set(), {}
for path in sys.argv[1:]:
    text = strip(open(path).read())
    headers[path] = text
    d, i = declarations(text)
    declared |= d
    inline |= i

exports = set(os.environ["EXPORTS"].split())
bad = False
extra = sorted(exports - declared)
missing = sorted(declared - exports)
if extra:
    bad = True
    print(f"exported but not declared in the public headers ({len(extra)}):")
    for s in extra:
        print(f"  {s}")
if missing:
    bad = True
    print(f"declared in the public headers but not exported ({len(missing)}):")
    for s in missing:
        print(f"  {s}")

# The header's version against the Makefile's.
raw = open("runtime/include/ringfuse.h").read()
def macro(name):
    m = re.search(r"^#define\s+" + name + r"\s+(.+?)\s*$", raw, re.M)
    return m.group(1) if m else None
mk = os.environ["MAKEFILE_VERSION"].strip()
parts = [macro("RF_VERSION_" + p) for p in ("MAJOR", "MINOR", "PATCH")]
problems = []
if not re.fullmatch(r"\d+\.\d+\.\d+", mk):
    problems.append(f"Makefile VERSION is '{mk}', not MAJOR.MINOR.PATCH")
elif None in parts or not all(p.isdigit() for p in parts):
    problems.append("ringfuse.h lacks numeric RF_VERSION_MAJOR/MINOR/PATCH")
else:
    want = [int(x) for x in mk.split(".")]
    have = [int(p) for p in parts]
    if have != want:
        problems.append(f"RF_VERSION_MAJOR/MINOR/PATCH say {'.'.join(map(str, have))}, "
                        f"the Makefile says {mk}")
    s = macro("RF_VERSION_STRING")
    if s != f'"{mk}"':
        problems.append(f"RF_VERSION_STRING is {s}, the Makefile says \"{mk}\"")
    v = macro("RF_VERSION")
    num = (want[0] << 16) | (want[1] << 8) | want[2]
    if v is None or not re.fullmatch(r"0x[0-9a-fA-F]+", v) or int(v, 16) != num:
        problems.append(f"RF_VERSION is {v}, expected 0x{num:06x} for {mk}")
if problems:
    bad = True
    print("version mismatch:")
    for p in problems:
        print(f"  {p}")

if bad:
    print(f"check-exports: FAIL ({len(extra)} extra exports, {len(missing)} missing, "
          f"{len(problems)} version problems)")
    sys.exit(1)
print(f"check-exports: ok ({len(exports)} exports == {len(declared)} declared functions, "
      f"{len(inline)} static inline; version {mk})")
EOF
