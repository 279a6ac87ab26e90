#!/usr/bin/env python3
"""Remote names on a live host (issue 12, item 3): a real DNS server from
Debian (dnsmasq, on port 53 of a loopback address picked at random, since
the agent watches answers from port 53) answers a name with a loopback
address; the agent, watching DNS answers with its AF_PACKET socket, learns
which name the address was resolved from, and the connection this test then
opens to that address carries the name in the stored event. The name is a
mining pool's (by the default rules' suffix), so the mining-pool rule fires
on a live connection; a connection to an address nobody resolved carries no
name. The same in a network namespace the test makes (unshare --net, its
own dnsmasq): the agent enters it to watch, and the name is kept apart from
the host's namespace. Both run with the default sensor (eBPF on a host with
BTF and root, which names its connect and accept events from the same
watch); the host case runs once more with the procfs connection
collector."""
import os
import random
import shutil
import socket
import struct
import sys

import harness
from harness import bpf_unavailable

KIND_NET = 11
POOL = "xmr-eu9.nanopool.org"          # matched by the rules' .nanopool.org suffix
POOL_ADDR, PLAIN_ADDR = "127.0.0.77", "127.0.0.78"
MINER_PORTS = [3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 5588, 5730, 6099, 6666, 7777]


def fields(data):
    out = {}
    for f, _, v in harness.pb_decode(data):
        out.setdefault(f, []).append(v)
    return out


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def resolve(server, name):
    """One A query to server (addr, port), built by hand; returns the
    addresses."""
    qid = random.randrange(65536)
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, server)
        msg = s.recv(4096)
    rid, flags, qd, an = struct.unpack(">HHHH", msg[:8])
    assert rid == qid and flags & 0x8000 and flags & 0xF == 0, (rid, qid, hex(flags))
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[off + 10:off + 14]))
        off += 10 + rdlen
    return addrs


def listen_on(addr, ports):
    for p in ports:
        s = socket.socket()
        try:
            s.bind((addr, p))
        except OSError:
            s.close()
            continue
        s.listen(4)
        return s, p
    raise AssertionError(f"no free port on {addr} among {ports}")


class DnsNamesTest(harness.BulwarkTest):
    def start_dnsmasq(self):
        """dnsmasq on port 53 of a free 127.x.y.z; returns (addr, 53)."""
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        for _ in range(20):
            addr = f"127.{random.randrange(1, 255)}.{random.randrange(256)}.{random.randrange(1, 255)}"
            if addr in (POOL_ADDR, PLAIN_ADDR):
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((addr, 53))
                except OSError:
                    continue
            break
        proc = self.spawn("dnsmasq", [
            dnsmasq, "--keep-in-foreground", "--log-facility=-", "--log-queries",
            "--conf-file=/dev/null", "--pid-file=", "--user=root", "--no-resolv", "--no-hosts",
            "--bind-interfaces", f"--listen-address={addr}", "--port=53",
            f"--address=/{POOL}/{POOL_ADDR}"])
        proc.wait_for(r"started, version", timeout=30)
        return (addr, 53)

    def start(self, sensor=None):
        """bulwarkd and an agent with the given sensor (None: the default,
        auto, which must pick ebpf where it can run)."""
        certs = self.certs("dns-agent")
        server = self.start_server(certs, rules=f"{harness.SOURCE_DIR}/rules")
        opts = {"sensor": sensor} if sensor else {}
        agent = self.start_agent(certs, server, "dns-agent", source="host", collect_file="false",
                                 collect_config="false", collect_resource="false",
                                 collect_proc="false", scan_interval_ms=200, **opts)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        agent.proc.wait_for(r"collectors running", timeout=30)
        if sensor is None and bpf_unavailable() is None:
            self.assertTrue(agent.proc.find(r"sensor ebpf \(auto"), agent.proc.tail())
        return server, agent

    def net_events(self, server):
        """(remote_addr, remote_port, remote_name, netns_inode) of every
        stored connection."""
        out = []
        for (body,) in harness.db_query(server.db, "SELECT body FROM events WHERE kind = ?",
                                        (KIND_NET,)):
            net = fields(body).get(KIND_NET)
            if net:
                n = fields(net[0])
                out.append((n.get(5, [b""])[0].decode(), n.get(6, [0])[0],
                            n.get(7, [b""])[0].decode(), n.get(8, [0])[0]))
        return out

    def test_resolved_name_reaches_the_stored_connection(self):
        self.resolved_name_reaches_the_stored_connection(None)

    def test_resolved_name_reaches_the_stored_connection_procfs(self):
        self.resolved_name_reaches_the_stored_connection("procfs")

    def resolved_name_reaches_the_stored_connection(self, sensor):
        dns = self.start_dnsmasq()
        server, agent = self.start(sensor)

        pool, pport = listen_on(POOL_ADDR, MINER_PORTS)
        plain, lport = listen_on(PLAIN_ADDR, MINER_PORTS)
        self.addCleanup(pool.close)
        self.addCleanup(plain.close)
        # The answer is on the wire (loopback) before the connection opens.
        self.assertEqual(resolve(dns, POOL), [POOL_ADDR])
        socks = [socket.create_connection((POOL_ADDR, pport)),
                 socket.create_connection((PLAIN_ADDR, lport))]
        socks += [pool.accept()[0], plain.accept()[0]]
        self.addCleanup(lambda: [s.close() for s in socks])

        host = os.stat("/proc/self/ns/net").st_ino

        def conns():  # ours: another test's may use the same ports in its namespace
            got = {a: name for a, p, name, ns in self.net_events(server)
                   if (a, p) in ((POOL_ADDR, pport), (PLAIN_ADDR, lport)) and ns == host}
            return got if len(got) == 2 else None
        got = harness.wait_until(conns, 30, what="both connections stored")
        self.assertEqual(got, {POOL_ADDR: POOL, PLAIN_ADDR: ""})

        def alert():
            rows = harness.db_query(server.db, "SELECT output FROM alerts WHERE rule = ?",
                                    ("Crypto mining pool connection",))
            return rows or None
        rows = harness.wait_until(alert, 30, what="the mining-pool alert")
        self.assertIn(f"{POOL}:{pport}", rows[0][0])
        self.assertFalse(agent.proc.find(r"cannot watch DNS answers"), agent.proc.tail())
        self.stop_server(server)

    def test_name_in_another_network_namespace(self):
        server, agent = self.start()
        stop = self.path("stop")
        helper = self.spawn("netns", ["unshare", "--net", "--", sys.executable,
                                      os.path.join(harness.HERE, "netns_resolver.py"), stop])
        m, _ = helper.wait_for(r"netns listening [\d.]+:(\d+)", timeout=30)
        port = int(m.group(1))
        netns = os.stat(f"/proc/{helper.pid}/ns/net").st_ino
        self.assertNotEqual(netns, os.stat("/proc/self/ns/net").st_ino)

        # the agent sees the whole host: another test's connection to the
        # same address and port in another namespace may be stored too, so
        # the connection is told by its namespace (a wrong one never matches)
        def named():
            return [e for e in self.net_events(server)
                    if e == (POOL_ADDR, port, POOL, netns)] or None
        harness.wait_until(named, 30, what="a connection in the namespace with its name")
        open(stop, "w").close()
        self.assertEqual(helper.wait(30), 0, helper.tail())
        self.assertFalse(agent.proc.find(r"cannot watch DNS answers"), agent.proc.tail())
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
