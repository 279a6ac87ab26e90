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
#    sides alike. Per workload it prints the median times of each side and
#    the median of the rounds' ratios (with/without, each from two runs a
#    few seconds apart) with their spread, in the workload's CPU time (the
#    sensor's kernel programs run inside its syscalls) and in wall time
#    (which also holds the time spent waiting for a core: on a shared
#    machine, mostly the other work's doing). Per round with the agent: its CPU (% of one core),
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
#    the agent's CPU (per record too) and peak RSS. On a machine busy with
#    other work the workers get too little CPU to reach the higher rates:
#    BENCH_NICE (default 0, e.g. -10) runs the agent and the workers alike
#    at that niceness, ahead of the other work and on equal terms with each
#    other (the agent does not get more than the workload it watches).
#
# 3. Kernel cost. With kernel.bpf_stats_enabled
#    (restored afterwards) the kernel times each run of a BPF program: per
#    workload of part 1, run once with the agent, the time this agent's
#    programs ran divided by the workload's iterations, next to the least
#    CPU time per iteration part 1 saw without the sensor. This is the
#    sensor's own cost, which the machine's other work hardly moves; it
#    leaves out the kernel's dispatch to the programs (a few ns a run) and
#    counts in the runs for other processes' syscalls: their rate over one
#    idle second before each workload is taken off in proportion to its
#    wall time (the runs per iteration left, e.g. 3 for open-close, show
#    how well).
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
# Other knobs: BENCH_PARTS (default "1 2 3": the parts to run), BENCH_BUILD (release build dir, default build/release),
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
nice_rate=${BENCH_NICE:-0}
parts=${BENCH_PARTS:-1 2 3}
cmake --preset release -B "$bin" >/dev/null
cmake --build "$bin" --target bulwark-agent bench_syscalls >/dev/null
load=$bin/tests/bench/bench_syscalls
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-sensor-bench.XXXXXX")
deploy/gen-certs.sh "$tmp/certs" bench-agent >/dev/null
agent=
stats_was=
cleanup() {
    [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
    [ -n "$stats_was" ] && sysctl -qw kernel.bpf_stats_enabled="$stats_was"
    rm -rf -- "$tmp"
}
trap cleanup EXIT
: >"$tmp/file"
hz=$(getconf CLK_TCK)
names=(open-close read-etc stat exec tcp)
works=("open ${BENCH_OPEN:-200000} $tmp/file" "open ${BENCH_READ:-50000} /etc/hostname"
       "stat ${BENCH_OPEN:-200000} $tmp/file" "exec ${BENCH_EXEC:-1000}" "tcp ${BENCH_TCP:-10000}")
declare -A wall cput      # [side,i] = the runs' wall and CPU times, space-separated
declare -A wratio cratio  # [i] = the rounds' with/without ratios

# the median and the smallest and largest of the numbers given
stats() {
    tr ' ' '\n' <<<"$*" | grep . | sort -g | awk '{v[NR] = $1}
        END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR]}'
}

# starts the agent with a fresh spool (at niceness $1, default 0) and
# waits until its sensor runs; sets agent, c0, t0
agent_start() {
    rm -f "$tmp"/spool.db*
    nice -n "${1:-0}" "$agent_bin" --server 127.0.0.1:1 --tls_ca "$tmp/certs/ca.pem" \
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
    line=$(grep 'sensor stopped' "$tmp/agent.log" || echo "agent gone: no counts")
    recs=$(sed -n 's/.*stopped: \([0-9]*\) records.*/\1/p' <<<"$line")
    lost=$(sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p' <<<"$line")
    udrop=$(grep -c -e 'queue full' -e 'spool full' "$tmp/agent.log" || true)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.1f", 100 * c / hz / s}')
}

# one pass over the workloads; SIDE is off or on. Keeps each run's wall
# time and CPU time (the workload's own, user + system)
pass() {
    local side=$1 i t c
    for i in "${!works[@]}"; do
        # shellcheck disable=SC2086
        read -r _ _ t c < <("$load" ${works[$i]})
        wall[$side,$i]+="$t "
        cput[$side,$i]+="$c "
        if [ "$side" = off ]; then
            last_off[i]="$t $c"
        else
            last_on[i]="$t $c"
        fi
    done
}

# Other sensors already loaded (another agent on this host) run their
# programs in both sides' syscalls: said, since they shrink the ratios.
others=$(bpftool prog show 2>/dev/null | grep -c 'raw_tracepoint  name sys_enter' || true)
has_part() { [[ " $parts " == *" $1 "* ]]; }
has_part 1 || rounds=0
echo "== slowdown: $rounds rounds, order swapped every round; load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg); other sys_enter programs loaded: ${others:-unknown}"
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
        read -r woff coff <<<"${last_off[$i]}"
        read -r won con <<<"${last_on[$i]}"
        wratio[$i]+="$(awk -v a="$woff" -v b="$won" 'BEGIN {print b / a}') "
        cratio[$i]+="$(awk -v a="$coff" -v b="$con" 'BEGIN {print b / a}') "
    done
done
has_part 1 && echo "CPU: the workload's own CPU time (user + system: the sensor's kernel programs run in its"
has_part 1 && echo "syscalls); wall: its elapsed time (also waiting for a core). Medians over the rounds; the"
has_part 1 && echo "slowdown is the median of the rounds' with/without ratios, the rounds' spread in brackets."
has_part 1 && printf '%-10s %-13s %-17s %-17s %-30s %s\n' workload run "CPU without/with" "wall without/with" \
    "slowdown in CPU" "slowdown in wall time"
has_part 1 && for i in "${!works[@]}"; do
    read -r cw _ _ <<<"$(stats "${cput[off,$i]}")"
    read -r cn _ _ <<<"$(stats "${cput[on,$i]}")"
    read -r ww _ _ <<<"$(stats "${wall[off,$i]}")"
    read -r wn _ _ <<<"$(stats "${wall[on,$i]}")"
    read -r cm clo chi <<<"$(stats "${cratio[$i]}")"
    read -r wm wlo whi <<<"$(stats "${wratio[$i]}")"
    awk -v n="${names[$i]}" -v w="${works[$i]%% /*}" -v cw="$cw" -v cn="$cn" -v ww="$ww" \
        -v wn="$wn" -v cm="$cm" -v clo="$clo" -v chi="$chi" -v wm="$wm" -v wlo="$wlo" \
        -v whi="$whi" 'BEGIN {
        printf "%-10s %-13s %5.2f/%5.2f s     %5.2f/%5.2f s     %+6.1f%% (%+.0f%% .. %+.0f%%)       " \
               "%+6.1f%% (%+.0f%% .. %+.0f%%)\n", n, w, cw, cn, ww, wn, 100 * (cm - 1),
               100 * (clo - 1), 100 * (chi - 1), 100 * (wm - 1), 100 * (wlo - 1), 100 * (whi - 1) }'
