#!/usr/bin/env bash
# Installs the Debian 12 packages Bulwark needs to build, run and test, but
# only those missing. As root it uses apt-get; otherwise it lists what is
# missing and fails. Used by deploy/quickstart.sh and tests/run.sh.
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates openssl
      libuv1-dev libsqlite3-dev sqlite3 libprotobuf-c-dev protobuf-c-compiler
      libssl-dev libjansson-dev libmicrohttpd-dev libyaml-dev libcmocka-dev python3
      nodejs prometheus clang libclang-rt-14-dev rsyslog rsyslog-gnutls chromium
      podman runc busybox-static libbpf-dev bpftool
      dnsmasq-base   # dnsmasq-base: the DNS server of the live remote-name test
      openssh-client)  # ssh: Falco's "Disallowed SSH Connection Non Standard Port", live
# libbpf-dev and bpftool (with clang) build the agent's eBPF sensor.
# npm runs the tests' pinned JavaScript tools (the OpenAPI linter, the
# dashboard's browser driver). Debian's npm only when there is none: a Node
# from elsewhere (NodeSource) brings its own npm, and Debian's conflicts with it.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
[ "$#" -gt 0 ] && pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
