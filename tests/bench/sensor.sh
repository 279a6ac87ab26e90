#!/usr/bin/env bash
# tests/bench/sensor.sh - what the eBPF sensor costs (not a test; root, a
# kernel with BTF, a release build with the sensor).
#
# The agent runs as deployed up to its spool: `bulwark-agent --sensor ebpf`
# with a fresh spool (SQLite, synchronous=FULL) and a server address where
# nothing listens (127.0.0.1:1), so every event is stored and none shipped
# (tests/bench/agent.sh measures shipping). Events the agent could not
# queue or spool are logged ("queue full", "spool full"): counted here as
# user-space drop warnings. Two parts:
#
# 1. Slowdown. A syscall-heavy workload (tests/bench/syscall_load.c) runs
#    without the agent and with it, BENCH_ROUNDS rounds (default 7) of one
#    pass without and one with, the order swapped every round (A B, B A,
#    A B, ...) so that a machine getting busier or quieter weighs on both
#    sides alike. Per workload it prints the median time of each side and
#    the median of the rounds' ratios (with/without, each from two runs a
#    few seconds apart) with their spread: the ratio is the figure, the
#    times only frame it. Per round with the agent: its CPU (% of one core),
#    peak RSS, the records it read, those lost in the kernel (ring buffer
#    full), the record rate.
#
# 2. Records. The agent runs while BENCH_WORKERS (default 2) processes open
#    /etc/hostname (below sensor_read_paths: each open is a record that
#    crosses into user space and becomes an event) at a set total rate for
#    BENCH_RATE_SECS seconds (default 5), for each rate in BENCH_RATES
#    (default "50000 100000 150000"). Prints the rate the workers reached,
#    the records the agent read per second (the machine's other records
#    included), those lost in the kernel, the user-space drop warnings and
#    the agent's CPU and peak RSS.
#
# Workloads of part 1 (counts are knobs): open-close (BENCH_OPEN, 200000 x
# open, fstat, close of a file outside sensor_read_paths: decided at
# sys_enter, no record), read-etc (BENCH_READ, 50000 x the same on
# /etc/hostname: each one becomes an event), stat (BENCH_OPEN x stat: not
# traced), exec (BENCH_EXEC, 1000 x fork + exec /bin/true), tcp (BENCH_TCP,
# 10000 loopback connections: a connect and an accept record each). The
# sensor sees the whole machine: other work running on it counts in the
# agent's figures, and in both sides' times.
#
# Other knobs: BENCH_BUILD (release build dir, default build/release),
# BENCH_AGENT (the agent binary, default the build's; an older build's gives
# a before and after by the same method).
set -euo pipefail

cd "$(dirname "$0")/../.."
bin=${BENCH_BUILD:-build/release}
rounds=${BENCH_ROUNDS:-7}
workers=${BENCH_WORKERS:-2}
rate_secs=${BENCH_RATE_SECS:-5}
rates=${BENCH_RATES:-50000 100000 150000}
agent_bin=${BENCH_AGENT:-$bin/bulwark-agent}
cmake --preset release -B "$bin" >/dev/null
cmake --build "$bin" --target bulwark-agent bench_syscalls >/dev/null
load=$bin/tests/bench/bench_syscalls
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-sensor-bench.XXXXXX")
deploy/gen-certs.sh "$tmp/certs" bench-agent >/dev/null
agent=
cleanup() {
    [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
    rm -rf -- "$tmp"
}
trap cleanup EXIT
: >"$tmp/file"
hz=$(getconf CLK_TCK)
names=(open-close read-etc stat exec tcp)
works=("open ${BENCH_OPEN:-200000} $tmp/file" "open ${BENCH_READ:-50000} /etc/hostname"
       "stat ${BENCH_OPEN:-200000} $tmp/file" "exec ${BENCH_EXEC:-1000}" "tcp ${BENCH_TCP:-10000}")
declare -A times   # times[side,i] = the run times, space-separated
declare -A ratios  # ratios[i] = the rounds' with/without ratios

# the median and the smallest and largest of the numbers given
stats() {
    tr ' ' '\n' <<<"$*" | grep . | sort -g | awk '{v[NR] = $1}
        END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR]}'
}