done

has_part 2 && echo "== records: $workers workers opening /etc/hostname for $rate_secs s, agent and workers at" \
    "niceness $nice_rate; load average $(cut -d' ' -f1-3 /proc/loadavg)"
has_part 2 || rates=
for rate in $rates; do
    agent_start "$nice_rate"
    pids=()
    for w in $(seq 1 "$workers"); do
        nice -n "$nice_rate" "$load" rate $((rate / workers)) "$rate_secs" /etc/hostname >"$tmp/rate.$w" &
        pids+=($!)
    done
    wait "${pids[@]}"
    agent_stop
    got=$(cat "$tmp"/rate.* | awk '{n += $2; if ($3 > s) s = $3} END {printf "%.0f", n / s}')
    rm -f "$tmp"/rate.*
    awk -v r="$rate" -v g="$got" -v n="$recs" -v s="$secs" -v l="$lost" -v c="$cpu" -v m="$rss" \
        -v u="$udrop" \
        'BEGIN {printf "asked %6d opens/s, reached %6d/s: agent read %7.0f records/s over %.1f s, " \
                "%d lost in the kernel, %d user-space drop warnings, cpu %s%% of a core " \
                "(%.1f us a record), peak RSS %s MiB\n", r, g, n / s, s, l, u, c,
                c * s * 1e4 / (n > 0 ? n : 1), m}'
done

has_part 3 || exit 0
# the ids of the loaded raw_tracepoint programs
prog_ids() { bpftool prog show | awk '$2 == "raw_tracepoint" {sub(":", "", $1); print $1}' | sort; }
# "NAME RUN_TIME_NS RUN_CNT" of each program id given
prog_times() {
    local id
    for id in "$@"; do
        bpftool prog show id "$id" | awk 'NR == 1 {
            for (i = 1; i < NF; i++) {
                if ($i == "name") n = $(i + 1)
                if ($i == "run_time_ns") t = $(i + 1)
                if ($i == "run_cnt") c = $(i + 1)
            }
            print n, t + 0, c + 0 }'
    done
}
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
echo "== kernel cost: this agent's programs' run time per workload iteration (bpf_stats)"
prog_ids >"$tmp/ids.before"
agent_start
mapfile -t mine < <(prog_ids | comm -13 "$tmp/ids.before" -)
for i in "${!works[@]}"; do
    # the programs' time over one idle second first: the machine's other
    # syscalls, taken off in proportion to the workload's wall time
    prog_times "${mine[@]}" >"$tmp/k0"
    sleep 1
    prog_times "${mine[@]}" >"$tmp/k1"
    # shellcheck disable=SC2086
    read -r _ n wt _ < <("$load" ${works[$i]})
    prog_times "${mine[@]}" >"$tmp/k2"
    read -r cmin _ <<<"$(tr ' ' '\n' <<<"${cput[off,$i]:-0}" | grep . | sort -g | head -n1)"
    paste "$tmp/k0" "$tmp/k1" "$tmp/k2" | awk -v w="${names[$i]}" -v n="$n" -v wt="$wt" \
        -v cmin="$cmin" '{
        bt = ($5 - $2) * wt; bc = ($6 - $3) * wt      # background over the run
        t = $8 - $5; c = $9 - $6; raw += t; all += t - bt
        if (c > 0)
            part = part sprintf(" %s %.0f ns x %.1f", $1, t / c, (c - bc) / n) }
        END { per = all / n; base = cmin / n * 1e9
              printf "%-10s %6.0f ns an iteration", w, per
              if (base > 0)
                  printf ", %+.1f%% of the least CPU time without (%.2f us)", 100 * per / base,
                         base / 1000
              printf "; %.0f ns before taking off the background;%s\n", raw / n, part }'
done
agent_stop
