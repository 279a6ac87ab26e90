#!/usr/bin/env bash
# tests/bench/api.sh - the REST API on a large store while ingest runs: a
# benchmark, not a test (minutes, machine-dependent; docs/performance.md,
# "REST API", has the figures and how to read them).
#
#   1. builds the release preset (BENCH_BUILD, default build/release);
#   2. fills a database of API_EVENTS (10,000,000) events through the real
#      store (bulwark-store-query, which then prints its own query figures:
#      the store's side of the same questions); API_DB=PATH keeps it there
#      and reuses it on the next run;
#   3. starts bulwarkd on it with the API on loopback and a viewer token;
#   4. measures the ingest limit (bulwark-loadgen, 8 agents at full speed for
#      LIMIT_SECS) and keeps ingest running at half of it for the rest;
#   5. times each API question API_ROUNDS (200) times over one keep-alive
#      connection (p50/p99/max ms) and the native export's events/s.
#
# Usage: tests/bench/api.sh            (about 10 minutes on 2 cores)
#        API_EVENTS=1000000 API_ROUNDS=50 tests/bench/api.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${BENCH_BUILD:-$root/build/release}
events=${API_EVENTS:-10000000}
rounds=${API_ROUNDS:-200}
limit_secs=${LIMIT_SECS:-10}
export_events=${EXPORT_EVENTS:-1000000}

die() {
    echo "api-bench: $*" >&2
    exit 1
}

echo "api-bench: building $build (release)"
cmake --preset release -B "$build" >/dev/null
cmake --build "$build" -j2 --target bulwarkd bulwark-loadgen bulwark-store-query >/dev/null \
    || die "build failed"
bulwarkd=$build/bulwarkd
loadgen=$build/tests/bench/bulwark-loadgen
store_query=$build/tests/bench/bulwark-store-query

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-api.XXXXXX")
server_pid=
lg_pid=
cleanup() {
    [[ -n $lg_pid ]] && kill -KILL "$lg_pid" 2>/dev/null
    [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
    wait 2>/dev/null || true
    if [[ -n ${BENCH_KEEP:-} ]]; then echo "api-bench: kept $tmp"; else rm -rf -- "$tmp"; fi
}
trap cleanup EXIT
db=${API_DB:-$tmp/api.db}
echo "api-bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, temp $tmp, db $db"

# ------------------------------------------------------ the database
reuse=()
[[ -e $db ]] && reuse=(--reuse)
echo "api-bench: ${reuse:+reusing }$events events through the store (bulwark-store-query)"
t0=$(date +%s.%N)
"$store_query" --events="$events" --db="$db" "${reuse[@]}" --rounds="$rounds" \
    | tee "$tmp/store_query.txt" | sed 's/^/  store: /'
echo "api-bench: store built and queried in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"

# ------------------------------------------------------------ server
bash deploy/gen-certs.sh "$tmp/certs" bench-agent >/dev/null
token=$("$bulwarkd" token create --role viewer --name bench --db "$db" 2>/dev/null)
"$bulwarkd" --listen=127.0.0.1:0 --db="$db" --db-sync=full --api-listen=127.0.0.1:0 \
    --tls-ca="$tmp/certs/ca.pem" --tls-cert="$tmp/certs/server.pem" \
    --tls-key="$tmp/certs/server.key" --rules="$root/rules" --max-connections=1000 \
    >"$tmp/server.log" 2>&1 &
server_pid=$!
port= api=
for ((i = 0; i < 600; i++)); do
    port=$(grep -oE 'listener: listening 127\.0\.0\.1:[0-9]+' "$tmp/server.log" | cut -d: -f3 || true)
    api=$(grep -oE 'api: listening 127\.0\.0\.1:[0-9]+' "$tmp/server.log" | cut -d: -f3 || true)
    [[ -n $port && -n $api ]] && break
    kill -0 "$server_pid" 2>/dev/null || { tail -5 "$tmp/server.log" >&2; die "bulwarkd exited"; }
    sleep 0.1
done
[[ -n $port && -n $api ]] || die "bulwarkd not ready after 60 s"

# ---------------------------------------------------- ingest at half
run_loadgen() {
    local name=$1
    shift
    "$loadgen" --server="127.0.0.1:$port" --certs="$tmp/certs" "$@" \
        >"$tmp/$name.lg.out" 2>"$tmp/$name.lg.err" &
    lg_pid=$!
}
echo "api-bench: ingest limit: 8 agents at full speed for $limit_secs s"
run_loadgen limit --agents=8 --duration="$limit_secs" --batch=1024
wait "$lg_pid" || true
lg_pid=
line=$(grep '^loadgen ' "$tmp/limit.lg.out" || true)
[[ -n $line ]] || { tail -5 "$tmp/limit.lg.err" >&2; die "loadgen printed no summary"; }
limit=$(sed -n 's/.* eps=\([0-9]*\).*/\1/p' <<<"$line")
half=$((limit / 2))
echo "  limit $limit events/s; ingest now runs at $half events/s during the queries"
run_loadgen half --agents=8 --duration=3600 --batch=256 --rate="$((half / 8))"
sleep 5

# ------------------------------------------------------------ queries
python3 - "$api" "$token" "$rounds" "$export_events" "$server_pid" <<'EOF'
import http.client
import json
import random
import sys
import time
import base64

port, token, rounds, export_n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
server_pid = sys.argv[5]
T0 = 1700000000  # bulwark-store-query's first event time (s); events 1 ms apart
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
hdr = {"Authorization": f"Bearer {token}"}
rnd = random.Random(7)


def rfc(s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))


