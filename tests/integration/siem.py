"""siem.py - what the SIEM export and forwarding tests share: a bulwarkd
with the REST API and an API token, ingested data of every event kind with
alerts, export calls, and the schema checks against the pinned upstream
extracts in tests/fixtures/siem/ (see its README)."""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import harness

FIXTURES = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "siem")
API_RE = r" info api: listening 127\.0\.0\.1:(\d+) \(http\)"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def token(db, role="viewer", name="siem"):
    out = subprocess.run([harness.BULWARKD, "token", "create", "--role", role, "--name", name,
                          f"--db={db}"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def rules_dir(test):
    d = test.path("rules")
    if not os.path.isdir(d):
        shutil.copytree(os.path.join(harness.SOURCE_DIR, "rules"), d)
    return d


def api_port(server):
    m, _ = server.proc.wait_for(API_RE, timeout=30)
    return int(m.group(1))


def export(port, tok, what, fmt, cursor=None, limit=100000):
    """One export call: (records, next_cursor)."""
    url = f"http://127.0.0.1:{port}/api/v1/export/{what}?format={fmt}&limit={limit}"
    if cursor:
        url += f"&cursor={cursor}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {tok}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        lines = r.read().decode().splitlines()
    last = json.loads(lines[-1])
    assert set(last) == {"next_cursor", "count"}, lines[-1]
    recs = [json.loads(ln) for ln in lines[:-1]]
    assert last["count"] == len(recs)
    return recs, last["next_cursor"]


# Scanners' posture findings (the synthetic source makes none), as the Trivy
# collector writes them.
SCAN_EVENTS = [
    {"kind": "misconfig", "severity": "critical",
     "container": {"image": "registry.example.org/shop:2.4.1"},
     "misconfig": {"check_id": "AVD-AWS-0107", "avd_id": "AVD-AWS-0107",
                   "title": "An ingress security group rule allows traffic from /0.",
                   "finding_severity": "CRITICAL", "status": "FAIL",
                   "message": "Security group rule allows ingress from public internet.",
                   "target": "infra/network.tf", "target_type": "terraform", "start_line": 12,
                   "end_line": 12, "scanner": "trivy",
                   "artifact_name": "registry.example.org/shop:2.4.1",
                   "artifact_type": "container_image",
                   "primary_url": "https://avd.aquasec.com/misconfig/avd-aws-0107"}},
    {"kind": "secret", "severity": "critical",
     "secret": {"rule_id": "aws-access-key-id", "category": "AWS", "title": "AWS Access Key ID",
                "finding_severity": "CRITICAL", "target": "config/shop.env", "start_line": 3,
                "end_line": 3, "match_redacted": "AWS_ACCESS_KEY_ID=****", "scanner": "trivy",
                "artifact_name": "https://github.com/example-org/shop",
                "artifact_type": "repository"}},
]


def ingest_all_kinds(test, certs, server, mixed=3000):
    """A mixed agent (every event kind the synthetic source makes), the miner
    scenario (alerts), and a replay of scanners' posture findings (agent
    siem-scans)."""
    path = test.path("siem-scans.ndjson")
    with open(path, "w") as f:
        for e in SCAN_EVENTS:
            f.write(json.dumps(dict(e, time_ns=time.time_ns())) + "\n")
    scans = test.start_agent(certs, server, "siem-scans", source="replay", replay_file=path,
                             exit_when_drained="true")
    test.wait_drained(scans, len(SCAN_EVENTS))
    mixed_agent = test.start_agent(certs, server, "siem-mixed", synthetic_count=mixed,
                                   synthetic_rate=20000, exit_when_drained="true")
    test.wait_drained(mixed_agent, mixed)
    miner = test.start_agent(certs, server, "siem-miner", synthetic_scenario="miner",
                             exit_when_drained="true")
    test.wait_drained(miner)


# ------------------------------------------------------------------ ECS

def ecs_fields():
    with open(os.path.join(FIXTURES, "ecs-8.11.0.json")) as f:
        return json.load(f)["fields"]


def _ecs_value_ok(etype, v):
    if etype in ("keyword", "constant_keyword", "wildcard", "match_only_text", "text"):
        return isinstance(v, str)
    if etype in ("long", "integer", "short", "byte", "unsigned_long"):
        return isinstance(v, int) and not isinstance(v, bool)
    if etype in ("float", "scaled_float", "double", "half_float"):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if etype == "boolean":
        return isinstance(v, bool)
    if etype == "date":
        return isinstance(v, str) and RFC3339.match(v) is not None
    if etype == "ip":
        try:
            ipaddress.ip_address(v)
            return True
        except (ValueError, TypeError):
            return False
    return False


def ecs_problems(doc, fields):
    """Every leaf of doc must be an ECS field of the right type (arrays only
    where ECS normalises to an array; keys under an ECS `object` field are
    free); allowed values of the categorisation fields are respected;
    @timestamp and ecs.version are there."""
    probs = []
    objects = {k for k, f in fields.items() if f["type"] in ("object", "flattened")}

    def walk(prefix, v):
        if prefix in objects:
            return  # labels, container.labels: any keys (values checked below)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else k, x)
            return
        f = fields.get(prefix)
        if f is None:
            probs.append(f"{prefix}: not an ECS 8.11 field")
            return
        vals = v if isinstance(v, list) else [v]
        if isinstance(v, list) and not f["array"]:
            probs.append(f"{prefix}: an array where ECS has one value")
        for x in vals:
            if not _ecs_value_ok(f["type"], x):
                probs.append(f"{prefix}: {x!r} is not an ECS {f['type']}")
            if "allowed" in f and x not in f["allowed"]:
                probs.append(f"{prefix}: {x!r} is not an allowed value")

    walk("", doc)
    for k in ("labels", "container.labels"):
        cur = doc
        for part in k.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if isinstance(cur, dict):
            for lk, lv in cur.items():
                if not isinstance(lv, str):
                    probs.append(f"{k}.{lk}: label values are keywords")
    if "@timestamp" not in doc:
        probs.append("@timestamp missing")
    if doc.get("ecs", {}).get("version") != "8.11.0":
        probs.append("ecs.version is not 8.11.0")
    return probs


# ----------------------------------------------------------------- OCSF

def ocsf_schema():
    with open(os.path.join(FIXTURES, "ocsf-1.1.0.json")) as f:
        return json.load(f)


def ocsf_problems(rec, schema):
    """The record's class exists; it carries every attribute its class
    requires, and every object in it (at any depth) every attribute its
    object type requires; type_uid and category_uid agree with class_uid."""
    probs = []
    cls = schema["classes"].get(str(rec.get("class_uid")))
    if cls is None:
        return [f"class_uid {rec.get('class_uid')!r} is not an OCSF 1.1.0 class"]
    if rec.get("category_uid") != cls["category_uid"]:
        probs.append(f"category_uid {rec.get('category_uid')} != {cls['category_uid']}")
    if rec.get("type_uid") != rec["class_uid"] * 100 + rec.get("activity_id", -1):
        probs.append("type_uid is not class_uid * 100 + activity_id")
    if rec.get("metadata", {}).get("version") != "1.1.0":
        probs.append("metadata.version is not 1.1.0")

    def check(where, obj, spec):
        for req in spec["required"]:
            if obj.get(req) in (None, "", [], {}):
                probs.append(f"{where}: required '{req}' missing")
        for k, v in obj.items():
            a = spec["attributes"].get(k)
            if a is None:
                probs.append(f"{where}.{k}: not an attribute of this class/object")
                continue
            if a.get("profile") and a["profile"] not in profiles:
                probs.append(f"{where}.{k}: needs profile {a['profile']} in metadata.profiles")
            if a["type"] == "object_t" and a["object"] in schema["objects"]:
                items = v if isinstance(v, list) else [v]
                if isinstance(v, list) != a["array"]:
                    probs.append(f"{where}.{k}: array-ness differs from the schema")
                for i, it in enumerate(items):
                    if not isinstance(it, dict):
                        probs.append(f"{where}.{k}: not an object")
                        continue
                    check(f"{where}.{k}" + (f"[{i}]" if isinstance(v, list) else ""), it,
                          schema["objects"][a["object"]])
            elif a["type"] in ("integer_t", "long_t", "timestamp_t", "port_t") and \
                    (not isinstance(v, int) or isinstance(v, bool)):
                probs.append(f"{where}.{k}: {v!r} is not an {a['type']}")
            elif a["type"] == "boolean_t" and not isinstance(v, bool):
                probs.append(f"{where}.{k}: {v!r} is not a boolean_t")
            elif a["type"] in ("string_t", "ip_t", "hostname_t", "file_name_t",
                               "process_name_t", "username_t", "uuid_t") and \
                    not isinstance(v, (str, list)):
                probs.append(f"{where}.{k}: {v!r} is not a {a['type']}")

    profiles = rec.get("metadata", {}).get("profiles", [])
    # unmapped is OCSF's own place for what no attribute holds
    check(cls["name"], {k: v for k, v in rec.items() if k != "unmapped"}, cls)
    return probs


# ------------------------------------------------------------ receivers

def db_alerts(db):
    """{id: (rule, output, hostname)} of every stored alert."""
    return {r[0]: tuple(r[1:]) for r in harness.db_query(
        db, "SELECT a.id, a.rule, a.output, coalesce(a.hostname, '') FROM alerts a")}


def cef_unescape_ext(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            n = v[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def cef_parse(line):
    """CEF:0|vendor|product|version|sig|name|sev|ext -> (header list, ext dict)."""
    head, i, cur = [], 0, []
    while len(head) < 7:
        c = line[i]
        if c == "\\" and line[i + 1] in "\\|":
            cur.append(line[i + 1])
            i += 2
            continue
        if c == "|":
            head.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    ext, rest = {}, line[i:]
    # keys are plain words followed by an unescaped '='
    parts = re.split(r"(?:^| )([A-Za-z0-9]+)=(?<!\\=)", rest)
    for k, v in zip(parts[1::2], parts[2::2]):
        ext[k] = cef_unescape_ext(v)
    return head, ext


RSYSLOG_CONF = """
global(workDirectory="{work}" maxMessageSize="256k"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{certs}/ca.pem"
       DefaultNetstreamDriverCertFile="{certs}/server.pem"
       DefaultNetstreamDriverKeyFile="{certs}/server.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="anon")
input(type="imtcp" port="{port}" name="bulwark")
template(name="bwraw" type="string" string="%msgid% %msg%\\n")
if $inputname == "bulwark" then {{
  action(type="omfile" file="{out}" template="bwraw")
}}
"""


class Rsyslog:
    """A real rsyslogd with a TLS (gtls) listener on a loopback port that
    writes each message as 'MSGID MSG' into a file."""

    def __init__(self, test, certs, port):
        self.test, self.port = test, port
        self.dir = test.path(f"rsyslog-{port}")
        os.makedirs(os.path.join(self.dir, "work"), exist_ok=True)
        self.out = os.path.join(self.dir, "out.log")
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        with open(self.conf, "w") as f:
            f.write(RSYSLOG_CONF.format(work=os.path.join(self.dir, "work"), certs=certs,
                                        port=port, out=self.out))
        self.proc = None

    def start(self):
        if not shutil.which("rsyslogd"):
            raise AssertionError("rsyslogd not installed (deploy/install-deps.sh)")
        self.proc = self.test.spawn("rsyslogd", ["rsyslogd", "-n", "-f", self.conf,
                                                 "-i", os.path.join(self.dir, "pid")])

        def listening():
            import socket
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        harness.wait_until(listening, 30, what="rsyslogd listening")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)

    def lines(self):
        try:
            with open(self.out, encoding="utf-8") as f:
                return [ln.rstrip("\n") for ln in f if ln.strip()]
        except FileNotFoundError:
            return []


class HttpsSink:
    """A small HTTPS server (the test's CA) that records each POST and
    answers 503 to the first `fail_first` of them, 200 after."""

    def __init__(self, certs, fail_first=0):
        import http.server
        import ssl
        import threading
        sink = self
        self.requests = []   # (status answered, headers, body)
        self.fail_first = fail_first
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with sink.lock:
                    status = 503 if len(sink.requests) < sink.fail_first else 200
                    sink.requests.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{certs}/server.pem", f"{certs}/server.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self):
        with self.lock:
            return [(h, b) for s, h, b in self.requests if s == 200]

    def refused(self):
        with self.lock:
            return sum(1 for s, _, _ in self.requests if s != 200)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
