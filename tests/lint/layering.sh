#!/usr/bin/env bash
# tests/lint/layering.sh - the dependency directions of docs/architecture.md:
# common code includes only common headers (include/bulwark/), agent code
# never a server header (server/include/bulwark/) and server code never an
# agent header (agent/include/bulwark/), by name or by a relative path. The
# build enforces the same through each target's include directories; this
# names the offending line, and also catches "../server/..."-style paths.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

names() { (cd "$1" && ls -- *.h 2>/dev/null) | sed 's/\.h$//' | paste -sd'|'; }
server_h="$(names server/include/bulwark)"
agent_h="$(names agent/include/bulwark)"
[[ -n "$server_h" && -n "$agent_h" ]] || { echo "layering: header folders missing" >&2; exit 1; }

status=0
check() {  # check DIRS... -- PATTERN WHAT
    local pattern="${*: -2:1}" what="${*: -1}" dirs=("${@:1:$#-3}")
    local hits
    hits="$(grep -rnE --include='*.c' --include='*.h' "$pattern" "${dirs[@]}" || true)"
    if [[ -n "$hits" ]]; then
        echo "layering: $what:" >&2
        echo "$hits" >&2
        status=1
    fi
}
check agent -- "#include \"(bulwark/($server_h)\.h|[./]*server/)" "agent code includes a server header"
check server -- "#include \"(bulwark/($agent_h)\.h|[./]*agent/)" "server code includes an agent header"
check common include -- "#include \"(bulwark/($server_h|$agent_h)\.h|[./]*(server|agent)/)" \
    "common code includes a server or agent header"
# Inside the agent: attribution (containers), the /proc readers (procfs)
# and the event builders (evbuild) sit below the collectors and the sensor,
# which use them; they include none of the collectors' headers (no cycle).
check agent/containers.c agent/procfs.c agent/evbuild.c agent/include/bulwark/containers.h \
    agent/include/bulwark/procfs.h agent/include/bulwark/evbuild.h -- \
    "#include \"(bulwark/(collector|procref|execattr|dnswatch|sensor|source)\.h|[./]*(collectors|sensor|sources)/)" \
    "attribution, the /proc readers or the event builders include a collector's header"
if ((status == 0)); then
    echo "layering: agent -> common <- server holds ($(echo "$server_h" | tr '|' ' ' | wc -w) server," \
         "$(echo "$agent_h" | tr '|' ' ' | wc -w) agent headers)"
fi
exit "$status"
