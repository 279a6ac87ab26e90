#!/usr/bin/env bash
# Lints bulwarkd's OpenAPI document with Redocly's CLI (pinned in
# package-lock.json), installed with `npm ci` into a work directory of the
# build tree, so the source tree stays clean. Usage: lint.sh WORKDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: lint.sh WORKDIR}
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/redocly.yaml" "$work/"
cd "$work"
if ! cmp -s package-lock.json node_modules/.bulwark-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.bulwark-lock
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec node_modules/.bin/redocly lint --config redocly.yaml "$here/../../server/api/openapi.json"
