"""harness.py - what every integration test shares (stdlib only).

Starts the real bulwarkd and bulwark-agent binaries on loopback in a temp
directory, captures their logs (a reader thread per process, so tests wait on
log lines instead of sleeping), generates certificates with
deploy/gen-certs.sh, queries the server database read-only, hand-encodes
protocol frames and opens raw TLS connections for crafted bytes.

Environment (set by ctest): BULWARKD, BULWARK_AGENT (binary paths),
BW_SOURCE_DIR, BW_BINARY_DIR. Set BW_KEEP_TMP=1 to keep the temp directory.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("BW_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
BINARY_DIR = os.environ.get("BW_BINARY_DIR", os.path.join(SOURCE_DIR, "build", "dev"))
BULWARKD = os.environ.get("BULWARKD", os.path.join(BINARY_DIR, "bulwarkd"))
BULWARK_AGENT = os.environ.get("BULWARK_AGENT", os.path.join(BINARY_DIR, "bulwark-agent"))
GEN_CERTS = os.path.join(SOURCE_DIR, "deploy", "gen-certs.sh")

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                      "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

READY_RE = r" info listener: listening 127\.0\.0\.1:(\d+)"
CONNECTED_RE = r" info shipper: connected to \S+, committed_seq (\d+)"
DRAINED_RE = (r" info agent: drained: (\d+) events acked, "
              r"ack latency p50 ([0-9.]+) ms p99 ([0-9.]+) ms")


def child_env():
    """The environment for the binaries: sanitizers fail loudly."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def free_port():
    """A loopback TCP port that was free a moment ago (bind 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, interval=0.05, what="condition"):
    """Polls cond() until it returns a true value (returned) or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------ eBPF sensor

def bpf_unavailable():
    """Why the agent's eBPF sensor cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: the sensor needs CAP_BPF and CAP_PERFMON"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the kernel exposes no BTF (/sys/kernel/btf/vmlinux)"
    if not os.path.exists(os.path.join(BINARY_DIR, "gen", "sensor", "sensor.skel.h")):
        return "the agent was built without the eBPF sensor (no clang/bpftool/libbpf at build)"
    return None


# /bin/true copied into a memfd and executed from there (fileless
# execution); argv[1] becomes its argument.
MEMFD_EXEC = """
import os, sys
fd = os.memfd_create("bw-payload", 0)
with open("/bin/true", "rb") as f:
    os.write(fd, f.read())
