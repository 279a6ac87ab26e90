#!/usr/bin/env bash
# The README's run command: installs what is missing, builds the release
# preset, makes a dev CA with a server and a local agent certificate in the
# state directory (reused on the next run), starts bulwarkd on an embedded
# SQLite file and a local bulwark-agent, prints where to look, and stays in
# the foreground until Ctrl-C, which stops both cleanly.
#
# Environment: BULWARK_STATE (default ./.state), BULWARK_LISTEN
# (default 127.0.0.1:7443), BULWARK_API_LISTEN (REST API and dashboard,
# default 127.0.0.1:7480; plain HTTP on loopback, HTTPS anywhere else).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${BULWARK_STATE:-$repo/.state}
listen=${BULWARK_LISTEN:-127.0.0.1:7443}
api_listen=${BULWARK_API_LISTEN:-127.0.0.1:7480}

"$repo/deploy/install-deps.sh"
cd "$repo"
cmake --preset release >/dev/null
cmake --build --preset release
bin=$repo/build/release

mkdir -p "$state"
chmod 700 "$state"
agent_id=$(hostname -s 2>/dev/null | sed 's/[^A-Za-z0-9._-]/-/g' | cut -c1-60)
agent_id=${agent_id:-local}
"$repo/deploy/gen-certs.sh" "$state/certs" "$agent_id" >/dev/null

# An admin API token, made once (only its hash goes into the database; the
# token itself is kept in the private state directory for this dev setup).
if [ ! -s "$state/admin.token" ]; then
    (umask 077 && "$bin/bulwarkd" token create --role admin --name quickstart-admin \
        --db "$state/bulwark.db" >"$state/admin.token")
fi
admin_token=$(cat "$state/admin.token")

server_log=$state/bulwarkd.log
agent_log=$state/agent.log
: >"$server_log"
: >"$agent_log"

"$bin/bulwarkd" --listen "$listen" --db "$state/bulwark.db" \
    --tls-ca "$state/certs/ca.pem" --tls-cert "$state/certs/server.pem" \
    --tls-key "$state/certs/server.key" --rules "$repo/rules" \
    --api-listen "$api_listen" --web-root "$repo/web" 2>>"$server_log" &
server_pid=$!
agent_pid=

stop() {
    trap - INT TERM EXIT
    echo
    echo "stopping..."
    [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null || true
    kill -TERM "$server_pid" 2>/dev/null || true
    [ -n "$agent_pid" ] && wait "$agent_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    echo "stopped; state kept in $state"
}
trap stop INT TERM EXIT

# Wait for the ready line (or the server's death) rather than sleeping blind.
for _ in $(seq 1 100); do
    grep -q ' listener: listening ' "$server_log" && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "bulwarkd failed to start:" >&2
        cat "$server_log" >&2
        exit 1
    fi
    sleep 0.1
done
addr=$(sed -n 's/.* listener: listening //p' "$server_log" | head -n1)
api_line=$(sed -n 's/.* api: listening \(.*\) (\(https*\))$/\2:\/\/\1/p' "$server_log" | head -n1)
[ -n "$api_line" ] || { echo "bulwarkd did not start its API" >&2; cat "$server_log" >&2; exit 1; }
api_url=$api_line
[ -n "$addr" ] || { echo "bulwarkd did not report its address" >&2; cat "$server_log" >&2; exit 1; }

# The local agent watches this host with the real collectors: processes,
# outbound connections, writes below /etc and binary directories, container
# CPU/memory and configuration. Drop Trivy JSON reports into
# $state/trivy to have them ingested.
mkdir -p "$state/trivy"
"$bin/bulwark-agent" --server "$addr" --tls-ca "$state/certs/ca.pem" \
    --tls-cert "$state/certs/agent-$agent_id.pem" --tls-key "$state/certs/agent-$agent_id.key" \
    --spool "$state/agent-spool.db" --source host --trivy-dir "$state/trivy" \
    --label-environment dev 2>>"$agent_log" &
agent_pid=$!

cat <<MSG

Bulwark is running.
  server     bulwarkd on $addr (TLS 1.3, mutual), pid $server_pid
  agent      bulwark-agent '$agent_id', pid $agent_pid
  database   $state/bulwark.db
  dev CA     $state/certs/ca.pem   (add agents: deploy/gen-certs.sh $state/certs NAME)
  logs       $server_log
             $agent_log

  dashboard  $api_url/   (sign in with the admin token below)
  REST API   $api_url/api/v1/   (described at $api_url/api/v1/openapi.json)
  admin token (kept in $state/admin.token; make others with
             bulwarkd token create --role viewer --name NAME --db $state/bulwark.db):
    $admin_token

Look at what arrives and the alerts the rules raise:
  curl -s -H "Authorization: Bearer $admin_token" '$api_url/api/v1/events?page_size=5'
  curl -s -H "Authorization: Bearer $admin_token" '$api_url/api/v1/alerts'

Ctrl-C stops both (spooled events are kept and sent on the next start).
MSG

tail -n +1 -F "$server_log" "$agent_log" 2>/dev/null &
tail_pid=$!
while kill -0 "$server_pid" 2>/dev/null && kill -0 "$agent_pid" 2>/dev/null; do
    wait -n "$server_pid" "$agent_pid" 2>/dev/null || true
done
kill "$tail_pid" 2>/dev/null || true
