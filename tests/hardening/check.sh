#!/usr/bin/env bash
# Reads the built binaries and fails unless each is hardened: a PIE, full
# RELRO (GNU_RELRO + BIND_NOW), a non-executable stack, the stack protector,
# and (release builds) FORTIFY's checked functions.
# Usage: check.sh [--fortify] BINARY...
set -euo pipefail
fortify=0
[ "${1:-}" = --fortify ] && { fortify=1; shift; }
fail=0
for b in "$@"; do
    [ -x "$b" ] || { echo "FAIL $b: not built"; fail=1; continue; }
    hdr=$(readelf -hW "$b"); ph=$(readelf -lW "$b"); dyn=$(readelf -dW "$b")
    syms=$(readelf -sW --dyn-syms "$b")
    bad=()
    grep -q 'Type:.*DYN' <<<"$hdr" || bad+=("not a PIE")
    grep -q 'GNU_RELRO' <<<"$ph" || bad+=("no RELRO")
    grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn" || bad+=("no BIND_NOW (partial RELRO)")
    grep -A1 'GNU_STACK' <<<"$ph" | grep -q 'RWE' && bad+=("executable stack")
    grep -q '__stack_chk_fail' <<<"$syms" || bad+=("no stack protector")
    if ((fortify)); then
        grep -Eq '__[a-z_]+_chk@' <<<"$syms" || bad+=("no FORTIFY checked functions")
    fi
    if ((${#bad[@]})); then
        echo "FAIL $b: ${bad[*]}"
        fail=1
    else
        echo "ok   $b: PIE, full RELRO, NX stack, stack protector$( ((fortify)) && echo ', FORTIFY')"
    fi
done
exit "$fail"
