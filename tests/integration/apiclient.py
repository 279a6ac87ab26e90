"""apiclient.py - what the REST API's integration tests share (stdlib only):
starting bulwarkd with its API on a free loopback port, making tokens with
the real `bulwarkd token create`, and plain HTTP(S) calls."""

import http.client
import json
import ssl
import subprocess
import urllib.parse

import harness

API_READY_RE = r" info api: listening 127\.0\.0\.1:(\d+) \((https?)\)"


def start_api_server(test, certs, port=None, db=None, **opts):
    """Starts bulwarkd with the API on 127.0.0.1:0; returns (server, api_port)."""
    opts.setdefault("api_listen", "127.0.0.1:0")
    opts.setdefault("web_root", "")
    server = test.start_server(certs, port=port, db=db, **opts)
    m, _ = server.proc.wait_for(API_READY_RE, timeout=30)
    return server, int(m.group(1))


def make_token(db, role, name):
    """`bulwarkd token create`: returns the token text printed once."""
    r = subprocess.run([harness.BULWARKD, "token", "create", f"--role={role}", f"--name={name}",
                        f"--db={db}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=harness.child_env(), timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"token create failed: {r.stderr.decode(errors='replace')}")
    tok = r.stdout.decode().strip()
    assert tok.startswith("bwk_"), tok
    return tok


def revoke_token(db, token):
    tid = token.split("_")[1]
    r = subprocess.run([harness.BULWARKD, "token", "revoke", tid, f"--db={db}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness.child_env(),
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"token revoke failed: {r.stderr.decode(errors='replace')}")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def call(port, method, path, token=None, body=None, headers=None, params=None, tls_ca=None,
         timeout=60):
    """One request on a fresh connection; returns a Response."""
    if params:
        path += "?" + urllib.parse.urlencode(params, doseq=True)
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def get_json(port, path, token, params=None, expect=200):
    r = call(port, "GET", path, token=token, params=params)
    if r.status != expect:
        raise AssertionError(f"GET {path} {params}: {r.status} {r.body[:500]!r}")
    return r.json()


def all_pages(port, path, token, params=None, page_size=500):
    """Every item of a paged list, following next_page_token."""
    params = dict(params or {})
    params["page_size"] = page_size
    items = []
    while True:
        page = get_json(port, path, token, params)
        items += page["items"]
        if not page["next_page_token"]:
            return items
        params["page_token"] = page["next_page_token"]


def export(port, what, token, cursor=None, limit=None, **params):
    """One export call: (records, next_cursor or None when cut short)."""
    p = dict(params)
    if cursor:
        p["cursor"] = cursor
    if limit:
        p["limit"] = limit
    r = call(port, "GET", f"/api/v1/export/{what}", token=token, params=p)
    if r.status != 200:
        raise AssertionError(f"export {what}: {r.status} {r.body[:300]!r}")
    lines = [json.loads(ln) for ln in r.body.decode().splitlines() if ln]
    if not lines or "next_cursor" not in lines[-1]:
        return lines, None
    tail = lines.pop()
    assert tail["count"] == len(lines), (tail, len(lines))
    return lines, tail["next_cursor"]
