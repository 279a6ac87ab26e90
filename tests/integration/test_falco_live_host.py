#!/usr/bin/env python3
"""Falco's stable rules on this live host (issue 10, acceptance 2, host half):
the real bulwark-agent with the eBPF sensor and the real bulwarkd loaded
with Falco's pinned stable rule file, unchanged
(tests/fixtures/falco-rules/falco_rules.yaml).

For every enabled stable rule that does not need a container, one test
performs the action Falco's event-generator performs for it and waits until
bulwarkd raises THAT rule with the action's own event as evidence; a benign
neighbour action, done first, is stored as an event (waited for) and is not
evidence of the rule. The neighbour's event precedes the action's in the
agent's stream, so once the action's alert is stored the neighbour's event
was evaluated too.

One agent and one server serve the whole class. Everything an action makes
lives in a temp dir of the test (or /dev/shm/bw-*, removed after); nothing
of the host is changed: the sensitive files are only read or linked to.
Skipped, with the reason, only where BPF cannot run (not root, no kernel
BTF, an agent built without the sensor)."""
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import harness

KIND_EXEC, KIND_NET, KIND_FILE, KIND_SYSCALL = 10, 11, 12, 17
WAIT = 90  # seconds for an event or alert (other work may load the machine)
RULES_FILE = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "falco-rules",
                          "falco_rules.yaml")
PYTHON = os.path.realpath(sys.executable)
NOBODY = 65534

# Reads one byte of argv[1] (argv[2]: the test's marker).
READ = "import sys; open(sys.argv[1], 'rb').read(1)"

# ptrace from a helper process: argv[1] the request, argv[2] the pid.
PTRACE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
req, pid = int(sys.argv[1]), int(sys.argv[2])
libc.ptrace(req, pid, None, None)
if req == 16:  # PTRACE_ATTACH: wait for the stop, then let go
    os.waitpid(pid, 0)
    libc.ptrace(17, pid, None, None)
"""

# A module load attempt with an invalid fd: EBADF, nothing is loaded.
FINIT_MODULE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(int(sys.argv[1]), -1, b"", 0)
"""
SYS_FINIT_MODULE = {"x86_64": 313, "aarch64": 273}.get(platform.machine())

# Reads a file once this process is older than argv[2] seconds.
READ_WHEN_OLD = """
import os, sys, time
tick = os.sysconf("SC_CLK_TCK")
with open("/proc/self/stat") as f:
    start = int(f.read().rsplit(")", 1)[1].split()[19]) / tick
while True:
    with open("/proc/uptime") as f:
        age = float(f.read().split()[0]) - start
    if age > float(sys.argv[2]):
        break
    time.sleep(float(sys.argv[2]) - age + 0.05)
with open(sys.argv[1], "rb") as f:
    f.read(1)
"""


def message(data):
    """{field: [values]} of a protobuf message."""
    out = {}
    for f, _, v in harness.pb_decode(data):
        out.setdefault(f, []).append(v)
    return out


def text(m, f):
    return m[f][0].decode() if f in m else ""


class Stored:
    """One stored event: its id and the fields the tests look at."""

    def __init__(self, eid, body):
        m = message(body)
        self.id = eid
        p = message(m[5][0]) if 5 in m else {}
        self.pid = p.get(1, [0])[0]
        self.ppid = p.get(2, [0])[0]
        self.exe, self.name, self.cmdline = text(p, 5), text(p, 6), text(p, 7)
        self.user = text(p, 10)
        self.process = p
        self.body = {}
        for kind in (KIND_EXEC, KIND_NET, KIND_FILE, KIND_SYSCALL):
            if kind in m:
                self.body = message(m[kind][0])
        self.args = {}
        for entry in self.body.get(6, []) if KIND_SYSCALL in m else []:
            e = message(entry)
            self.args[text(e, 1)] = text(e, 2)

    def __repr__(self):
        return (f"<event {self.id} pid {self.pid} {self.name!r} {self.cmdline!r} "
                f"args {self.args}>")