os.execv(f"/proc/self/fd/{fd}", ["memfd-true", sys.argv[1]])
"""


# ------------------------------------------------------------------ certificates

def gen_certs(directory, *ids):
    """Runs deploy/gen-certs.sh DIR id... and returns DIR. DIR then holds
    ca.pem, server.pem, server.key and agent-<ID>.pem/.key per id."""
    if not os.path.exists(GEN_CERTS):
        raise unittest.SkipTest(f"{GEN_CERTS} not found")
    os.makedirs(directory, exist_ok=True)
    r = subprocess.run(["bash", GEN_CERTS, directory, *ids], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"gen-certs.sh failed ({r.returncode}):\n"
                             + r.stdout.decode(errors="replace"))
    for name in ["ca.pem", "server.pem", "server.key"] + \
            [f"agent-{i}.{e}" for i in ids for e in ("pem", "key")]:
        if not os.path.exists(os.path.join(directory, name)):
            raise AssertionError(f"gen-certs.sh did not create {name}")
    return directory


# ------------------------------------------------------------------ processes

class Proc:
    """A child process whose stdout+stderr go to a log file and to memory,
    line by line, so a test can wait for a line matching a regex."""

    def __init__(self, name, argv, log_path, cwd=None, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.lines = []
        self._cond = threading.Condition()
        self._eof = False
        self._log = open(log_path, "a", encoding="utf-8")
        self._log.write("# " + " ".join(argv) + "\n")
        self._log.flush()
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, cwd=cwd,
                                      env=dict(child_env(), **(env or {})))
        self.pid = self.popen.pid
        self._reader = threading.Thread(target=self._read, name=f"log-{name}", daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._log.write(line + "\n")
                self._log.flush()
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def running(self):
        return self.popen.poll() is None

    def wait_for(self, pattern, timeout=60, start=0):
        """Waits for a log line (index >= start) matching regex `pattern`;
        returns (match, index). Fails on timeout or if the process exits first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m, i
                    i += 1
                if self._eof:
                    raise AssertionError(
                        f"{self.name} exited (status {self.popen.wait()}) before logging "
                        f"/{pattern}/\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: no line matching /{pattern}/ within "
                                         f"{timeout} s\n{self.tail()}")
                self._cond.wait(min(left, 0.5))

    def find(self, pattern, start=0):
        """Lines (from index start) matching regex pattern, right now."""
        rx = re.compile(pattern)
        with self._cond:
            return [ln for ln in self.lines[start:] if rx.search(ln)]

    def count(self):
        with self._cond:
            return len(self.lines)

    def tail(self, n=40):
        with self._cond:
            body = "\n".join(self.lines[-n:])
        return f"--- last lines of {self.name} ({self.log_path}) ---\n{body}\n---"

    def wait(self, timeout):
        """Waits for exit; returns the exit status (negative = signal)."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout} s\n{self.tail()}")
        self._reader.join(10)
        return rc

    def signal(self, sig):
        if self.running():
            self.popen.send_signal(sig)

    def terminate(self):
        self.signal(signal.SIGTERM)

    def kill9(self):
        """SIGKILL and reap (a crash: no cleanup, no sanitizer report)."""
        self.signal(signal.SIGKILL)
        return self.wait(30)

    def close(self):
        if self.running():
            self.popen.kill()
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(10)
        if self.popen.stdout:
            self.popen.stdout.close()
        with self._cond:
            self._log.close()

    def sanitizer_reports(self):
        with self._cond:
            return [ln for ln in self.lines if any(p in ln for p in SANITIZER_PATTERNS)]

    def vm_kib(self, key):
        """A /proc/PID/status size in KiB (VmHWM: peak, VmRSS: now)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
        return 0

    def vm_hwm_kib(self):
        """Peak resident set size (VmHWM) in KiB while the process lives."""
        return self.vm_kib("VmHWM")


class Server:
    """A running bulwarkd; .port is the port from its ready line."""

    def __init__(self, proc, port, db):
        self.proc = proc
        self.port = port
        self.db = db
        self.addr = f"127.0.0.1:{port}"


class Agent:
    def __init__(self, proc, agent_id, spool):
        self.proc = proc
        self.agent_id = agent_id
        self.spool = spool


def spool_stats(spool):
    """`bulwark-agent spool-stats --spool FILE` as a dict."""
    r = subprocess.run([BULWARK_AGENT, "spool-stats", "--spool", spool], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=child_env(), timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"spool-stats {spool} failed ({r.returncode}): "
                             + r.stderr.decode(errors="replace"))
    out = r.stdout.decode().strip()
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        raise AssertionError(f"spool-stats printed no JSON object: {out!r}")


# ------------------------------------------------------------------ database

AGENT_COUNTS_SQL = (
    "SELECT a.agent_id, count(*), count(DISTINCT e.seq), min(e.seq), max(e.seq) "
    "FROM events e JOIN agents a ON a.id = e.agent GROUP BY a.agent_id")


def db_query(db, sql, params=()):
    """Runs a query on a read-only connection of its own (WAL readers do not
    block the server). Returns [] if the database does not exist yet."""
    if not os.path.exists(db):
        return []
    uri = pathlib.Path(os.path.abspath(db)).as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def db_agent_counts(db):
    """{agent_id: (rows, distinct seq, min seq, max seq)}."""
    return {r[0]: tuple(r[1:]) for r in db_query(db, AGENT_COUNTS_SQL)}


def db_total(db):
    try:
        rows = db_query(db, "SELECT count(*) FROM events")
    except sqlite3.OperationalError:
        return 0   # schema not created yet
    return rows[0][0] if rows else 0


# ------------------------------------------------------------------ protobuf by hand

