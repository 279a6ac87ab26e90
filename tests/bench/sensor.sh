#!/usr/bin/env bash
# tests/bench/sensor.sh - what the eBPF sensor costs (not a test; root, a
# kernel with BTF, a release build with the sensor). A syscall-heavy
# workload (tests/bench/syscall_load.c) runs without the agent and with
# `bulwark-agent --sensor ebpf` (printing its events to /dev/null: no spool,
# no TLS; tests/bench/agent.sh measures those), alternating, BENCH_ROUNDS
# times (default 3); the best time of each side is kept. Prints per workload
# the times and the slowdown, and per round with the agent: the agent's CPU
# (% of one core over the round), its peak RSS, the records it read, those
# lost in the kernel (ring buffer full) and the record rate.
#
# Workloads (counts are knobs): open-close (BENCH_OPEN, 500000 x open,
# fstat, close of a file outside sensor_read_paths: traced, then dropped in
# user space), read-etc (BENCH_READ, 100000 x the same on /etc/hostname: each
# one becomes an event), stat (BENCH_OPEN x stat: not traced), exec
# (BENCH_EXEC, 2000 x fork + exec /bin/true), tcp (BENCH_TCP, 20000 loopback
# connections). The sensor sees the whole machine: other work running on it
# counts in the agent's figures.
set -euo pipefail

cd "$(dirname "$0")/../.."
bin=${BENCH_BUILD:-build/release}
rounds=${BENCH_ROUNDS:-3}
cmake --preset release -B "$bin" >/dev/null
cmake --build "$bin" --target bulwark-agent bench_syscalls >/dev/null
load=$bin/tests/bench/bench_syscalls
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-sensor-bench.XXXXXX")
agent=
cleanup() {
    [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
    rm -rf -- "$tmp"
}
trap cleanup EXIT
: >"$tmp/file"
hz=$(getconf CLK_TCK)
names=(open-close read-etc stat exec tcp)
works=("open ${BENCH_OPEN:-500000} $tmp/file" "open ${BENCH_READ:-100000} /etc/hostname"
       "stat ${BENCH_OPEN:-500000} $tmp/file" "exec ${BENCH_EXEC:-2000}" "tcp ${BENCH_TCP:-20000}")
declare -A best_off best_on

# one pass over the workloads; SIDE is off or on
pass() {
    local side=$1 i t
    for i in "${!works[@]}"; do
        # shellcheck disable=SC2086
        t=$("$load" ${works[$i]} | awk '{print $3}')
        if [ "$side" = off ]; then
            best_off[$i]=$(awk -v a="${best_off[$i]:-1e9}" -v b="$t" 'BEGIN {print (b < a) ? b : a}')
        else
            best_on[$i]=$(awk -v a="${best_on[$i]:-1e9}" -v b="$t" 'BEGIN {print (b < a) ? b : a}')
        fi
    done
}

for r in $(seq 1 "$rounds"); do
    pass off
    "$bin/bulwark-agent" --output stdout --sensor ebpf --spool "$tmp/spool.db" \
        --collect_resource false --collect_config false >/dev/null 2>"$tmp/agent.log" &
    agent=$!
    for _ in $(seq 1 100); do
        grep -q 'sensor running' "$tmp/agent.log" && break
        sleep 0.1
    done
    grep -q 'sensor running' "$tmp/agent.log" || { cat "$tmp/agent.log"; exit 1; }
    c0=$(awk '{print $14 + $15}' "/proc/$agent/stat")
    t0=$(date +%s.%N)
    pass on
    t1=$(date +%s.%N)
    c1=$(awk '{print $14 + $15}' "/proc/$agent/stat")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$agent/status")
    kill -TERM "$agent"
    wait "$agent" || true
    agent=
    line=$(grep 'sensor stopped' "$tmp/agent.log")
    recs=$(sed -n 's/.*stopped: \([0-9]*\) records.*/\1/p' <<<"$line")
    lost=$(sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p' <<<"$line")
    awk -v r="$r" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v rss="$rss" \
        -v recs="$recs" -v lost="$lost" 'BEGIN {
        printf "round %d with the agent: cpu %.1f%% of a core, peak RSS %.1f MiB, %d records " \
               "(%.0f/s over %.1f s), %d lost in the kernel\n", r, 100 * (c1 - c0) / hz / (t1 - t0),
               rss / 1024, recs, recs / (t1 - t0), t1 - t0, lost }'
done
for i in "${!works[@]}"; do
    awk -v n="${names[$i]}" -v w="${works[$i]%% /*}" -v a="${best_off[$i]}" -v b="${best_on[$i]}" \
        'BEGIN { printf "%-10s %-14s without %7.3f s   with %7.3f s   slowdown %+6.1f%%\n", n, w, a, b,
                 100 * (b / a - 1) }'
done
