#!/usr/bin/env python3
"""The eBPF sensor on the real machine (issue 10): the real agent with
--sensor ebpf and bulwarkd.

- A process that lives for microseconds (/bin/true with distinctive
  arguments) reaches the store as an exec event with its full argv and exe
  path: the kernel reports it at exec, nothing has to catch it in /proc.
- Reading /etc/shadow raises the Falco rule "Read sensitive file untrusted"
  (Falco's own condition: open_read and sensitive_files); reading
  /etc/hostname, its benign neighbour, raises nothing.
- A short loopback connection is stored as an outbound connection.
- An exec of a binary copied into a memfd raises Falco's "Fileless
  execution via memfd_create" (proc.is_exe_from_memfd); /bin/true from disk
  does not.
- dup2 of a socket onto stdout raises Falco's stdio-redirection rule (a
  Syscall event: evt.type, evt.rawres, fd.type, fd.sport); dup2 of the same
  socket onto fd 7 raises nothing.
- bind and listen of a TCP socket raise a rule with the address and
  backlog (a UNIX socket's do not); a BPF program load raises Falco's "BPF
  Program Not Profiled", a BPF map creation does not; both name the user,
  also for the loader, which started before the agent.
- The heartbeat says which sensor runs (stored agent health: "ebpf").
- Opens are decided in the kernel at sys_enter where they can be (the hot
  path, docs/performance.md): the reads it must keep still reach the store
  (a path relative to the cwd, one through "/tmp/..", openat2), and an
  open of /etc/shadow for writing, their benign neighbour, does not.
Skipped, with the reason, only where BPF cannot run at all: not root, no
kernel BTF, or an agent built without the sensor."""
import json
import os
import subprocess
import uuid

import harness

KIND_EXEC, KIND_FILE = 10, 12
FILE_OPEN = 5  # FileAccess.Op

RULES = """
- list: sensitive_file_names
  items: [/etc/shadow, /etc/sudoers, /etc/pam.conf, /etc/security/pwquality.conf]

- macro: sensitive_files
  condition: >
    ((fd.name startswith /etc and fd.name in (sensitive_file_names))
     or fd.directory in (/etc/sudoers.d, /etc/pam.d))

# Falco's macro without "fd.num>=0": the sensor reports a successful open
# only, so there is always an fd.
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f')

- macro: proc_name_exists
  condition: (proc.name!="<NA>")

- rule: Read sensitive file untrusted
  desc: an attempt to read any sensitive file (e.g. files containing user/password/authentication information)
  condition: >
    open_read and sensitive_files and proc_name_exists
    and not proc.name in (iptables, ps, lsb_release, check-new-relea, dumpe2fs, accounts-daemon,
    sshd, vsftpd, systemd, mysql_install_d, psql, screen, debconf-show, sa-update,
    pam-auth-update, pam-config, polkit-agent-he, lsattr, file, sosreport, cockpit-session,
    userhelper, ossec-syscheckd, unix_chkpwd, cron, login, su, sudo, passwd)
  output: >
    Sensitive file opened for reading by non-trusted program (file=%fd.name
    process=%proc.name command=%proc.cmdline parent=%proc.pname)
  priority: WARNING
  tags: [filesystem, mitre_credential_access]

- macro: dup
  condition: evt.type in (dup, dup2, dup3)

# Falco's "Redirect STDOUT/STDIN to Network Connection in Container" without
# "and container": the test's process runs on the host.
- rule: Redirect STDOUT/STDIN to Network Connection
  desc: a process points its stdin, stdout or stderr at a network connection (reverse shell)
  condition: dup and evt.rawres in (0, 1, 2) and fd.type in ("ipv4", "ipv6")
  output: >
    Redirect stdout/stdin to network connection (process=%proc.name cmdline=%proc.cmdline
    fd.name=%fd.name fd.num=%fd.num evt.type=%evt.type evt.res=%evt.res
    newfd=%evt.arg.newfd sport=%fd.sport)
  priority: NOTICE
  tags: [network, process, mitre_execution]
  # one alert per process: another process of the machine (a unit test of
  # another build) redirecting its stdio meanwhile has its own
  group_by: proc.pid
"""