def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_uint(field, value):
    return pb_varint(field << 3) + pb_varint(value)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def pb_decode(data):
    """[(field, wire_type, value)] for varint (int) and length-delimited
    (bytes) fields; raises ValueError on anything else or truncation."""
    out = []
    i = 0

    def varint():
        nonlocal i
        shift = v = 0
        while True:
            if i >= len(data) or shift > 63:
                raise ValueError("bad varint")
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(data):
        key = varint()
        field, wt = key >> 3, key & 7
        if wt == 0:
            out.append((field, wt, varint()))
        elif wt == 2:
            n = varint()
            if i + n > len(data):
                raise ValueError("truncated field")
            out.append((field, wt, data[i:i + n]))
            i += n
        elif wt == 1:
            out.append((field, wt, data[i:i + 8]))
            i += 8
        elif wt == 5:
            out.append((field, wt, data[i:i + 4]))
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
    return out


def pb_fields(data):
    """{field: [values]} of one protobuf message."""
    out = {}
    for f, _, v in pb_decode(data):
        out.setdefault(f, []).append(v)
    return out


def stored_connection(db, remote_addr, remote_port):
    """The fields of the first stored connection event (kind 11) to
    remote_addr:remote_port, or None."""
    for (body,) in db_query(db, "SELECT body FROM events WHERE kind = 11"):
        ev = pb_fields(body)
        net = pb_fields(ev[11][0]) if 11 in ev else {}
        if net.get(6, [0])[0] == remote_port and net.get(5, [b""])[0] == remote_addr.encode():
            return ev
    return None


FRAME_FIELDS = {1: "hello", 2: "welcome", 3: "batch", 4: "ack", 5: "heartbeat", 6: "error"}
ERROR_AUTH = 2


def hello_payload(agent_id, hostname="raw-client", epoch=0x1234567, protocol_version=1,
                  max_frame=1 << 20):
    """A serialized bulwark.v1.Frame{hello: Hello{...}}."""
    hello = (pb_uint(1, protocol_version) + pb_bytes(2, agent_id) + pb_bytes(3, hostname)
             + pb_bytes(4, "raw-test") + pb_uint(6, epoch) + pb_uint(7, max_frame))
    return pb_bytes(1, hello)


def frame(payload):
    """4-byte big-endian length prefix + payload."""
    return struct.pack(">I", len(payload)) + payload


def refusal_re(port, reason):
    """A warn line naming the peer 127.0.0.1:port and the reason (regex)."""
    return rf" warn (?=.*127\.0\.0\.1:{port}\b)(?=.*{reason})"


def decode_frame(payload):
    """(kind, {field: value}) of a Frame's single message, e.g.
    ("error", {1: 2, 2: b"..."}) or ("welcome", {...})."""
    fields = pb_decode(payload)
    if len(fields) != 1 or fields[0][1] != 2 or fields[0][0] not in FRAME_FIELDS:
        raise ValueError(f"not a Frame with one message: {fields!r}")
    inner = {f: v for f, _, v in pb_decode(fields[0][2])}
    return FRAME_FIELDS[fields[0][0]], inner


# ------------------------------------------------------------------ raw TLS client

