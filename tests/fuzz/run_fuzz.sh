#!/usr/bin/env bash
# Fuzzes one libFuzzer target (built by the `fuzz` preset, which tests/run.sh
# builds) for a bounded time from a copy of its corpus, so the test command
# finds new crashes, not only replays old ones. A crash fails the test and
# leaves the input in the work directory (printed). New inputs stay out of
# the source tree: copy the interesting ones into tests/fuzz/corpus/NAME.
# Usage: run_fuzz.sh FUZZER CORPUS_DIR WORK_DIR
#   (BW_FUZZ_SECONDS, else the target's BW_FUZZ_DEFAULT_SECONDS, else 30)
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3
secs=${BW_FUZZ_SECONDS:-${BW_FUZZ_DEFAULT_SECONDS:-30}}
if [ ! -x "$fuzzer" ]; then
    echo "run_fuzz.sh: $fuzzer is not built (cmake --preset fuzz && cmake --build --preset fuzz)" >&2
    exit 1
fi
rm -rf "$work"
mkdir -p "$work/corpus"
cp -r "$corpus"/. "$work/corpus/"
dict=()
name=$(basename "$corpus")
d=$(cd "$(dirname "$corpus")/.." && pwd)/$name.dict
[ -f "$d" ] && dict=("-dict=$d")
cd "$work"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if ! "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" corpus >fuzz.log 2>&1; then
    tail -60 fuzz.log
    echo "run_fuzz.sh: $(basename "$fuzzer") failed; inputs: $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')" >&2
    exit 1
fi
grep -E 'stat::(number_of_executed_units|new_units_added)' fuzz.log || true