# starts the agent with a fresh spool and waits until its sensor runs;
# sets agent, c0, t0
agent_start() {
    rm -f "$tmp"/spool.db*
    "$agent_bin" --server 127.0.0.1:1 --tls_ca "$tmp/certs/ca.pem" \
        --tls_cert "$tmp/certs/agent-bench-agent.pem" \
        --tls_key "$tmp/certs/agent-bench-agent.key" --spool "$tmp/spool.db" \
        --spool_max_events 4000000 --spool_max_bytes 4294967296 --sensor ebpf \
        --collect_resource false --collect_config false 2>"$tmp/agent.log" &
    agent=$!
    for _ in $(seq 1 200); do
        grep -q 'sensor running' "$tmp/agent.log" && break
        sleep 0.1
    done
    grep -q 'sensor running' "$tmp/agent.log" || { cat "$tmp/agent.log"; exit 1; }
    c0=$(awk '{print $14 + $15}' "/proc/$agent/stat")
    t0=$(date +%s.%N)
}

# stops the agent; sets cpu (% of a core since agent_start), rss (MiB),
# recs, lost (in the kernel), udrop (user-space drop warnings) and secs
agent_stop() {
    local c1 t1 line
    t1=$(date +%s.%N)
    c1=$(awk '{print $14 + $15}' "/proc/$agent/stat")
    rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$agent/status")
    kill -TERM "$agent"
    wait "$agent" || true
    agent=
    line=$(grep 'sensor stopped' "$tmp/agent.log")
    recs=$(sed -n 's/.*stopped: \([0-9]*\) records.*/\1/p' <<<"$line")
    lost=$(sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p' <<<"$line")
    udrop=$(grep -c -e 'queue full' -e 'spool full' "$tmp/agent.log" || true)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.1f", 100 * c / hz / s}')
}

# one pass over the workloads; SIDE is off or on
pass() {
    local side=$1 i t
    for i in "${!works[@]}"; do
        # shellcheck disable=SC2086
        t=$("$load" ${works[$i]} | awk '{print $3}')
        times[$side,$i]+="$t "
        if [ "$side" = off ]; then last_off[i]=$t; else last_on[i]=$t; fi
    done
}

echo "== slowdown: $rounds rounds, order swapped every round; load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a last_off last_on
for r in $(seq 1 "$rounds"); do
    order="off on"
    [ $((r % 2)) -eq 0 ] && order="on off"
    for side in $order; do
        if [ "$side" = on ]; then
            agent_start
            pass on
            agent_stop
            printf 'round %d with the agent: cpu %s%% of a core, peak RSS %s MiB, %s records ' \
                "$r" "$cpu" "$rss" "$recs"
            awk -v n="$recs" -v s="$secs" -v l="$lost" -v u="$udrop" \
                'BEGIN {printf "(%.0f/s over %.1f s), %d lost in the kernel, %d user-space drop " \
                        "warnings\n", n / s, s, l, u}'
        else
            pass off
        fi
    done
    for i in "${!works[@]}"; do
        ratios[$i]+="$(awk -v a="${last_off[$i]}" -v b="${last_on[$i]}" 'BEGIN {print b / a}') "
    done
done
printf '%-10s %-14s %22s %22s %30s\n' workload run "without (median)" "with (median)" \
    "slowdown: median of ratios"
for i in "${!works[@]}"; do
    read -r moff _ _ <<<"$(stats "${times[off,$i]}")"
    read -r mon _ _ <<<"$(stats "${times[on,$i]}")"
    read -r mr lo hi <<<"$(stats "${ratios[$i]}")"
    awk -v n="${names[$i]}" -v w="${works[$i]%% /*}" -v a="$moff" -v b="$mon" -v m="$mr" \
        -v lo="$lo" -v hi="$hi" 'BEGIN {
        printf "%-10s %-14s %20.3f s %20.3f s   %+6.1f%% (rounds %+.1f%% .. %+.1f%%)\n",
               n, w, a, b, 100 * (m - 1), 100 * (lo - 1), 100 * (hi - 1) }'
done

echo "== records: $workers workers opening /etc/hostname for $rate_secs s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for rate in $rates; do
    agent_start
    pids=()
    for w in $(seq 1 "$workers"); do
        "$load" rate $((rate / workers)) "$rate_secs" /etc/hostname >"$tmp/rate.$w" &
        pids+=($!)
    done
    wait "${pids[@]}"
    agent_stop
    got=$(cat "$tmp"/rate.* | awk '{n += $2; if ($3 > s) s = $3} END {printf "%.0f", n / s}')
    rm -f "$tmp"/rate.*
    awk -v r="$rate" -v g="$got" -v n="$recs" -v s="$secs" -v l="$lost" -v c="$cpu" -v m="$rss" \
        -v u="$udrop" \
        'BEGIN {printf "asked %6d opens/s, reached %6d/s: agent read %7.0f records/s over %.1f s, " \
                "%d lost in the kernel, %d user-space drop warnings, cpu %s%% of a core, " \
                "peak RSS %s MiB\n", r, g, n / s, s, l, u, c, m}'
done
