#!/bin/sh
# Builds a stand-in for the libLLVM that libwasmedge needs (for its AOT compiler, which
# kuasar-wasm-host never runs: it interprets): a library with the same name, version and the
# symbols libwasmedge takes from it, each function aborting and each object zero-filled.
# Loading it instead of LLVM's 130 MB and ~350,000 relocations makes a pod's host start in a
# few milliseconds with a few MB of memory (docs/adr/0008-wasm-pod-host.md); a call into it
# aborts the process, never misbehaves.
#
# usage: llvm-stand-in.sh CC LIBWASMEDGE LIBDIR OUTDIR
# Writes OUTDIR/<LLVM's soname>; exits 0 without writing anything when libwasmedge needs no LLVM.
set -eu
export LC_ALL=C
cc=$1 wasmedge=$2 libdir=$3 out=$4
soname=$(readelf -dW "$wasmedge" | sed -n 's/.*(NEEDED).*\[\(libLLVM[^]]*\)\].*/\1/p' | head -n 1)
[ -n "$soname" ] || exit 0
llvm=$libdir/$soname
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# What libwasmedge takes from LLVM (versioned names), and what each is in LLVM: FUNC, OBJECT or TLS, with its size.
readelf -W --dyn-syms "$wasmedge" | awk '$7 == "UND" && $8 ~ /@LLVM/ { split($8, a, "@"); print a[1], a[2] }' | sort -u >"$tmp/need"
version=$(awk 'NR == 1 { print $2 }' "$tmp/need")
readelf -W --dyn-syms "$llvm" | awk '$7 != "UND" && NF >= 8 { split($8, a, "@"); print a[1], $4, $3 }' | sort -u -k1,1 >"$tmp/have"
cut -d' ' -f1 "$tmp/need" | join - "$tmp/have" | awk '
BEGIN { print "#include <stdlib.h>"; print "static void never(void) { abort(); }" }
$2 == "FUNC" || $2 == "IFUNC" { printf "void %s(void) __attribute__((alias(\"never\")));\n", $1; next }
$2 == "OBJECT" { n = $3 + 0; printf "char %s[%d] __attribute__((aligned(16)));\n", $1, n < 16 ? 16 : n; next }
$2 == "TLS" { n = $3 + 0; printf "__thread char %s[%d] __attribute__((aligned(16)));\n", $1, n < 16 ? 16 : n; next }
{ printf "unknown symbol type %s of %s\n", $2, $1 > "/dev/stderr"; exit 1 }' >"$tmp/stand-in.c"
if [ "$(cut -d' ' -f1 "$tmp/need" | join -v1 - "$tmp/have" | wc -l)" -ne 0 ]; then
	echo "llvm-stand-in: libwasmedge needs symbols $llvm lacks" >&2
	exit 1
fi
echo "$version { global: *; };" >"$tmp/version.map"
mkdir -p "$out"
"$cc" -O2 -shared -fPIC -nostartfiles -o "$out/$soname.tmp" -Wl,-soname,"$soname" -Wl,--version-script="$tmp/version.map" "$tmp/stand-in.c"
mv -f "$out/$soname.tmp" "$out/$soname"
