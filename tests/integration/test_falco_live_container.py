#!/usr/bin/env python3
"""Falco's stable rules that need a container, raised live (issue 10,
acceptance 2): the real bulwark-agent with its eBPF sensor and the real
bulwarkd loaded with Falco's pinned stable rule file
(tests/fixtures/falco-rules/falco_rules.yaml, unchanged) watch real podman
containers (runc, the busybox image of podman.py). For each rule one test
performs the action Falco's event-generator would, and a benign neighbour:

- Terminal shell in container: `podman exec -t` runs sh with a terminal
  (parent runc's init: container_entrypoint); `podman exec` without -t does
  not (proc.tty = 0).
- Contact K8S API Server From Container: the container resolves
  kubernetes.default.svc.cluster.local through a DNS server in its own
  network namespace (dnsmasq, as a cluster's DNS would answer) and connects
  to the answer, where it listens itself; the rule's k8s_api_server macro is
  fd.sip.name = that name, which the agent learns from the DNS answer it
  sees in the namespace. A connection to another service's name does not.
- Netcat Remote Code Execution in Container: `nc ... -e /bin/true`; `nc`
  without -e does not.
- Packet socket created in container: busybox arping opens an AF_PACKET
  socket (the container has CAP_NET_RAW); nslookup (an AF_INET socket and a
  UDP connect) does not.
- Redirect STDOUT/STDIN to Network Connection in Container: `nc -e` dup2s
  its connection onto fds 0 and 1; the shell it runs duplicating the same
  socket onto fd 7 does not.
- Debugfs Launched in Privileged Container: a program named debugfs runs in
  a --privileged container; the same in an unprivileged one does not.
- Detect release_agent File Container Escapes: a privileged container
  mounts a cgroup v1 hierarchy of its own (its own mount namespace, never
  the host's cgroups) and opens its release_agent for writing; root writing
  a file named release_agent in an unprivileged container (no
  CAP_SYS_ADMIN) does not fire.
- Drop and execute new binary in container: busybox copied into the
  container's upper layer and run; the image's own busybox does not.
- Linux Kernel Module Injection Detected: insmod of a file that is no
  module in a --privileged container (CAP_SYS_MODULE: the kernel refuses
  the file, nothing is loaded); the same in an unprivileged container
  without seccomp's filter (so that the call reaches the kernel, where it
  fails for want of CAP_SYS_MODULE) does not fire.

Each neighbour check first waits until the neighbour's own event is
stored, then asserts that no alert of the rule has it as evidence and that
every alert of the rule in that container has all its matches as evidence
(a grouped alert's count equals its evidence). One agent and one server
serve the class. Skipped, with the reason, only where BPF cannot run."""
import os
import shutil
import sys
import tempfile
import unittest
import uuid

import harness
import podman
from test_containers_live import message
from harness import bpf_unavailable

STABLE = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "falco-rules", "falco_rules.yaml")
KIND_EXEC, KIND_NET, KIND_FILE, KIND_SYSCALL = 10, 11, 12, 17
PROC_FIELDS = {1: "pid", 2: "ppid", 5: "exe", 6: "name", 7: "cmdline", 8: "parent_name"}
CONTAINER_FIELDS = {1: "id", 2: "name", 3: "image", 5: "runtime"}
NET_FIELDS = {3: "local_addr", 4: "local_port", 5: "remote_addr", 6: "remote_port",
              7: "remote_name"}
FILE_FIELDS = {1: "op", 2: "path"}
SYSCALL_FIELDS = {1: "type", 2: "res", 3: "fd", 4: "fd_name", 5: "fd_type"}
K8S_NAME = "kubernetes.default.svc.cluster.local"
OTHER_NAME = "db.default.svc.cluster.local"
K8S_ADDR, OTHER_ADDR = "127.0.0.2", "127.0.0.3"


