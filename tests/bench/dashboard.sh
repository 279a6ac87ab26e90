#!/usr/bin/env bash
# tests/bench/dashboard.sh - dashboard benchmark (not a test): a release
# bulwarkd holding 1,000,000 events from 500 agents and 2,000 alerts, the 500
# agents connected (heartbeats only) while it is measured, and Debian's
# headless Chromium timing, from navigation start to the view's data-loaded
# mark, a complete overview and the alerts list (median of BENCH_RUNS fresh
# tabs after one warm-up). Targets on the 2-core machine: overview < 1 s,
# alerts list < 500 ms. Figures go to docs/performance.md ("Dashboard").
#
#   tests/bench/dashboard.sh
#   BENCH_AGENTS=50 BENCH_EVENTS=200 BENCH_ALERTS=200 tests/bench/dashboard.sh   # a quick look
set -euo pipefail

cd "$(dirname "$0")/../.."
src=$PWD

nagents=${BENCH_AGENTS:-500}
per_agent=${BENCH_EVENTS:-2000}
nalerts=${BENCH_ALERTS:-2000}
runs=${BENCH_RUNS:-5}

cmake --preset release >/dev/null
cmake --build --preset release --target bulwarkd bulwark-agent bulwark-loadgen >/dev/null
bin=build/release

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-dash.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ -n ${BENCH_KEEP:-} ]]; then echo "bench: kept $tmp"; else rm -rf -- "$tmp"; fi
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

bash deploy/gen-certs.sh "$tmp/certs" alerts >/dev/null
port=$(freeport)
api=$(freeport)
"$bin/bulwarkd" --listen="127.0.0.1:$port" --db="$tmp/server.db" --rules="$src/rules" \
    --tls-ca="$tmp/certs/ca.pem" --tls-cert="$tmp/certs/server.pem" --tls-key="$tmp/certs/server.key" \
    --api-listen="127.0.0.1:$api" --web-root="$src/web" 2>"$tmp/server.log" &
pids+=($!)
for ((i = 0; i < 300; i++)); do
    grep -q " api: listening 127.0.0.1:$api" "$tmp/server.log" && break
    sleep 0.1
done
grep -q " api: listening" "$tmp/server.log" || { cat "$tmp/server.log" >&2; die "bulwarkd not ready"; }
token=$("$bin/bulwarkd" token create --role analyst --name bench --db "$tmp/server.db" | awk '{print $1; exit}')
get() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$api$1"; }

echo "bench: storing $((nagents * per_agent)) events from $nagents agents"
t0=$SECONDS
"$bin/tests/bench/bulwark-loadgen" --server "127.0.0.1:$port" --certs "$tmp/certs" --agents "$nagents" \
    --events "$per_agent" --drain-timeout 900 --max-runtime 3600 --prefix bench >"$tmp/loadgen.txt" \
    2>"$tmp/loadgen.log" || { tail "$tmp/loadgen.log" >&2; die "loadgen failed"; }
echo "bench: stored in $((SECONDS - t0)) s"

# The alerts: critical "runtime socket mounted" configs, one container each,
# replayed by a real agent; topped up to BENCH_ALERTS whatever loadgen raised.
have=$(get "/api/v1/alerts?page_size=500" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
python3 - "$tmp/alerts.jsonl" "$((nalerts > have ? nalerts - have : 0))" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        cid = f"{i:064x}"
        f.write(json.dumps({"kind": "config", "severity": "info",
            "container": {"id": cid, "name": f"job-{i}", "image": f"registry.example.com/team{i % 40}/svc:{i % 7}"},
            "config": {"privileged": False, "user_uid": 1000,
                       "mounts": [{"source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]}}) + "\n")
PY
"$bin/bulwark-agent" --server="127.0.0.1:$port" --tls_ca="$tmp/certs/ca.pem" \
    --tls_cert="$tmp/certs/agent-alerts.pem" --tls_key="$tmp/certs/agent-alerts.key" \
    --spool="$tmp/spool-alerts.db" --hostname=host-alerts --source=replay \
    --replay_file="$tmp/alerts.jsonl" --exit_when_drained=true 2>"$tmp/agent-alerts.log" \
    || die "the alerts agent failed"
count_alerts() {
    local n=0 tok=""
    while :; do
        page=$(get "/api/v1/alerts?page_size=500${tok:+&page_token=$tok}")
        n=$((n + $(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))' <<<"$page")))
        tok=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["next_page_token"] or "")' <<<"$page")
        [[ -n $tok ]] || break
    done
    echo "$n"
}
for ((i = 0; i < 120; i++)); do
    alerts=$(count_alerts)
    ((alerts >= nalerts)) && break
    sleep 1
done
events=$(sqlite3 -readonly "$tmp/server.db" 'SELECT count(*) FROM events')
echo "bench: $events events, $alerts alerts stored"

# The agents stay connected while the browser looks (heartbeats only).
"$bin/tests/bench/bulwark-loadgen" --server "127.0.0.1:$port" --certs "$tmp/certs" --agents "$nagents" \
    --heartbeat-only --duration 900 --max-runtime 1000 --prefix bench >/dev/null 2>"$tmp/hb.log" &
pids+=($!)
for ((i = 0; i < 600; i++)); do
    up=$(curl -s "http://127.0.0.1:$api/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("connected_agents", 0))')
    ((up >= nagents)) && break
    sleep 0.5
done
echo "bench: $up agents connected"

mkdir -p "$tmp/npm"
cp tests/browser/package.json tests/browser/package-lock.json "$tmp/npm/"
(cd "$tmp/npm" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
for q in "/api/v1/agents?page_size=500" "/api/v1/alerts?page_size=100" \
         "/api/v1/alerts?page_size=500&since=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)" "/metrics"; do
    curl -s -o /dev/null -w "bench: GET $q %{time_total}s %{size_download}B\n" \
        -H "Authorization: Bearer $token" "http://127.0.0.1:$api$q"
done
BW_URL="http://127.0.0.1:$api/" BW_TOKEN="$token" BW_NODE_MODULES="$tmp/npm/node_modules" \
    BENCH_RUNS="$runs" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node tests/bench/dashboard_timing.mjs
