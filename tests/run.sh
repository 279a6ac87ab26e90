#!/usr/bin/env bash
# tests/run.sh - the one test command (README, CI): installs missing build
# dependencies when allowed, configures and builds the `dev` preset (ASan +
# UBSan, -Werror) and the `release` preset, and runs every unit,
# integration, lint and hardening test with ctest.
set -euo pipefail

cd "$(dirname "$0")/.."

deploy/install-deps.sh

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

cmake --preset dev
cmake --build --preset dev
# The release binaries too: tests/hardening checks what ships (FORTIFY needs -O2).
cmake --preset release
cmake --build --preset release
# libFuzzer builds (clang): ctest fuzzes each target for a bounded time.
cmake --preset fuzz
cmake --build --preset fuzz

status=0
ctest --preset dev || status=$?

if ((status == 0)); then
    echo "run.sh: all tests passed"
else
    echo "run.sh: FAILED (ctest exit status $status)" >&2
fi
exit "$status"
