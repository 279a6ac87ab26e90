#!/usr/bin/env bash
# tests/bench/agent.sh - agent cost benchmark (not a test). Release build; a
# bulwarkd on a free loopback port; one bulwark-agent shipping 1,000 synthetic
# events/s (spooled with synchronous=FULL, batched, TLS) for BENCH_SECONDS
# (default 60) while the real host collectors are NOT running, then the same
# agent with the real collectors on this host and no synthetic load. Prints
# each run's CPU (% of one core, from /proc/PID/stat over the window) and
# peak RSS (VmHWM). Target (issue 5): < 1% of a core and < 16 MB at 1,000
# events/s.
#
# Knobs: BENCH_SECONDS, BENCH_RATE, BENCH_BUILD (release build dir, default
# build/release), BENCH_AGENTS (space-separated agent binaries to run in turn
# against the same server, e.g. an old and a new build for an A/B comparison
# on a noisy machine; default the build's own), BENCH_REPEAT (rounds of the
# synthetic run over BENCH_AGENTS, default 1), BENCH_HOST=0 (skip the host
# collectors run).
set -euo pipefail

cd "$(dirname "$0")/../.."
secs=${BENCH_SECONDS:-60}
rate=${BENCH_RATE:-1000}
bin=${BENCH_BUILD:-build/release}

cmake --preset release -B "$bin" >/dev/null
cmake --build "$bin" --target bulwarkd bulwark-agent >/dev/null
agents=${BENCH_AGENTS:-$bin/bulwark-agent}
repeat=${BENCH_REPEAT:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-agent-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf -- "$tmp"
}
trap cleanup EXIT

deploy/gen-certs.sh "$tmp/certs" bench-agent >/dev/null
"$bin/bulwarkd" --listen 127.0.0.1:0 --db "$tmp/b.db" --tls_ca "$tmp/certs/ca.pem" \
    --tls_cert "$tmp/certs/server.pem" --tls_key "$tmp/certs/server.key" --rules "" \
    2>"$tmp/server.log" &
pids+=($!)
for _ in $(seq 1 100); do
    grep -q ' listening ' "$tmp/server.log" && break
    sleep 0.1
done
addr=$(sed -n 's/.* listener: listening //p' "$tmp/server.log" | head -n1)
[ -n "$addr" ] || { cat "$tmp/server.log"; exit 1; }
hz=$(getconf CLK_TCK)

# measure PID SECONDS: prints "cpu% peak_rss_kib"
measure() {
    local pid=$1 s=$2 t0 t1 c0 c1
    read -r c0 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
    t0=$(date +%s.%N)
    sleep "$s"
    read -r c1 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
    t1=$(date +%s.%N)
    awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
        -v rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" \
        'BEGIN { printf "%.2f %d\n", 100 * (c1 - c0) / hz / (t1 - t0), rss }'
}

run() {  # AGENT_BINARY ID LABEL ARGS...
    local agent=$1 name=$2 label=$3; shift 3
    "$agent" --server "$addr" --tls_ca "$tmp/certs/ca.pem" \
        --tls_cert "$tmp/certs/agent-bench-agent.pem" \
        --tls_key "$tmp/certs/agent-bench-agent.key" --spool "$tmp/spool-$name.db" \
        "$@" 2>"$tmp/agent-$name.log" &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do
        grep -q 'connected to' "$tmp/agent-$name.log" && break
        sleep 0.1
    done
    sleep 2  # past start-up (first scans, spool creation)
    read -r cpu rss < <(measure "$pid" "$secs")
    kill -TERM "$pid"
    wait "$pid" || true
    printf '%-34s cpu %6.2f%% of a core   peak RSS %6.1f MiB\n' "$label" "$cpu" \
        "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
}

echo "agent benchmark: ${secs}s windows on $(nproc) cores"
for r in $(seq 1 "$repeat"); do
    i=0
    for agent in $agents; do
        i=$((i + 1))
        label="synthetic ${rate}/s (no collectors)"
        [ "$agents" = "$bin/bulwark-agent" ] || label="$agent ${rate}/s"
        run "$agent" "synthetic-$r-$i" "$label" --source synthetic --synthetic_rate "$rate"
    done
done
if [ "${BENCH_HOST:-1}" != 0 ]; then
    run "$bin/bulwark-agent" host "host collectors, this host" --source host
fi
events=$(sqlite3 -readonly "$tmp/b.db" 'SELECT count(*) FROM events')
echo "server stored $events events"