def decode_event(event_id, kind, body):
    """{id, kind, container, process, body} of a stored event (dicts)."""
    ev = {"id": event_id, "kind": kind, "container": {}, "process": {}, "body": {}}
    names = {KIND_NET: NET_FIELDS, KIND_FILE: FILE_FIELDS, KIND_SYSCALL: SYSCALL_FIELDS}
    for f, _, v in harness.pb_decode(body):
        if f == 4:
            ev["container"] = message(v, CONTAINER_FIELDS)
        elif f == 5:
            ev["process"] = message(v, PROC_FIELDS)
        elif f == kind and kind in names:
            ev["body"] = message(v, names[kind])
            if kind == KIND_SYSCALL:
                ev["body"]["args"] = {}
                for f2, _, v2 in harness.pb_decode(v):
                    if f2 == 6:
                        kv = message(v2, {1: "k", 2: "v"})
                        ev["body"]["args"][kv.get("k")] = kv.get("v")
    return ev


def fixture():
    """A BulwarkTest used for its helpers (temp dir, processes, cleanup)
    by the class's agent and server, set up once; made here so that
    unittest does not collect it as a test."""
    class Fixture(harness.BulwarkTest):
        def runTest(self):  # never run: unittest names a test by a method
            pass
    return Fixture()


class FalcoLiveContainerTest(unittest.TestCase):
    fx = None

    @classmethod
    def setUpClass(cls):
        why = bpf_unavailable()
        if why:
            raise unittest.SkipTest(why)
        fx = cls.fx = fixture()
        fx.setUp()
        try:
            cls.pm = podman.Podman(tempfile.mkdtemp(prefix="podman-", dir=fx.tmp))
            cls.image = cls.pm.ensure_image()
            certs = fx.certs("fc-agent")
            cls.server = fx.start_server(certs, rules=STABLE)
            # the stable file alone, every one of its 25 rules enabled
            m, _ = cls.server.proc.wait_for(r"rules: loaded 1 rule files: 25 rules, (\d+) enabled",
                                            timeout=30)
            fx.assertEqual(int(m.group(1)), 25, m.group(0))
            cls.agent = fx.start_agent(certs, cls.server, "fc-agent", source="host", sensor="ebpf",
                                       collect_config="false", collect_resource="false",
                                       scan_interval_ms=100)
            cls.agent.proc.wait_for(r"sensor ebpf \(asked for", timeout=60)
            cls.agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
            cls.agent.proc.wait_for(r"collectors running", timeout=30)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        fx, cls.fx = cls.fx, None
        if not fx:
            return
        failed = getattr(cls, "failed", False)
        try:
            if getattr(cls, "pm", None):
                cls.pm.cleanup()
            if getattr(cls, "server", None) and cls.server.proc.running():
                fx.stop_server(cls.server)
            if getattr(cls, "agent", None) and cls.agent.proc.running():
                cls.agent.proc.terminate()
                fx.assertEqual(cls.agent.proc.wait(30), 0)
                fx.assert_clean(cls.agent.proc)
        except BaseException:
            failed = True
            raise
        finally:
            if failed:
                for p in fx.procs:
                    sys.stderr.write(p.tail(60) + "\n")
            fx.doCleanups()
            fx.tearDown()
            if failed or os.environ.get("BW_KEEP_TMP"):
                sys.stderr.write(f"kept temp dir {fx.tmp}\n")
            else:
                shutil.rmtree(fx.tmp, ignore_errors=True)

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            type(self).failed = True
        return result

    def setUp(self):
        self.prefix = "bwf-" + uuid.uuid4().hex[:8]
        self.addCleanup(self.pm.cleanup)

    # ------------------------------------------------------------ helpers

    def container(self, what, *cmd, privileged=False, extra=()):
        name = f"{self.prefix}-{what}"
        cid = self.pm.run(name, *(cmd or ("/bin/sleep", "600")), privileged=privileged,
                          extra=extra)
        return name, cid

    def events(self, kind):
        return [decode_event(i, k, b) for (i, k, b) in harness.db_query(
            self.server.db, "SELECT id, kind, body FROM events WHERE kind = ?", (kind,))]

    def wait_event(self, kind, pred, what, timeout=60):
        def find():
            for ev in self.events(kind):
                if pred(ev):
                    return ev
            return None
        return harness.wait_until(find, timeout, interval=0.2, what=what)

    def evidence(self, rule):
        """{event id: alert id} of rule's alerts."""
        return dict(harness.db_query(
            self.server.db, "SELECT v.event_id, a.id FROM alerts a JOIN alert_evidence v "
            "ON v.alert_id = a.id WHERE a.rule = ?", (rule,)))

    def assert_fires(self, rule, ev, timeout=30):
        """Waits for an alert of rule with ev as its evidence; returns its output."""
        aid = harness.wait_until(lambda: self.evidence(rule).get(ev["id"]), timeout, interval=0.2,
                                 what=f"alert '{rule}' for event {ev}")
        return harness.db_query(self.server.db, "SELECT output FROM alerts WHERE id = ?",
                                (aid,))[0][0]

    def assert_quiet(self, rule, ev):
        """The neighbour's stored event ev raised no alert of rule: it is
        no alert's evidence, and each alert of its container holds all of
        its matches as evidence (so none is hidden in a count)."""
        self.assertNotIn(ev["id"], self.evidence(rule), f"'{rule}' fired for {ev}")
        cid = ev["container"].get("id")
        for aid, count in harness.db_query(
                self.server.db, "SELECT id, count FROM alerts WHERE rule = ? AND container_id IS ?",
                (rule, cid)):
            n = harness.db_query(self.server.db, "SELECT count(*) FROM alert_evidence "
                                 "WHERE alert_id = ?", (aid,))[0][0]
            self.assertEqual(count, n, f"'{rule}' alert {aid} has matches beyond its evidence")

    def assert_pair(self, rule, loud, quiet, needle):
        """rule fired for loud (its output naming needle), not for quiet."""
        self.assertIn(needle, self.assert_fires(rule, loud))
        self.assert_quiet(rule, quiet)

    def exec_of(self, cid, cmdline):
        return lambda e: e["container"].get("id") == cid and e["process"].get("cmdline") == cmdline

    # -------------------------------------------------------------- tests

    def test_terminal_shell(self):
        rule = "Terminal shell in container"
        name, cid = self.container("tty")
        self.pm.exec(name, "sh", "-c", "echo quiet-71")
        quiet = self.wait_event(KIND_EXEC, self.exec_of(cid, "sh -c echo quiet-71"),
                                "the shell without a terminal")
        self.pm("exec", "-t", name, "sh", "-c", "echo loud-72")
        loud = self.wait_event(KIND_EXEC, self.exec_of(cid, "sh -c echo loud-72"),
                               "the shell with a terminal")
        self.assert_pair(rule, loud, quiet, "process=sh")

    def test_netcat_remote_code_execution(self):
        rule = "Netcat Remote Code Execution in Container"
        name, cid = self.container("nc")
        self.pm.exec(name, "nc", "-w", "1", "127.0.0.1", "9", check=False)
        quiet = self.wait_event(KIND_EXEC, self.exec_of(cid, "nc -w 1 127.0.0.1 9"),
                                "nc without -e")
        self.pm.exec(name, "nc", "-w", "1", "127.0.0.1", "9", "-e", "/bin/true", check=False)
        loud = self.wait_event(KIND_EXEC, self.exec_of(cid, "nc -w 1 127.0.0.1 9 -e /bin/true"),
                               "nc -e")
        self.assert_pair(rule, loud, quiet, "process=nc")

    def test_redirect_stdio_to_network(self):
        rule = "Redirect STDOUT/STDIN to Network Connection in Container"
        name, cid = self.container("dup")
        # a listener that holds the connection (its stdin never ends)
        self.pm.exec(name, "sh", "-c", "sleep 300 | nc -l -p 4444 >/dev/null", detach=True)
        self.wait_event(KIND_EXEC, self.exec_of(cid, "nc -l -p 4444"), "the listener")
        # nc puts the connection on fds 0 and 1 and runs a shell that
        # duplicates fd 0 (the socket) onto fd 7, then waits on it
        self.pm.exec(name, "nc", "127.0.0.1", "4444", "-e", "/bin/sh", "-c",
                     "exec 7<&0; read -r x", detach=True)

        def dup(newfd, proc):
            return lambda e: (e["container"].get("id") == cid and e["body"].get("type") == "dup2"
                              and e["process"].get("name") == proc
                              and e["body"]["args"].get("newfd") == str(newfd))
        loud = self.wait_event(KIND_SYSCALL, dup(0, "nc"), "nc's dup2 onto stdin")
        out = self.assert_fires(rule, loud)
        self.assertIn("127.0.0.1:4444", out)
        quiet = self.wait_event(KIND_SYSCALL, dup(7, "sh"), "the shell's dup2 onto fd 7")
        self.assertEqual(quiet["body"].get("fd_type"), "4", quiet)
        self.assert_quiet(rule, quiet)

    def test_drop_and_execute(self):
        rule = "Drop and execute new binary in container"
        name, cid = self.container("drop")
        self.pm.exec(name, "/bin/true", "81.5")
        quiet = self.wait_event(KIND_EXEC, self.exec_of(cid, "/bin/true 81.5"),
                                "the image's own true")
        self.pm.exec(name, "cp", "/bin/busybox", "/tmp/true")
        self.pm.exec(name, "/tmp/true", "82.5")  # busybox runs the applet named true
        loud = self.wait_event(KIND_EXEC, self.exec_of(cid, "/tmp/true 82.5"),
                               "the copied true")
        # true exits at once: the kernel said where its executable was
        self.assert_pair(rule, loud, quiet, "command=/tmp/true 82.5")

    def test_contact_k8s_api_server(self):
        rule = "Contact K8S API Server From Container"
        name, cid = self.container("k8s")
        # the cluster's DNS as the container sees it: a server in its own
        # network namespace answering the API server's service name
        dns = self.fx.spawn("dnsmasq", [
            "nsenter", f"--net=/proc/{self.pm.pid(name)}/ns/net",
            shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground",
            "--log-facility=-", "--conf-file=/dev/null", "--pid-file=", "--user=root",
            "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
            "--port=53", f"--address=/{K8S_NAME}/{K8S_ADDR}",
            f"--address=/{OTHER_NAME}/{OTHER_ADDR}"])
        self.addCleanup(dns.close)
        dns.wait_for(r"started, version", timeout=30)
        # the services, inside the container: listeners that hold each
        # connection a while, so that the client lives to be attributed
        for port in (443, 5432):
            self.pm.exec(name, "sh", "-c", f"while :; do sleep 3 | nc -l -p {port} >/dev/null; "
                         "done", detach=True)
        # clients that resolve the name and connect to the answer, until the
        # test has seen a named connection (the agent watches a new network
        # namespace from its next pass on)
        for svc, addr, port in ((OTHER_NAME, OTHER_ADDR, 5432), (K8S_NAME, K8S_ADDR, 443)):
            self.pm.exec(name, "sh", "-c", f"while :; do nslookup -type=a {svc} 127.0.0.1 >/dev/null "
                         f"&& sleep 1 | nc {addr} {port} >/dev/null; sleep 0.2; done", detach=True)

        def conn(svc, port):
            return lambda e: (e["container"].get("id") == cid
                              and e["body"].get("remote_name") == svc
                              and e["body"].get("remote_port") == port)
        quiet = self.wait_event(KIND_NET, conn(OTHER_NAME, 5432), "the named connection to db")
        loud = self.wait_event(KIND_NET, conn(K8S_NAME, 443), "the named connection to the API")
        self.assert_pair(rule, loud, quiet, f"{K8S_ADDR}:443")

    def test_kernel_module_injection(self):
        rule = "Linux Kernel Module Injection Detected"
        # podman's seccomp profile would stop the unprivileged call before
        # the tracepoint: without it the call is made, and refused
        quiet_name, quiet_cid = self.container("kmodq",
                                               extra=("--security-opt", "seccomp=unconfined"))
        loud_name, loud_cid = self.container("kmodl", privileged=True)
        for name in (quiet_name, loud_name):  # no ELF, no module: refused by the kernel
            self.pm.exec(name, "sh", "-c", "echo bulwark-not-a-module > /tmp/m.ko")

        def attempt(cid):
            return lambda e: (e["container"].get("id") == cid
                              and e["body"].get("type") in ("init_module", "finit_module"))
        self.pm.exec(quiet_name, "insmod", "/tmp/m.ko", check=False)
        quiet = self.wait_event(KIND_SYSCALL, attempt(quiet_cid),
                                "the unprivileged container's module load attempt")
        self.pm.exec(loud_name, "insmod", "/tmp/m.ko", check=False)
        loud = self.wait_event(KIND_SYSCALL, attempt(loud_cid),
                               "the privileged container's module load attempt")
        self.assertNotEqual(loud["body"].get("res"), "0", loud)  # nothing was loaded
        self.assert_pair(rule, loud, quiet, "process=insmod")

    def test_packet_socket(self):
        rule = "Packet socket created in container"
        name, cid = self.container("pkt", extra=("--cap-add", "NET_RAW"))
        # an AF_INET socket and its connect (UDP: no server needed)
        self.pm.exec(name, "nslookup", "-type=a", "bulwark.test", "127.0.0.1", check=False)
        quiet = self.wait_event(KIND_NET, lambda e: e["container"].get("id") == cid
                                and e["process"].get("name") == "nslookup"
                                and e["body"].get("remote_port") == 53, "nslookup's connect")
        self.pm.exec(name, "arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1", check=False)
        loud = self.wait_event(KIND_SYSCALL, lambda e: e["container"].get("id") == cid
                               and e["body"].get("type") == "socket", "arping's socket")
        self.assertIn("AF_PACKET", loud["body"]["args"].get("domain", ""), loud)
        self.assert_pair(rule, loud, quiet, "process=arping")
        # the kernel reports no socket of the common families: nslookup's
        # AF_INET one (made before its stored connect) is not there
        self.assertFalse([e for e in self.events(KIND_SYSCALL)
                          if e["process"].get("pid") == quiet["process"].get("pid")
                          and e["body"].get("type") == "socket"], quiet)

    def test_debugfs_in_privileged_container(self):
        rule = "Debugfs Launched in Privileged Container"
        plain, plain_id = self.container("dbg")
        priv, priv_id = self.container("dbgpriv", privileged=True)
        # a program named debugfs (busybox answers "applet not found": the
        # exec is what the rule sees)
        for name in (plain, priv):
            self.pm.exec(name, "ln", "-s", "/bin/busybox", "/tmp/debugfs")
            self.pm.exec(name, "/tmp/debugfs", "-w", "/dev/null", check=False)
        quiet = self.wait_event(KIND_EXEC, self.exec_of(plain_id, "/tmp/debugfs -w /dev/null"),
                                "debugfs in the unprivileged container")
        loud = self.wait_event(KIND_EXEC, self.exec_of(priv_id, "/tmp/debugfs -w /dev/null"),
                               "debugfs in the privileged container")
        self.assert_pair(rule, loud, quiet, "process=debugfs")

    def test_release_agent_escape(self):
        rule = "Detect release_agent File Container Escapes"
        plain, plain_id = self.container("raplain")
        name, cid = self.container("ra", privileged=True)
        # a cgroup v1 hierarchy of the container's own (named, no
        # controllers), mounted in its mount namespace: the host's cgroups
        # are never touched; the opens truncate nothing that matters and
        # write nothing
        self.pm.exec(name, "sh", "-c", "mkdir /tmp/cg && mount -t cgroup -o none,name=bwtest "
                     "cgroup /tmp/cg")
        self.pm.exec(name, "sh", "-c", ": > /tmp/cg/release_agent")
        # the neighbour: a file of that name written in an unprivileged
        # container (root, without CAP_SYS_ADMIN)
        self.pm.exec(plain, "sh", "-c", ": > /tmp/release_agent")

        def opened(ctr, path):
            return lambda e: e["container"].get("id") == ctr and e["body"].get("path") == path
        quiet = self.wait_event(KIND_FILE, opened(plain_id, "/tmp/release_agent"),
                                "the write open in the unprivileged container")
        loud = self.wait_event(KIND_FILE, opened(cid, "/tmp/cg/release_agent"),
                               "the write open of release_agent")
        self.assert_pair(rule, loud, quiet, "file=/tmp/cg/release_agent")


if __name__ == "__main__":
    harness.main()