def tls_context(ca=None, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def tls_connect(port, ca=None, cert=None, key=None, timeout=10):
    """A TLS 1.3 connection to 127.0.0.1:port (client certificate optional).
    With TLS 1.3 the server checks the client certificate after the client
    has finished, so a refusal may show only on the first read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return tls_context(ca, cert, key).wrap_socket(sock, server_hostname="127.0.0.1")
    except BaseException:
        sock.close()
        raise


def recv_exact(sock, n, timeout=10):
    """n bytes, or None if the peer closed (or reset) first."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (ssl.SSLError, ConnectionError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(sock, timeout=10):
    """The next frame's payload, or None if the connection closed."""
    hdr = recv_exact(sock, 4, timeout)
    if hdr is None:
        return None
    (n,) = struct.unpack(">I", hdr)
    if n > 16 << 20:
        raise AssertionError(f"absurd frame length {n}")
    return recv_exact(sock, n, timeout)


def wait_closed(sock, timeout=15):
    """Reads until the server closes the connection: returns the bytes
    received before that. Fails if it is still open after timeout."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"server did not close the connection within {timeout} s")
        except (ssl.SSLError, ConnectionError, OSError):
            return got
        if not chunk:
            return got
        got += chunk
        if time.monotonic() > deadline:
            raise AssertionError(f"server did not close the connection within {timeout} s")


def send_quiet(sock, data):
    """sendall that tolerates the server having closed already."""
    try:
        sock.sendall(data)
        return True
    except (ssl.SSLError, ConnectionError, OSError):
        return False


# ------------------------------------------------------------------ the test base

class BulwarkTest(unittest.TestCase):
    """Gives each test a temp dir, starts processes in it, and at the end
    kills whatever is left and fails on any sanitizer report. On failure the
    logs' tails are printed and the temp dir is kept."""

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        failed = len(result.failures) + len(result.errors) > before
        tmp = getattr(self, "tmp", None)
        if failed:
            for p in getattr(self, "procs", []):
                sys.stderr.write(p.tail(60) + "\n")
        if tmp and os.path.isdir(tmp):
            if failed or os.environ.get("BW_KEEP_TMP"):
                sys.stderr.write(f"kept temp dir {tmp}\n")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        return result

    def setUp(self):
        for b in (BULWARKD, BULWARK_AGENT):
            if not os.access(b, os.X_OK):
                self.fail(f"binary {b} not found (set BULWARKD / BULWARK_AGENT)")
        self.tmp = tempfile.mkdtemp(prefix=f"bulwark-{self._testMethodName}-")
        self.procs = []
        self._nlogs = 0

    def tearDown(self):
        for p in self.procs:
            p.close()
        reports = []
        for p in self.procs:
            reports += [f"{p.name}: {ln}" for ln in p.sanitizer_reports()]
        if reports:
            self.fail("sanitizer reports:\n" + "\n".join(reports[:20]))

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def loopback_listener(self):
        """A TCP listener on 127.0.0.1 and a port chosen now (closed at
        cleanup); returns the port."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        self.addCleanup(lsock.close)
        self._listeners = getattr(self, "_listeners", {})
        self._listeners[lsock.getsockname()[1]] = lsock
        return lsock.getsockname()[1]

    def loopback_connection(self):
        """Opens a TCP connection from this process to a loopback listener
        on a port chosen now (all three sockets closed at cleanup); returns
        the port."""
        port = self.loopback_listener()
        csock = socket.create_connection(("127.0.0.1", port))
        ssock, _ = self._listeners[port].accept()
        self.addCleanup(lambda: [s.close() for s in (csock, ssock)])
        return port

    def spawn(self, name, argv, env=None):
        self._nlogs += 1
        p = Proc(name, argv, self.path(f"{self._nlogs:02d}-{name}.log"), cwd=self.tmp, env=env)
        self.procs.append(p)
        return p

    def certs(self, *ids, directory="certs"):
        return gen_certs(self.path(directory), *ids)

    def start_server(self, certs, port=None, db=None, wait_ready=True, env=None, **opts):
        """Starts bulwarkd on 127.0.0.1:port (a free port if None); opts are
        extra config keys, env extra environment. Waits for the ready line."""
        port = free_port() if port is None else port
        db = db or self.path("server.db")
        argv = [BULWARKD, f"--listen=127.0.0.1:{port}", f"--db={db}",
                f"--tls_ca={certs}/ca.pem", f"--tls_cert={certs}/server.pem",
                f"--tls_key={certs}/server.key"]
        argv += [f"--{k}={v}" for k, v in opts.items()]
        proc = self.spawn("bulwarkd", argv, env=env)
        if wait_ready:
            m, _ = proc.wait_for(READY_RE, timeout=60)
            self.assertEqual(int(m.group(1)), port, "ready line names another port")
        return Server(proc, port, db)

    def start_agent(self, certs, server, agent_id, spool=None, cert_id=None, name=None,
                    **opts):
        """Starts bulwark-agent with the certificate of cert_id (default
        agent_id). Defaults: synthetic source, fast reconnects."""
        cert_id = cert_id or agent_id
        spool = spool or self.path(f"spool-{agent_id}.db")
        cfg = {"server": server.addr if isinstance(server, Server) else server,
               "tls_ca": f"{certs}/ca.pem", "tls_cert": f"{certs}/agent-{cert_id}.pem",
               "tls_key": f"{certs}/agent-{cert_id}.key", "spool": spool,
               "hostname": f"host-{agent_id}", "source": "synthetic",
               "reconnect_min_ms": 50, "reconnect_max_ms": 1000}
        if agent_id != cert_id:
            cfg["agent_id"] = agent_id
        cfg.update(opts)
        argv = [BULWARK_AGENT] + [f"--{k}={v}" for k, v in cfg.items()]
        return Agent(self.spawn(name or f"agent-{agent_id}", argv), agent_id, spool)

    def stop_server(self, server, timeout=5.0):
        """SIGTERM; asserts exit 0 within timeout; returns seconds taken."""
        now = time.time()
        sent_at = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        t0 = time.monotonic()
        server.proc.terminate()
        rc = server.proc.wait(max(timeout, 1) + 30)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, f"bulwarkd exit status {rc}\n{server.proc.tail()}")
        self.assertLessEqual(took, timeout, f"bulwarkd took {took:.1f} s to exit on SIGTERM "
                             f"(sent at {sent_at})")
        self.assert_clean(server.proc)
        return took

    def wait_drained(self, agent, events=None, timeout=180):
        """Waits for an exit_when_drained agent to exit 0; returns the
        drained-line match (events acked, p50, p99)."""
        rc = agent.proc.wait(timeout)
        self.assertEqual(rc, 0, f"{agent.proc.name} exit status {rc}\n{agent.proc.tail()}")
        self.assert_clean(agent.proc)
        m = agent.proc.find(DRAINED_RE)
        self.assertTrue(m, f"{agent.proc.name} logged no drained line\n{agent.proc.tail()}")
        dm = re.search(DRAINED_RE, m[-1])
        if events is not None:
            self.assertEqual(int(dm.group(1)), events, m[-1])
        return dm

    def assert_clean(self, proc):
        reports = proc.sanitizer_reports()
        self.assertFalse(reports, f"{proc.name} sanitizer reports:\n" + "\n".join(reports[:20]))

    def assert_exact(self, db, expected):
        """expected {agent_id: n}: every agent has exactly rows 1..n, once
        each, and no other agent has rows."""
        counts = db_agent_counts(db)
        for aid, n in expected.items():
            got = counts.get(aid)
            self.assertEqual(got, (n, n, 1, n),
                             f"agent {aid}: (rows, distinct seq, min, max) = {got}, want "
                             f"{(n, n, 1, n)}")
        epochs = dict(db_query(db, "SELECT a.agent_id, count(DISTINCT e.epoch) FROM events e "
                               "JOIN agents a ON a.id = e.agent GROUP BY a.agent_id"))
        for aid in expected:
            self.assertEqual(epochs.get(aid), 1, f"agent {aid}: rows from several epochs")
        extra = set(counts) - set(expected)
        self.assertFalse(extra, f"rows from unexpected agents: {extra}")
        self.assertEqual(db_total(db), sum(expected.values()))

    def open_welcomed(self, server, certs, agent_id):
        """A raw TLS stream as agent_id, after Hello and Welcome."""
        conn = tls_connect(server.port, f"{certs}/ca.pem", f"{certs}/agent-{agent_id}.pem",
                           f"{certs}/agent-{agent_id}.key")
        conn.sendall(frame(hello_payload(agent_id, hostname=f"host-{agent_id}")))
        payload = read_frame(conn)
        self.assertIsNotNone(payload, f"{agent_id}: closed instead of answering Hello")
        kind, fields = decode_frame(payload)
        self.assertEqual(kind, "welcome", f"{agent_id}: answer to Hello: {kind} {fields}")
        return conn

    def timed_agent(self, certs, server, agent_id, events, timeout=600):
        """Runs a full-speed synthetic agent to its drained exit; asserts its
        events are all stored; returns its events per second (from spawn to
        exit, so a ratio of two runs compares like with like)."""
        t0 = time.monotonic()
        a = self.start_agent(certs, server, agent_id, synthetic_rate=0, synthetic_count=events,
                             exit_when_drained="true")
        self.wait_drained(a, events=events, timeout=timeout)
        took = time.monotonic() - t0
        counts = db_agent_counts(server.db)
        self.assertEqual(counts.get(agent_id), (events, events, 1, events),
                         f"{agent_id}: (rows, distinct seq, min, max)")
        return events / took

    def wait_rows(self, db, at_least, timeout=120):
        def enough():
            n = db_total(db)
            return n if n >= at_least else 0
        return wait_until(enough, timeout, what=f">= {at_least} rows in {db}")


def main():
    unittest.main(verbosity=2)
