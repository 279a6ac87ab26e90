#!/usr/bin/env bash
# tests/bench/ingest.sh - ingest benchmark (not a test): the `release` build,
# one bulwarkd and 8 agents (distinct identities) shipping synthetic events at
# full speed on loopback. Prints events/s (first agent start to last agent
# drained, so spooling is included), ack latency (median of the agents' p50,
# max of their p99), the server's peak RSS and database bytes per event.
#
#   tests/bench/ingest.sh            # 8 agents x 200,000 events
#   BENCH_EVENTS=50000 BENCH_AGENTS=4 BENCH_SYNC=normal tests/bench/ingest.sh
set -euo pipefail

cd "$(dirname "$0")/../.."

events=${BENCH_EVENTS:-200000}
nagents=${BENCH_AGENTS:-8}
sync=${BENCH_SYNC:-full}
timeout_s=${BENCH_TIMEOUT:-1800}

cmake --preset release >/dev/null
cmake --build --preset release --target bulwarkd bulwark-agent
bin=build/release

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench.XXXXXX")
server_pid=
agent_pids=()
cleanup() {
    local p
    for p in "${agent_pids[@]}" $server_pid; do
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ -n ${BENCH_KEEP:-} ]]; then
        echo "bench: kept $tmp"
    else
        rm -rf -- "$tmp"
    fi
}
trap cleanup EXIT

die() {
    echo "bench: $*" >&2
    exit 1
}

ids=()
for ((i = 1; i <= nagents; i++)); do
    ids+=("bench-$i")
done
bash deploy/gen-certs.sh "$tmp/certs" "${ids[@]}" >/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/bulwarkd" --listen="127.0.0.1:$port" --db="$tmp/server.db" --db-sync="$sync" \
    --tls_ca="$tmp/certs/ca.pem" --tls_cert="$tmp/certs/server.pem" \
    --tls_key="$tmp/certs/server.key" 2>"$tmp/server.log" &
server_pid=$!

for ((i = 0; i < 300; i++)); do
    grep -q " info listener: listening 127.0.0.1:$port" "$tmp/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "bulwarkd exited"; }
    sleep 0.1
done
grep -q " info listener: listening 127.0.0.1:$port" "$tmp/server.log" \
    || die "bulwarkd not ready after 30 s"

echo "bench: $nagents agents x $events events, sync=$sync, port $port"
t0=$(date +%s.%N)
for id in "${ids[@]}"; do
    "$bin/bulwark-agent" --server="127.0.0.1:$port" --tls_ca="$tmp/certs/ca.pem" \
        --tls_cert="$tmp/certs/agent-$id.pem" --tls_key="$tmp/certs/agent-$id.key" \
        --spool="$tmp/spool-$id.db" --hostname="host-$id" --source=synthetic \
        --synthetic_rate=0 --synthetic_count="$events" --exit_when_drained=true \
        2>"$tmp/agent-$id.log" &
    agent_pids+=($!)
done

deadline=$((SECONDS + timeout_s))
for ((i = 0; i < nagents; i++)); do
    pid=${agent_pids[$i]}
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || die "agents not drained after $timeout_s s"
        sleep 0.05
    done
    status=0
    wait "$pid" || status=$?
    ((status == 0)) || { tail -5 "$tmp/agent-${ids[$i]}.log" >&2; die "agent ${ids[$i]} exited $status"; }
done
t1=$(date +%s.%N)
agent_pids=()

hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
((status == 0)) || die "bulwarkd exited $status on SIGTERM"

rows=$(sqlite3 -readonly "$tmp/server.db" 'SELECT count(*) FROM events')
expected=$((events * nagents))
((rows == expected)) || die "stored $rows events, expected $expected"
db_bytes=0
for f in "$tmp/server.db" "$tmp/server.db-wal"; do
    [[ -e $f ]] && db_bytes=$((db_bytes + $(stat -c %s "$f")))
done

for id in "${ids[@]}"; do
    grep -oE 'drained: [0-9]+ events acked, ack latency p50 [0-9.]+ ms p99 [0-9.]+ ms' \
        "$tmp/agent-$id.log" | tail -1 || die "agent $id logged no drained line"
done >"$tmp/drained.txt"

python3 - "$tmp/drained.txt" "$t0" "$t1" "$rows" "$hwm_kib" "$db_bytes" <<'PY'
import re, statistics, sys
path, t0, t1, rows, hwm, dbb = sys.argv[1:]
lat = [tuple(map(float, re.search(r"p50 ([0-9.]+) ms p99 ([0-9.]+) ms", ln).groups()))
       for ln in open(path) if ln.strip()]
secs = float(t1) - float(t0)
rows = int(rows)
print(f"events          {rows} in {secs:.2f} s")
print(f"throughput      {rows / secs:,.0f} events/s")
print(f"ack latency     p50 {statistics.median(p for p, _ in lat):.2f} ms (median of agents), "
      f"p99 {max(q for _, q in lat):.2f} ms (max of agents)")
print(f"server peak RSS {int(hwm) / 1024:.1f} MiB")
print(f"database        {int(dbb) / rows:.1f} bytes/event ({int(dbb) / 1048576:.1f} MiB)")
PY