class FalcoLiveHostTest(harness.BulwarkTest):
    @classmethod
    def setUpClass(cls):
        why = harness.bpf_unavailable()
        if why:
            raise unittest.SkipTest(why)
        cls.ctmp = tempfile.mkdtemp(prefix="bulwark-falco-live-host-")
        certs = harness.gen_certs(os.path.join(cls.ctmp, "certs"), "live-agent")
        port = harness.free_port()
        cls.db = os.path.join(cls.ctmp, "server.db")
        cls.server = harness.Proc("bulwarkd", [
            harness.BULWARKD, f"--listen=127.0.0.1:{port}", f"--db={cls.db}",
            f"--tls_ca={certs}/ca.pem", f"--tls_cert={certs}/server.pem",
            f"--tls_key={certs}/server.key", f"--rules={RULES_FILE}",
            # every match its own alert, so that each keeps its evidence (an
            # alert links its first 64 events; the host's own activity may
            # match a rule many times while the class runs)
            "--alert_suppression_ms=0"],
            os.path.join(cls.ctmp, "bulwarkd.log"), cwd=cls.ctmp)
        cls.agent = None
        try:
            cls.server.wait_for(harness.READY_RE, timeout=60)
            # Falco's file unchanged: 24 of its 25 rules run (docs/rules.md)
            cls.server.wait_for(r"rules: loaded 1 rule files: 25 rules, 25 enabled", timeout=30)
            cls.agent = harness.Proc("agent", [
                harness.BULWARK_AGENT, f"--server=127.0.0.1:{port}", f"--tls_ca={certs}/ca.pem",
                f"--tls_cert={certs}/agent-live-agent.pem",
                f"--tls_key={certs}/agent-live-agent.key",
                f"--spool={os.path.join(cls.ctmp, 'spool.db')}", "--hostname=host-live-agent",
                "--source=host", "--sensor=ebpf", "--collect_config=false",
                "--collect_resource=false", "--reconnect_min_ms=50",
                "--reconnect_max_ms=1000"], os.path.join(cls.ctmp, "agent.log"), cwd=cls.ctmp)
            cls.agent.wait_for(r"sensor ebpf \(asked for", timeout=60)
            cls.agent.wait_for(harness.CONNECTED_RE, timeout=60)
        except BaseException:
            cls._stop(check=False)
            raise

    @classmethod
    def _stop(cls, check):
        problems = []
        for p in (cls.agent, cls.server):
            if p is None:
                continue
            if p.running():
                p.terminate()
            try:
                rc = p.wait(30)
            except Exception as e:  # noqa: BLE001 (reported below)
                rc = f"no exit: {e}"
            if rc != 0:
                problems.append(f"{p.name} exit status {rc}\n{p.tail(40)}")
            problems += [f"{p.name}: {ln}" for ln in p.sanitizer_reports()[:20]]
            p.close()
        if os.environ.get("BW_KEEP_TMP") or (check and problems):
            sys.stderr.write(f"kept temp dir {cls.ctmp}\n")
        else:
            shutil.rmtree(cls.ctmp, ignore_errors=True)
        if check and problems:
            raise AssertionError("\n".join(problems))

    @classmethod
    def tearDownClass(cls):
        cls._stop(check=True)

    def setUp(self):
        super().setUp()
        self.assertTrue(self.agent.running(), self.agent.tail(40))
        self.marker = "bw" + uuid.uuid4().hex[:12]
        rows = harness.db_query(self.db, "SELECT max(id) FROM events")
        self.since = (rows[0][0] or 0) if rows else 0

    def run(self, result=None):  # the class's logs on failure, not only the test's
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for p in (self.agent, self.server):
                if p is not None:
                    sys.stderr.write(p.tail(30) + "\n")
        return result

    # ------------------------------------------------------------ helpers

    def sh(self, *argv, check=True, **kw):
        """Runs argv to its end; its pid."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        rc = p.wait(60)
        if check:
            self.assertEqual(rc, 0, f"{argv}: exit status {rc}")
        return p.pid

    def wait_event(self, kind, needle, pred, what, timeout=WAIT):
        """The first event of kind stored since the test began whose body
        holds needle (a string unique to the test's action: the host's other
        processes reuse pids quickly) and that satisfies pred."""
        def find():
            for i, b in harness.db_query(
                    self.db, "SELECT id, body FROM events WHERE kind = ? AND id > ? AND "
                    "instr(body, ?) > 0", (kind, self.since, needle.encode())):
                ev = Stored(i, b)
                if pred(ev):
                    return ev
            return None
        return harness.wait_until(find, timeout, interval=0.2, what=what)

    def is_evidence(self, rule, ev):
        return bool(harness.db_query(
            self.db, "SELECT 1 FROM alerts a JOIN alert_evidence v ON v.alert_id = a.id "
            "WHERE a.rule = ? AND v.event_id = ?", (rule, ev.id)))

    def assert_raises_rule(self, rule, action, neighbour, timeout=WAIT):
        """The action's stored event is evidence of rule; the neighbour's
        (stored before it) is not."""
        harness.wait_until(lambda: self.is_evidence(rule, action), timeout, interval=0.2,
                           what=f"'{rule}' raised by {action}")
        self.assertFalse(self.is_evidence(rule, neighbour),
                         f"the neighbour {neighbour} raised '{rule}'")

    def tmpdir(self, mode=0o700):
        d = tempfile.mkdtemp(prefix="bw-falco-", dir=self.tmp)
        os.chmod(self.tmp, 0o711 if mode & 0o001 else 0o700)
        os.chmod(d, mode)
        return d

    def exec_of(self, pid, needle, what):
        return self.wait_event(KIND_EXEC, needle, lambda e: e.pid == pid, what)

    def syscall_of(self, pid, needle, type_, what):
        return self.wait_event(KIND_SYSCALL, needle,
                               lambda e: e.pid == pid and text(e.body, 1) == type_, what)

    def file_of(self, pid, needle, path, what):
        return self.wait_event(KIND_FILE, needle,
                               lambda e: e.pid == pid and text(e.body, 2) == path, what)

    # --------------------------------------------------------------- rules

    def test_read_sensitive_file_untrusted(self):
        m = self.marker
        n = self.sh(PYTHON, "-c", READ, "/etc/hostname", m)
        nev = self.file_of(n, m, "/etc/hostname", "the read of /etc/hostname")
        a = self.sh(PYTHON, "-c", READ, "/etc/shadow", m)
        aev = self.file_of(a, m, "/etc/shadow", "the read of /etc/shadow")
        self.assertTrue(aev.body.get(4), "the open's fd (fd.num) is carried")
        self.assert_raises_rule("Read sensitive file untrusted", aev, nev)

    def test_directory_traversal_monitored_file_read(self):
        """A monitored file (/etc/hostname) read through "../" twice, as an
        arbitrary-file-read bug in a web application would; the neighbour
        reads it by its plain path. Neither runs under a shell."""
        m = self.marker
        n = self.sh(PYTHON, "-c", READ, "/etc/hostname", m)
        nev = self.file_of(n, m, "/etc/hostname", "the plain read of /etc/hostname")
        self.assertEqual(text(nev.body, 6), "", "a plain path has no raw form of its own")
        a = self.sh(PYTHON, "-c", READ, "/tmp/../../etc/hostname", m)
        aev = self.file_of(a, m, "/etc/hostname", "the read through ../../")
        self.assertEqual(text(aev.body, 6), "/tmp/../../etc/hostname", "fd.nameraw as given")
        self.assert_raises_rule("Directory traversal monitored file read", aev, nev)

    def test_directory_traversal_failed_probe(self):
        """The rule counts failed opens too ("open_file_failed": fd.num=-1,
        evt.res ENOENT): a probe through "../" for a file that is not there.
        The neighbour, a plain failed open of a missing file below /etc, is
        not reported at all (failed opens are, when their path climbs)."""
        m = self.marker
        missing = f"/etc/bulwark-missing-{m}"
        n = self.sh(PYTHON, "-c", READ, missing + "-plain", m, check=False)
        nev = self.file_of(self.sh(PYTHON, "-c", READ, "/etc/hostname", m), m, "/etc/hostname",
                           "the plain read of /etc/hostname")
        a = self.sh(PYTHON, "-c", READ, "/tmp/../.." + missing, m, check=False)
        aev = self.file_of(a, m, missing, "the failed read through ../..")
        int64 = lambda v: v - (1 << 64) if v >= 1 << 63 else v  # noqa: E731 (varints)
        self.assertEqual([int64(v) for v in aev.body.get(4, [])], [-1], "fd.num of a failed open")
        self.assertEqual([int64(v) for v in aev.body.get(7, [])], [-2], "evt.rawres: -ENOENT")
        self.assertEqual(text(aev.body, 6), "/tmp/../.." + missing, "fd.nameraw as given")
        self.assert_raises_rule("Directory traversal monitored file read", aev, nev)
        # the ring is read in order: the plain failed open came before
        self.assertEqual([i for i, b in harness.db_query(
            self.db, "SELECT id, body FROM events WHERE kind = ? AND id > ? AND instr(body, ?) > 0",
            (KIND_FILE, self.since, (missing + "-plain").encode()))
            if text(Stored(i, b).body, 2) == missing + "-plain"], [], f"pid {n}'s failed open")

    def test_read_sensitive_file_trusted_after_startup(self):
        """A server process (nginx) reading /etc/shadow once it is more than
        5 s old; the neighbour, a new nginx, reads it at once."""
        d = self.tmpdir()
        nginx = os.path.join(d, "nginx")
        os.symlink(PYTHON, nginx)  # its comm (proc.name) is "nginx"
        m = self.marker
        old = subprocess.Popen([nginx, "-c", READ_WHEN_OLD, "/etc/shadow", "5.5", m])
        new = subprocess.Popen([nginx, "-c", READ_WHEN_OLD, "/etc/shadow", "0", m])
        self.assertEqual(new.wait(60), 0)
        nev = self.file_of(new.pid, m, "/etc/shadow", "the new nginx's read of /etc/shadow")
        self.assertEqual(nev.name, "nginx")
        self.assertEqual(old.wait(60), 0)
        aev = self.file_of(old.pid, m, "/etc/shadow", "the old nginx's read of /etc/shadow")
        self.assert_raises_rule("Read sensitive file trusted after startup", aev, nev)

    def test_run_shell_untrusted(self):
        """A web server (a process named nginx) spawning a shell; the
        neighbour is the same shell spawned by python3."""
        d = self.tmpdir()
        nginx = os.path.join(d, "nginx")
        os.symlink(PYTHON, nginx)
        spawn = "import subprocess, sys; subprocess.run(['sh', '-c', ': ' + sys.argv[1]])"
        self.sh(PYTHON, "-c", spawn, self.marker + "-n")
        nev = self.wait_event(KIND_EXEC, self.marker + "-n",
                              lambda e: e.cmdline == f"sh -c : {self.marker}-n",
                              "the shell python3 spawned")
        self.assertEqual(nev.name, "sh")
        self.sh(nginx, "-c", spawn, self.marker + "-a")
        aev = self.wait_event(KIND_EXEC, self.marker + "-a",
                              lambda e: e.cmdline == f"sh -c : {self.marker}-a",
                              "the shell nginx spawned")
        self.assert_raises_rule("Run shell untrusted", aev, nev)

    def test_system_user_interactive(self):
        """`login` run as the system user nobody; the neighbour runs it as root."""
        d = self.tmpdir(0o755)
        login = os.path.join(d, "login")
        os.symlink("/bin/true", login)  # proc.name "login"
        n = self.sh(login, self.marker + "-n")
        nev = self.exec_of(n, self.marker + "-n", "login run by root")
        self.assertEqual(nev.user, "root")
        a = self.sh(login, self.marker + "-a", user=NOBODY, group=NOBODY, extra_groups=[])
        aev = self.exec_of(a, self.marker + "-a", "login run by nobody")
        self.assertEqual((aev.name, aev.user), ("login", "nobody"))
        self.assert_raises_rule("System user interactive", aev, nev)

    def grep_raises(self, rule, benign, secret):
        """grep -r for secret raises rule; grep -r for benign does not."""
        d = self.tmpdir()
        n = self.sh("grep", "-r", benign, d, check=False)
        nev = self.exec_of(n, d, f"grep for {benign}")
        a = self.sh("grep", "-r", secret, d, check=False)
        aev = self.exec_of(a, d, f"grep for {secret}")
        self.assert_raises_rule(rule, aev, nev)

    def test_search_private_keys_or_passwords(self):
        self.grep_raises("Search Private Keys or Passwords", "BEGIN PUBLIC KEY", "BEGIN PRIVATE KEY")

    def test_find_aws_credentials(self):
        self.grep_raises("Find AWS Credentials", "aws_region", "aws_secret_access_key")

    def test_clear_log_activities(self):
        """A log file (named syslog, in the test's dir) truncated by an open
        for writing; the neighbour truncates a file that is no log."""
        d = self.tmpdir()
        log, notes = os.path.join(d, "syslog"), os.path.join(d, "notes.txt")
        for path in (log, notes):
            with open(path, "x") as f:
                f.write("line\n")
        trunc = "import sys; open(sys.argv[1], 'w').close()"
        # a shell's "> /dev/null" truncates nothing: not reported
        dn = self.sh(PYTHON, "-c", trunc, "/dev/null", notes)
        n = self.sh(PYTHON, "-c", trunc, notes)
        nev = self.file_of(n, notes, notes, "the truncation of notes.txt")
        a = self.sh(PYTHON, "-c", trunc, log)
        aev = self.file_of(a, log, log, "the truncation of syslog")
        self.assertIn(b"O_TRUNC", aev.body.get(5, [b""])[0])
        self.assertEqual(os.path.getsize(log), 0)
        self.assert_raises_rule("Clear Log Activities", aev, nev)
        # the ring is read in order: the /dev/null open came before
        self.assertEqual([i for i, b in harness.db_query(
            self.db, "SELECT id, body FROM events WHERE kind = ? AND id > ? AND instr(body, ?) > 0",
            (KIND_FILE, self.since, notes.encode())) if Stored(i, b).pid == dn
            and text(Stored(i, b).body, 2) == "/dev/null"], [], "the truncation of /dev/null")

    def test_remove_bulk_data_from_disk(self):
        d = self.tmpdir()
        victim, other = os.path.join(d, "data.bin"), os.path.join(d, "other.bin")
        for path in (victim, other):
            with open(path, "wb") as f:
                f.write(os.urandom(4096))
        n = self.sh("rm", other)
        nev = self.exec_of(n, other, "rm of a file")
        a = self.sh("shred", "-u", victim)
        aev = self.exec_of(a, victim, "shred of a file")
        self.assertFalse(os.path.exists(victim))
        self.assert_raises_rule("Remove Bulk Data from Disk", aev, nev)

    def test_create_symlink_over_sensitive_files(self):
        d = self.tmpdir()
        n = self.sh("ln", "-s", "/etc/hostname", os.path.join(d, "hostname-link"))
        nev = self.syscall_of(n, d, "symlinkat", "ln -s of /etc/hostname")
        self.assertEqual(nev.args.get("target"), "/etc/hostname")
        a = self.sh("ln", "-s", "/etc/shadow", os.path.join(d, "shadow-link"))
        aev = self.syscall_of(a, d, "symlinkat", "ln -s of /etc/shadow")
        self.assertEqual(aev.args.get("linkpath"), os.path.join(d, "shadow-link"))
        self.assert_raises_rule("Create Symlink Over Sensitive Files", aev, nev)

    def test_create_hardlink_over_sensitive_files(self):
        d = self.tmpdir()
        own = os.path.join(d, "own")
        with open(own, "w") as f:
            f.write("x")
        link = os.path.join(d, "shadow-hardlink")
        self.addCleanup(lambda: os.path.lexists(link) and os.unlink(link))
        n = self.sh("ln", own, os.path.join(d, "own-hardlink"))
        nev = self.syscall_of(n, d, "linkat", "ln of the test's own file")
        a = self.sh("ln", "/etc/shadow", link)
        os.unlink(link)  # a second name of /etc/shadow lives no longer than needed
        aev = self.syscall_of(a, d, "linkat", "ln of /etc/shadow")
        self.assertEqual(aev.args.get("oldpath"), "/etc/shadow")
        self.assert_raises_rule("Create Hardlink Over Sensitive Files", aev, nev)

    def ptrace_neighbour(self, target):
        """PTRACE_POKEUSER on a process nobody traces (ESRCH): a ptrace
        event of neither ptrace rule's requests."""
        n = self.sh(PYTHON, "-c", PTRACE, "6", str(target), self.marker + "-n")
        nev = self.syscall_of(n, self.marker + "-n", "ptrace", "the PTRACE_POKEUSR neighbour")
        self.assertEqual(nev.args.get("request"), "PTRACE_POKEUSR")
        return nev

    def test_ptrace_attached_to_process(self):
        target = subprocess.Popen(["sleep", "60"])
        self.addCleanup(lambda: (target.kill(), target.wait()))
        nev = self.ptrace_neighbour(target.pid)
        a = self.sh(PYTHON, "-c", PTRACE, "16", str(target.pid), self.marker + "-a")
        aev = self.syscall_of(a, self.marker + "-a", "ptrace", "the PTRACE_ATTACH")
        self.assertEqual(aev.args.get("request"), "PTRACE_ATTACH")
        self.assertEqual(aev.args.get("pid"), str(target.pid))
        self.assert_raises_rule("PTRACE attached to process", aev, nev)

    def test_ptrace_anti_debug_attempt(self):
        target = subprocess.Popen(["sleep", "60"])
        self.addCleanup(lambda: (target.kill(), target.wait()))
        nev = self.ptrace_neighbour(target.pid)
        a = self.sh(PYTHON, "-c", PTRACE, "0", "0", self.marker + "-a")
        aev = self.syscall_of(a, self.marker + "-a", "ptrace", "the PTRACE_TRACEME")
        self.assertEqual(aev.args.get("request"), "PTRACE_TRACEME")
        self.assert_raises_rule("PTRACE anti-debug attempt", aev, nev)

    def test_execution_from_dev_shm(self):
        d = self.tmpdir()
        local = os.path.join(d, "tool")
        shm = f"/dev/shm/bw-{self.marker}"
        self.addCleanup(lambda: os.path.exists(shm) and os.unlink(shm))
        for path in (local, shm):
            shutil.copy("/bin/true", path)
            os.chmod(path, 0o700)
        n = self.sh(local, self.marker)
        nev = self.exec_of(n, self.marker, "a binary run from the test's dir")
        a = self.sh(shm, self.marker)
        aev = self.exec_of(a, self.marker, "a binary run from /dev/shm")
        self.assertEqual(aev.exe, shm)
        self.assert_raises_rule("Execution from /dev/shm", aev, nev)

    def test_fileless_execution_via_memfd_create(self):
        n = self.sh("/bin/true", self.marker)
        nev = self.exec_of(n, self.marker, "/bin/true from disk")
        a = self.sh(PYTHON, "-c", harness.MEMFD_EXEC, self.marker)
        aev = self.wait_event(KIND_EXEC, self.marker,
                              lambda e: e.pid == a and e.cmdline.startswith("memfd-true"),
                              "the exec from a memfd")
        self.assert_raises_rule("Fileless execution via memfd_create", aev, nev)

    def test_kernel_module_load_on_the_host(self):
        """Falco's "Linux Kernel Module Injection Detected" needs a container
        (tests/integration/test_containers_live.py has those): a
        finit_module attempt on the host (an invalid fd: nothing is loaded)
        is stored with the caller's capabilities at the call
        (thread.cap_effective has CAP_SYS_MODULE) and does not raise it. A
        PTRACE_TRACEME after it, whose alert is waited for, shows the
        attempt was evaluated."""
        self.assertIsNotNone(SYS_FINIT_MODULE, f"finit_module's number on {platform.machine()}")
        n = self.sh(PYTHON, "-c", FINIT_MODULE, str(SYS_FINIT_MODULE), self.marker + "-n")
        nev = self.syscall_of(n, self.marker + "-n", "finit_module", "the finit_module attempt")
        self.assertEqual(nev.args.get("fd"), "-1")
        caps = nev.process.get(20, [0])[0]
        self.assertTrue(caps >> 16 & 1, f"CAP_SYS_MODULE not in {caps:#x}")
        a = self.sh(PYTHON, "-c", PTRACE, "0", "0", self.marker + "-a")
        aev = self.syscall_of(a, self.marker + "-a", "ptrace", "the PTRACE_TRACEME")
        harness.wait_until(lambda: self.is_evidence("PTRACE anti-debug attempt", aev), WAIT,
                           interval=0.2, what="the alert of the PTRACE_TRACEME after it")
        self.assertFalse(self.is_evidence("Linux Kernel Module Injection Detected", nev))

    def test_disallowed_ssh_connection_non_standard_port(self):
        """ssh to a public address (TEST-NET-3, never answers) on port 443;
        the neighbour is ssh to the same address on port 22."""
        ssh = shutil.which("ssh")
        self.assertIsNotNone(ssh, "no ssh client (deploy/install-deps.sh installs openssh-client)")
        addr = "203.0.113.7"

        def connect(port):
            p = subprocess.Popen([ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o",
                                  "ConnectTimeout=30", "-o", "StrictHostKeyChecking=no", "-o",
                                  f"UserKnownHostsFile={os.devnull}", "-p", str(port),
                                  f"{self.marker}@{addr}", "true"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.addCleanup(lambda: (p.kill(), p.wait()))
            return self.wait_event(KIND_NET, self.marker,
                                   lambda e: e.pid == p.pid and e.body.get(6) == [port],
                                   f"ssh's connect to {addr}:{port}")

        nev = connect(22)
        aev = connect(443)
        self.assertTrue(aev.exe.endswith("ssh"), aev)
        self.assert_raises_rule("Disallowed SSH Connection Non Standard Port", aev, nev)


if __name__ == "__main__":
    harness.main()
