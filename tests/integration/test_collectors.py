#!/usr/bin/env python3
"""Collectors on the real machine (agent issue, acceptance 2): the agent,
watching the real /proc, reports a process this test starts (pid and command
line match) and a TCP connection this test opens to a loopback listener (port
matches), and bulwarkd stores both."""
import subprocess

import harness

KIND_EXEC = 10


fields = harness.pb_fields


class CollectorsTest(harness.BulwarkTest):
    def test_process_and_connection_reach_the_store(self):
        certs = self.certs("host-agent")
        server = self.start_server(certs)
        # The procfs collectors (connector, /proc/net): the eBPF sensor has
        # its own test (test_sensor_ebpf.py).
        agent = self.start_agent(certs, server, "host-agent", source="host", sensor="procfs",
                                 collect_file="false",
                                 collect_config="false", scan_interval_ms=200,
                                 resource_interval_ms=1000)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        agent.proc.wait_for(r"collectors running", timeout=30)
        agent.proc.wait_for(r"sensor procfs \(asked for", timeout=5)

        # A process with a command line nobody else has.
        marker = "31.41592653"
        child = subprocess.Popen(["sleep", marker])
        self.addCleanup(child.kill)
        # A connection to a loopback listener on a port chosen now.
        port = self.loopback_connection()

        def find_exec():
            for (body,) in harness.db_query(server.db,
                                            "SELECT body FROM events WHERE kind = ?",
                                            (KIND_EXEC,)):
                proc = fields(body).get(5)
                if not proc:
                    continue
                p = fields(proc[0])
                if p.get(1, [0])[0] == child.pid:
                    return p
            return None

        p = harness.wait_until(find_exec, 60, interval=0.2, what="the exec event in the store")
        self.assertEqual(p[7][0].decode(), f"sleep {marker}")
        ev = harness.wait_until(lambda: harness.stored_connection(server.db, "127.0.0.1", port), 60,
                                interval=0.2, what="the connection in the store")
        proc = fields(ev[5][0]) if 5 in ev else {}
        self.assertEqual(proc.get(1, [0])[0], __import__("os").getpid(),
                         "the connection is attributed to this test's process")
        me = __import__("pwd").getpwuid(__import__("os").getuid()).pw_name
        self.assertEqual(proc.get(10, [b""])[0].decode(), me, "user.name of the connection")

        self.stop_server(server)
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(30), 0)
        self.assert_clean(agent.proc)


if __name__ == "__main__":
    harness.main()