# Falco's rule as it is (its output's fields trimmed to ours).
RULES += """
- macro: spawned_process
  condition: (evt.type in (execve, execveat))

- list: known_memfd_execution_binaries
  items: []

- macro: known_memfd_execution_processes
  condition: >
    (proc.name in (known_memfd_execution_binaries))
    or (proc.pname in (known_memfd_execution_binaries))

- rule: Fileless execution via memfd_create
  desc: a binary executed from memory with the memfd_create technique
  condition: >
    spawned_process
    and proc.is_exe_from_memfd=true
    and not known_memfd_execution_processes
  output: >
    Fileless execution via memfd_create (process=%proc.name command=%proc.cmdline
    exe=%proc.exe parent=%proc.pname)
  priority: CRITICAL
  tags: [host, container, process, mitre_defense_evasion, T1620]
  group_by: proc.pid   # as above: others' fileless execs have their own alerts
"""

# Falco's incubating rule as it is (output trimmed to our fields), and a
# rule of ours on bind and listen by the test's listener.
RULES += """
- list: bpf_profiled_binaries
  items: [falco, bpftool, systemd]

- macro: bpf_profiled_procs
  condition: (proc.name in (bpf_profiled_binaries))

- rule: BPF Program Not Profiled
  desc: an unprofiled process loads a BPF program
  condition: >
    evt.type=bpf
    and (evt.arg.cmd=5 or evt.arg.cmd=BPF_PROG_LOAD)
    and not bpf_profiled_procs
  output: >
    BPF Program Not Profiled | bpf_cmd=%evt.arg.cmd evt_type=%evt.type user=%user.name
    process=%proc.name command=%proc.cmdline
  priority: NOTICE
  tags: [maturity_incubating, host, container, mitre_persistence, TA0003]

- rule: Test bind
  desc: the test's listener binds
  condition: evt.type=bind and proc.cmdline contains bulwark-listen-test
  output: >
    bind res=%evt.res addr=%evt.arg.addr sport=%fd.sport fd=%fd.num user=%user.name
    command=%proc.cmdline
  priority: NOTICE
  tags: [network]

- rule: Test listen
  desc: the test's listener listens
  condition: evt.type=listen and proc.cmdline contains bulwark-listen-test
  output: >
    listen res=%evt.res backlog=%evt.arg.backlog sport=%fd.sport fd=%fd.num
    command=%proc.cmdline
  priority: NOTICE
  tags: [network]
"""

# bpf(BPF_PROG_LOAD) of a socket filter that returns 0 (r0 = 0; exit), then
# its benign neighbour, bpf(BPF_MAP_CREATE) of a one-entry array.
BPF_LOAD = """
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf = 321 if os.uname().machine == "x86_64" else 280
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr + bytes(128 - len(attr)), 128)
    fd = libc.syscall(ctypes.c_long(SYS_bpf), ctypes.c_int(cmd), buf, ctypes.c_uint(128))
    if fd < 0:
        sys.exit("bpf(%d): errno %d" % (cmd, ctypes.get_errno()))
    os.close(fd)
sys.stdin.readline()  # started before the agent: loads once it runs
bpf(0, struct.pack("IIII", 2, 4, 4, 1))
insns = ctypes.create_string_buffer(struct.pack("<BBhiBBhi", 0xb7, 0, 0, 0, 0x95, 0, 0, 0), 16)
lic = ctypes.create_string_buffer(b"GPL")
bpf(5, struct.pack("IIQQ", 1, 2, ctypes.addressof(insns), ctypes.addressof(lic)))
sys.stdin.readline()  # lives on until its load is stored: /proc names it
"""

# A TCP listener on loopback (reported), then a UNIX one (not: not the network).
LISTEN = """
import os, socket, sys, tempfile
s = socket.socket(socket.AF_UNIX)
s.bind(os.path.join(tempfile.mkdtemp(), "sock"))
s.listen(3)
t = socket.socket()
t.bind(("127.0.0.1", 0))
t.listen(5)
print(t.getsockname()[1], flush=True)
"""

