#!/usr/bin/env bash
# tests/run.sh - the one test command (README, CI): installs missing build
# dependencies when allowed, configures and builds the `dev` preset (ASan +
# UBSan, -Werror) and runs every unit and integration test with ctest.
set -euo pipefail

cd "$(dirname "$0")/.."

deps=(build-essential cmake ninja-build pkg-config libuv1-dev libsqlite3-dev
      libprotobuf-c-dev protobuf-c-compiler libssl-dev openssl libjansson-dev
      libmicrohttpd-dev libcmocka-dev python3 sqlite3 ca-certificates)

missing=()
for p in "${deps[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 || ${CI:-} == true ]]; then
        echo "run.sh: installing missing packages: ${missing[*]}"
        sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get update
        "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "run.sh: missing packages: ${missing[*]}" >&2
        echo "run.sh: install them (as root: apt-get install ${missing[*]}) and rerun" >&2
        exit 1
    fi
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

cmake --preset dev
cmake --build --preset dev

status=0
ctest --preset dev || status=$?

if ((status == 0)); then
    echo "run.sh: all tests passed"
else
    echo "run.sh: FAILED (ctest exit status $status)" >&2
fi
exit "$status"
