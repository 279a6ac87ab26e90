#!/usr/bin/env bash
# gen-certs.sh - a development CA and the certificates Bulwark's mutual TLS needs.
#
#   deploy/gen-certs.sh DIR [AGENT_ID ...]
#
# Makes in DIR (mode 0700, keys 0600):
#   ca.pem, ca.key                  a dev CA (ECDSA P-256, 10 years)
#   server.pem, server.key          bulwarkd (SAN: localhost, 127.0.0.1, ::1, this host's name)
#   agent-ID.pem, agent-ID.key      one per AGENT_ID, subject CN=ID, clientAuth only
# Leaf certificates last 825 days. Existing files are reused and never
# overwritten, so running it again with a new AGENT_ID only adds that agent.
# Only the openssl command line is used; nothing secret is printed.
set -euo pipefail

CA_DAYS=3650
LEAF_DAYS=825

die() {
    printf 'gen-certs: %s\n' "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s DIR [AGENT_ID ...]\n' "${0##*/}" >&2
    exit 2
}

[ $# -ge 1 ] || usage
dir=$1
shift
[ -n "$dir" ] || usage

for id in "$@"; do
    [[ $id =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "invalid agent id '$id' (allowed: [A-Za-z0-9._-], 1-64 characters)"
done

command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

umask 077
mkdir -p -- "$dir"
chmod 0700 -- "$dir"

work=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# Extension sections for every certificate we sign. Minimal [req] so the
# system openssl.cnf does not matter.
host=$(uname -n 2>/dev/null || true)
san="DNS:localhost, IP:127.0.0.1, IP:::1"
if [[ $host =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$ ]] && [ "$host" != localhost ]; then
    san="$san, DNS:$host"
fi
cat >"$work/openssl.cnf" <<EOF
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[v3_agent]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

# new_key PATH: an ECDSA P-256 key, created atomically with mode 0600.
new_key() {
    local tmp="$1.tmp.$$"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$tmp" 2>/dev/null \
        || { rm -f -- "$tmp"; die "cannot generate key '$1'"; }
    chmod 0600 -- "$tmp"
    mv -f -- "$tmp" "$1"
    printf 'created %s\n' "$1"
}

# ensure_key PATH: reuse PATH if present (tightening its mode), else make one.
ensure_key() {
    if [ -e "$1" ]; then
        chmod 0600 -- "$1"
    else
        new_key "$1"
    fi
}

# serial: a random positive 127-bit serial number in hex.
serial() {
    local hex
    hex=$(openssl rand -hex 16)
    printf '0x%x%s' $(( 0x${hex:0:1} & 7 )) "${hex:1}"
}

# sign_leaf NAME SUBJECT SECTION: NAME.pem from NAME.key, signed by the CA.
sign_leaf() {
    local name=$1 subj=$2 section=$3
    local key="$dir/$name.key" crt="$dir/$name.pem"
    local tmp="$crt.tmp.$$"

    if [ -e "$crt" ]; then
        [ -e "$key" ] || die "'$crt' exists but its key '$key' is missing"
        return 0
    fi
    ensure_key "$key"
    openssl req -new -config "$work/openssl.cnf" -key "$key" -subj "$subj" \
        -out "$work/$name.csr" 2>/dev/null || die "cannot make a request for '$crt'"
    openssl x509 -req -in "$work/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -set_serial "$(serial)" -days "$LEAF_DAYS" -sha256 \
        -extfile "$work/openssl.cnf" -extensions "$section" -out "$tmp" 2>/dev/null \
        || { rm -f -- "$tmp"; die "cannot sign '$crt'"; }
    chmod 0644 -- "$tmp"
    mv -f -- "$tmp" "$crt"
    printf 'created %s\n' "$crt"
}

# The CA. Its subject carries a random tag so two dev CAs never share a name.
if [ -e "$dir/ca.pem" ]; then
    [ -e "$dir/ca.key" ] || die "'$dir/ca.pem' exists but its key '$dir/ca.key' is missing"
    chmod 0600 -- "$dir/ca.key"
else
    ensure_key "$dir/ca.key"
    tmp="$dir/ca.pem.tmp.$$"
    openssl req -x509 -new -config "$work/openssl.cnf" -key "$dir/ca.key" \
        -subj "/O=Bulwark/CN=Bulwark Dev CA $(openssl rand -hex 4)" \
        -set_serial "$(serial)" -days "$CA_DAYS" -sha256 -extensions v3_ca \
        -out "$tmp" 2>/dev/null || { rm -f -- "$tmp"; die "cannot make CA '$dir/ca.pem'"; }
    chmod 0644 -- "$tmp"
    mv -f -- "$tmp" "$dir/ca.pem"
    printf 'created %s\n' "$dir/ca.pem"
fi

sign_leaf server "/O=Bulwark/CN=bulwarkd" v3_server
for id in "$@"; do
    sign_leaf "agent-$id" "/CN=$id" v3_agent
done