# A reverse shell's first step, then its benign neighbour (the same
# socket duplicated onto fd 7, not onto stdio).
REDIRECT = """
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
os.dup2(s.fileno(), 7)
os.dup2(s.fileno(), 1)
"""

# openat2 (437 on every architecture) of /etc/shadow, read-only.
OPENAT2 = """
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
how = ctypes.create_string_buffer(struct.pack("QQQ", os.O_RDONLY, 0, 0), 24)
fd = libc.syscall(ctypes.c_long(437), ctypes.c_int(-100), b"/etc/shadow", how,
                  ctypes.c_size_t(24))
if fd < 0:
    sys.exit("openat2: errno %d" % ctypes.get_errno())
os.close(fd)
"""

fields = harness.pb_fields


class SensorEbpfTest(harness.BulwarkTest):
    def setUp(self):
        why = harness.bpf_unavailable()
        if why:
            self.skipTest(why)
        super().setUp()

    def stored_health(self, server, agent_id):
        """The agent's health as bulwarkd stored it, once it names a sensor."""
        def health():
            rows = harness.db_query(server.db, "SELECT health FROM agents WHERE agent_id = ?",
                                    (agent_id,))
            h = json.loads(rows[0][0]) if rows and rows[0][0] else None
            return h if h and h.get("sensor") else None

        return harness.wait_until(health, 60, interval=0.5, what="the agent's stored health")

    def rules(self):
        d = self.path("rules")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "sensitive.yaml"), "w") as f:
            f.write(RULES)
        return d

    def start_sensor(self, agent_id):
        """bulwarkd with the rules and an agent with --sensor ebpf, connected."""
        certs = self.certs(agent_id)
        server = self.start_server(certs, rules=self.rules())
        agent = self.start_agent(certs, server, agent_id, source="host", sensor="ebpf",
                                 collect_config="false", collect_resource="false")
        agent.proc.wait_for(r"sensor ebpf \(asked for", timeout=60)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        return server, agent

    def test_exec_open_and_connect(self):
        server, agent = self.start_sensor("ebpf-agent")

        marker = "ebpf-" + uuid.uuid4().hex
        argv = ["/bin/true", marker, "second arg", "--third=3"]
        subprocess.run(argv, check=True)
        # the benign neighbour first: a read of a file no rule names
        with open("/etc/hostname", "rb") as f:
            f.read(1)
        subprocess.run(["cat", "/etc/shadow"], check=True, stdout=subprocess.DEVNULL)
        port = self.loopback_connection()

        def find_exec():
            for (body,) in harness.db_query(server.db, "SELECT body FROM events WHERE kind = ?",
                                            (KIND_EXEC,)):
                proc = fields(body).get(5)
                if proc and marker.encode() in proc[0]:
                    return fields(proc[0])
            return None

        p = harness.wait_until(find_exec, 60, interval=0.2, what="the exec event in the store")
        self.assertEqual(p[7][0].decode(), " ".join(argv), "full argv as the command line")
        self.assertEqual(os.path.realpath(p[5][0].decode()), os.path.realpath("/bin/true"))
        self.assertEqual(p[8][0].decode(), "python3", "parent name")

        def alerts():
            return harness.db_query(server.db, "SELECT rule, output FROM alerts")

        rows = harness.wait_until(
            lambda: [r for r in alerts() if r[0] == "Read sensitive file untrusted"] or None, 60,
            interval=0.2, what="the alert for reading /etc/shadow")
        self.assertIn("file=/etc/shadow", rows[0][1])
        self.assertIn("process=cat", rows[0][1])

        ev = harness.wait_until(lambda: harness.stored_connection(server.db, "127.0.0.1", port), 60,
                                interval=0.2, what="the connection in the store")
        self.assertEqual(fields(ev[5][0]).get(1, [0])[0], os.getpid(),
                         "the connection is attributed to this test's process")

        h = self.stored_health(server, "ebpf-agent")
        self.assertEqual(h["sensor"], "ebpf")
        self.assertEqual(h["sensor_kernel_drops"], 0)

        # fd redirection: a Syscall event (dup2) with Falco's fd and evt fields
        port2 = self.loopback_listener()
        subprocess.run(["python3", "-c", REDIRECT, str(port2), marker], check=True)
        rows = harness.wait_until(
            lambda: [r for r in alerts() if r[0] == "Redirect STDOUT/STDIN to Network Connection"
                     and f"sport={port2}" in r[1]]
            or None, 60, interval=0.2, what="the alert for dup2 of a socket onto stdout")
        self.assertIn("cmdline=python3 -c", rows[0][1])
        self.assertIn("evt.type=dup2 evt.res=SUCCESS newfd=1", rows[0][1])
        self.assertIn(f"sport={port2}", rows[0][1])
        self.assertIn(f"->127.0.0.1:{port2}", rows[0][1])

        # fileless execution: the exec event says its image is a memfd
        subprocess.run(["python3", "-c", harness.MEMFD_EXEC, marker + "-memfd"], check=True)
        rows = harness.wait_until(
            lambda: [r for r in alerts() if r[0] == "Fileless execution via memfd_create"
                     and f"{marker}-memfd" in r[1]]
            or None, 60, interval=0.2, what="the alert for an exec from a memfd")
        self.assertIn(f"command=memfd-true {marker}-memfd", rows[0][1])
        self.assertIn("exe=/proc/self/fd/", rows[0][1])  # the path execve was given

        # Nothing but /etc/shadow raised the rule, nothing but fd 1 the other,
        # nothing but the memfd exec the third (/bin/true from disk did not).
        # Alerts of other processes of the machine (other builds' tests) are
        # apart: the last two rules group by pid, and this test's are told
        # by their port and marker.
        self.stop_server(server)
        for rule, output in alerts():
            self.assertNotIn("/etc/hostname", output)
            self.assertNotIn("newfd=7", output)
        self.assertEqual(harness.db_query(
            server.db, "SELECT count FROM alerts WHERE rule = ? AND output LIKE ?",
            ("Redirect STDOUT/STDIN to Network Connection", f"%sport={port2})"))[0][0], 1)
        self.assertEqual(harness.db_query(
            server.db, "SELECT count FROM alerts WHERE rule = ? AND output LIKE ?",
            ("Fileless execution via memfd_create", f"%{marker}-memfd %"))[0][0], 1)
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(30), 0)
        self.assert_clean(agent.proc)

    def test_listen_and_bpf_load(self):
        """bind and listen of a TCP socket reach the rules with the address
        and backlog, a UNIX socket's do not; a BPF program load raises
        Falco's "BPF Program Not Profiled", a map creation does not."""
        marker = "bpf-" + uuid.uuid4().hex
        # a process the agent never saw exec: its command line and user name
        # are read from /proc at its first record
        loader = subprocess.Popen(["python3", "-c", BPF_LOAD, marker], stdin=subprocess.PIPE)

        def alerts(rule):
            return [o for (o,) in harness.db_query(server.db, "SELECT output FROM alerts "
                                                   "WHERE rule = ? AND output LIKE ?",
                                                   (rule, f"%{marker}%"))] or None

        try:
            server, agent = self.start_sensor("listen-agent")
            out = subprocess.run(["python3", "-c", LISTEN, "bulwark-listen-test", marker],
                                 check=True, stdout=subprocess.PIPE).stdout
            port = int(out)
            loader.stdin.write(b"go\n")
            loader.stdin.flush()
            for rule in ("BPF Program Not Profiled", "Test bind", "Test listen"):
                harness.wait_until(lambda: alerts(rule), 60, interval=0.2,
                                   what=f"the alert of '{rule}'")
            loader.stdin.close()
            self.assertEqual(loader.wait(30), 0)
        finally:
            loader.kill()
            loader.wait()
        self.stop_server(server)
        bpf = alerts("BPF Program Not Profiled")
        self.assertEqual(len(bpf), 1, bpf)
        self.assertIn("bpf_cmd=BPF_PROG_LOAD evt_type=bpf user=root process=python3", bpf[0])
        # one of each, the UNIX socket's bind and listen left out
        rows = harness.db_query(server.db, "SELECT rule, count, output FROM alerts WHERE rule "
                                "LIKE 'Test %' AND output LIKE ?", (f"%{marker}%",))
        self.assertEqual(sorted((r[0], r[1]) for r in rows), [("Test bind", 1), ("Test listen", 1)])
        out = dict((r[0], r[2]) for r in rows)
        self.assertRegex(out["Test bind"], f"bind res=SUCCESS addr=127.0.0.1:{port} sport={port} "
                                           r"fd=\d+ user=root ")
        self.assertIn(f"listen res=SUCCESS backlog=5 sport={port}", out["Test listen"])
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(30), 0)
        self.assert_clean(agent.proc)

    def test_reads_decided_at_enter(self):
        """The reads sys_enter cannot rule out reach the store; an open for
        writing, ruled out there, does not."""
        server, agent = self.start_sensor("enter-agent")
        marker = "enter-" + uuid.uuid4().hex

        # the benign neighbour first: read-write, not a read (nothing written)
        subprocess.run(["python3", "-c", "import sys; open('/etc/shadow', 'r+b').close()",
                        marker + "-rw"], check=True)
        # a relative path is resolved by user space against /proc/PID/cwd, so
        # this reader lives until its read is stored
        rel = subprocess.Popen(["python3", "-c", "import sys; open('shadow', 'rb').close(); "
                                "sys.stdin.read()", marker + "-rel"], cwd="/etc",
                               stdin=subprocess.PIPE)
        subprocess.run(["cat", "/tmp/../etc/shadow"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["python3", "-c", OPENAT2, marker + "-openat2"], check=True)

        def reads():
            """(path, command line) of the stored reads (FileAccess OPEN;
            the file collector may report the read-write open as a write)."""
            out = []
            for (body,) in harness.db_query(server.db, "SELECT body FROM events WHERE kind = ?",
                                            (KIND_FILE,)):
                ev = fields(body)
                fa = fields(ev[12][0]) if 12 in ev else {}
                if fa.get(1, [0])[0] == FILE_OPEN and 5 in ev:
                    out.append((fa.get(2, [b""])[0].decode(),
                                fields(ev[5][0]).get(7, [b""])[0].decode()))
            return out

        try:
            for what in (marker + "-rel", "cat /tmp/../etc/shadow", marker + "-openat2"):
                harness.wait_until(lambda: [r for r in reads()
                                            if what in r[1] and r[0] == "/etc/shadow"] or None,
                                   60, interval=0.2, what=f"the read of /etc/shadow by '{what}'")
        finally:
            rel.stdin.close()
            rel.wait(30)
        # the ring is read in order: the neighbour's record would be stored by now
        self.assertEqual([r for r in reads() if marker + "-rw" in r[1] and r[0] == "/etc/shadow"],
                         [])
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(30), 0)
        self.assert_clean(agent.proc)
        self.stop_server(server)

    def test_auto_picks_ebpf_and_says_why(self):
        """--sensor auto (the default) runs the eBPF sensor where it can run,
        logs why, and reports it in the heartbeat."""
        certs = self.certs("auto-agent")
        server = self.start_server(certs)
        agent = self.start_agent(certs, server, "auto-agent", source="host",
                                 collect_config="false", collect_resource="false")
        agent.proc.wait_for(r"sensor ebpf \(auto: kernel BTF and CAP_BPF\+CAP_PERFMON present\)",
                            timeout=60)
        self.assertEqual(agent.proc.find(r"sensor procfs"), [])
        self.assertEqual(self.stored_health(server, "auto-agent")["sensor"], "ebpf")
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(30), 0)
        self.assert_clean(agent.proc)
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