refused = 0


def get(path, may_refuse=False):
    global refused
    conn.request("GET", path, headers=hdr)
    r = conn.getresponse()
    body = r.read()
    if r.status == 400 and may_refuse and b"distinct connections" in body:
        refused += 1  # the range is too broad to answer: the bound, not an error
        return body
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
    return body


total = json.loads(get(f"/api/v1/stats?since={rfc(T0)}&until={rfc(T0 + 365 * 86400)}"
                       "&bucket=1d"))["events"]["total"]
span = max(60, total // 1000)  # seconds the bench events cover
last_id = json.loads(get("/api/v1/events?page_size=1"))["items"][0]["id"]


def token_for(i):
    return base64.urlsafe_b64encode(f"e1.{i}".encode()).decode().rstrip("=")


def api_cpu_s():
    """CPU-seconds of bulwarkd's API threads (libmicrohttpd's workers): the
    questions' own work, whatever the machine's load and without ingest's"""
    import os
    total = 0
    for tid in os.listdir(f"/proc/{server_pid}/task"):
        try:
            with open(f"/proc/{server_pid}/task/{tid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        if comm.startswith("MHD"):
            fields = st[st.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def host():
    return f"node-{rnd.randrange(500):04d}"


def container():
    """one of bulwark-store-query's container ids (its sq_names)"""
    a, c = rnd.randrange(500), rnd.randrange(10)
    return f"{(a * 1000003 + c * 7919 + 1) & 0xffffffff:08x}{c + 1:056x}"


def day_range():
    return f"since={rfc(T0)}&until={rfc(T0 + 86400)}"


shapes = [
    ("events: host + kind, first page", lambda: f"/api/v1/events?host={host()}&kind=net"),
    ("events: time 10 min + kind, first page",
     lambda: (lambda s: f"/api/v1/events?since={rfc(s)}&until={rfc(s + 600)}&kind=exec")(
         T0 + rnd.randrange(span))),
    ("events: deep keyset page (host)",
     lambda: f"/api/v1/events?host={host()}&page_token={token_for(rnd.randrange(2, last_id // 10))}"),
    ("events: deep keyset page (no filter)",
     lambda: f"/api/v1/events?page_token={token_for(rnd.randrange(2, last_id // 10))}"),
    ("stats 1m, whole bench range",
     lambda: f"/api/v1/stats?since={rfc(T0)}&until={rfc(T0 + span)}&bucket=1m"),
    ("stats 5m, 24 h", lambda: f"/api/v1/stats?{day_range()}&bucket=5m"),
    ("stats 1h, 24 h", lambda: f"/api/v1/stats?{day_range()}&bucket=1h"),
    ("stats 1d, 30 days",
     lambda: f"/api/v1/stats?since={rfc(T0)}&until={rfc(T0 + 30 * 86400)}&bucket=1d"),
    ("stats default (last 24 h, live)", lambda: "/api/v1/stats"),
    ("network, 24 h", lambda: f"/api/v1/network?{day_range()}"),
    ("network, 1 h", lambda: f"/api/v1/network?since={rfc(T0)}&until={rfc(T0 + 3600)}"),
    ("network, 1 h, one host", lambda: f"/api/v1/network?since={rfc(T0)}&until={rfc(T0 + 3600)}"
     f"&host={host()}"),
    ("network, 1 h, one container",
     lambda: f"/api/v1/network?since={rfc(T0)}&until={rfc(T0 + 3600)}&container={container()}"),
    ("containers, first page", lambda: "/api/v1/containers"),
    ("hosts, first page", lambda: "/api/v1/hosts"),
]
print(f"api: {total} events in the rollups; {rounds} rounds per shape, one keep-alive connection")
for name, make in shapes:
    lat = []
    size = 0
    # network answers read every edge of their range: fewer rounds
    net = name.startswith("network")
    n = max(10, rounds // 4) if net else rounds
    refused = 0
    cpu0 = api_cpu_s()
    for _ in range(n):
        path = make()
        t = time.perf_counter()
        size += len(get(path, net))
        lat.append((time.perf_counter() - t) * 1000)
    cpu_ms = (api_cpu_s() - cpu0) * 1000 / n
    lat.sort()
    print(f"api {name:42s} p50 {lat[len(lat) // 2]:8.2f} ms  p99 "
          f"{lat[int((len(lat) - 1) * 0.99)]:8.2f} ms  max {lat[-1]:8.2f} ms  "
          f"cpu {cpu_ms:6.1f} ms/q  "
          f"({size // n} bytes, {n} rounds{f', {refused} refused as too broad' if refused else ''})")

# export: native NDJSON from the start, export_n events, streamed
t = time.perf_counter()
conn.request("GET", f"/api/v1/export/events?format=native&limit={export_n}", headers=hdr)
r = conn.getresponse()
lines = 0
nbytes = 0
while True:
    chunk = r.read(1 << 20)
    if not chunk:
        break
    nbytes += len(chunk)
    lines += chunk.count(b"\n")
secs = time.perf_counter() - t
print(f"api export native: {lines - 1} events in {secs:.2f} s = {(lines - 1) / secs:,.0f} events/s"
      f" ({nbytes / secs / 1e6:.0f} MB/s, status {r.status})")
EOF

kill -INT "$lg_pid" 2>/dev/null || true
wait "$lg_pid" || true
lg_pid=
line=$(grep '^loadgen ' "$tmp/half.lg.out" || true)
echo "api-bench: ingest during the queries: $(sed -n 's/.*\( eps=[0-9]*\).*\( ack_p99_ms=[0-9.]*\).*/\1\2/p' <<<"$line")"
# the export again with ingest stopped: wall clock and bulwarkd's CPU
# seconds (utime + stime), the figure that does not depend on what else the
# shared machine runs
python3 - "$api" "$token" "$export_events" "$server_pid" <<'EOF'
import http.client
import os
import sys
import time

port, token, n, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
tick = os.sysconf("SC_CLK_TCK")


def cpu():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
c0, t = cpu(), time.perf_counter()
conn.request("GET", f"/api/v1/export/events?format=native&limit={n}",
             headers={"Authorization": f"Bearer {token}"})
r = conn.getresponse()
lines = 0
while chunk := r.read(1 << 20):
    lines += chunk.count(b"\n")
secs, cs = time.perf_counter() - t, cpu() - c0
print(f"api export native, no ingest: {lines - 1} events in {secs:.2f} s = "
      f"{(lines - 1) / secs:,.0f} events/s; bulwarkd {cs:.2f} CPU-s = "
      f"{(lines - 1) / cs:,.0f} events per CPU-second (status {r.status})")
EOF

kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=
