#!/usr/bin/env bash
# tests/bench/rules.sh - rules engine benchmark (not a test): the release
# build of bench_rules (tests/bench/rules_bench.c) runs a realistic mix of
# events through the default ruleset (rules/*.yaml) on one thread and prints
# events/s per core, twice: production-like (the headline: batches of 1,024
# decoded into an arena untimed, then evaluated while warm, as bulwarkd
# does) and cold (every event decoded once on the heap, ~400 MB walked pass
# after pass). Only evaluation is timed; both must count the same alerts.
#
#   tests/bench/rules.sh                      # 500,000 events x 4 passes
#   BENCH_EVENTS=200000 BENCH_PASSES=10 tests/bench/rules.sh [RULES.yaml...]
set -euo pipefail

cd "$(dirname "$0")/../.."

events=${BENCH_EVENTS:-500000}
passes=${BENCH_PASSES:-4}
build=${BENCH_BUILD_DIR:-build/rules-rel}

if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake --preset release -B "$build" >/dev/null
fi
cmake --build "$build" --target bench_rules >/dev/null
bin=$(find "$build" -name bench_rules -type f -perm -u+x | head -n 1)
[[ -n $bin ]] || { echo "bench: bench_rules not built" >&2; exit 1; }

echo "bench: $(nproc) CPUs, $(uname -m), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
"$bin" --events "$events" --passes "$passes" "$@"
"$bin" --events "$events" --passes "$passes" --cold "$@"
