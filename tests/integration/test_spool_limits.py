#!/usr/bin/env python3
"""Item 5 of issue 9, the agent's side: events a full spool refuses are
counted (persisted in the spool, shipped in heartbeat health) and logged,
rate-limited; a full disk under the spool is survived like the server
survives one: the agent keeps its queue, pushes back on its sources,
retries, and once the server's acks make room every event is stored once.
The disk test mounts a small tmpfs (root only; skipped otherwise)."""
import os
import re
import subprocess

import harness

DROP_RE = (r" warn agent: spool full \((\d+) events, \d+ bytes waiting for the server\): "
           r"dropped (\d+) events since the last report, (\d+) in all")
DISK_FULL_RE = r" error agent: spool append failed: the spool's disk is full"


class SpoolLimitsTest(harness.BulwarkTest):
    def test_full_spool_drops_are_counted_and_logged(self):
        certs = self.certs("full-1")
        port = harness.free_port()  # no server yet: nothing is acked
        agent = self.start_agent(certs, f"127.0.0.1:{port}", "full-1", spool_max_events=1000,
                                 synthetic_count=20000, synthetic_rate=0,
                                 exit_when_drained="true")
        m, _ = agent.proc.wait_for(DROP_RE, timeout=60)
        self.assertEqual(int(m.group(1)), 1000)
        self.assertGreater(int(m.group(2)), 0)
        server = self.start_server(certs, port=port)
        self.wait_drained(agent, events=1000, timeout=120)
        st = harness.spool_stats(agent.spool)
        self.assertEqual(st["last_seq"], 1000)
        self.assertEqual(st["dropped"], 19000)
        lines = agent.proc.find(DROP_RE)
        self.assertLessEqual(len(lines), 3, "the drop warning is not rate-limited")
        self.assert_exact(server.db, {"full-1": 1000})

    def small_disk(self):
        """A 16 MiB tmpfs for the spool, unmounted at the end."""
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        disk = self.path("spooldisk")
        os.mkdir(disk)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: " + r.stdout.decode(errors="replace"))
        self.addCleanup(subprocess.run, ["umount", "-l", disk])
        return disk

    def test_disk_filled_by_the_spool_recovers_once_acked(self):
        disk = self.small_disk()
        events = 60000  # more than the disk holds
        certs = self.certs("disk-2")
        port = harness.free_port()  # no server yet: the spool only grows
        agent = self.start_agent(certs, f"127.0.0.1:{port}", "disk-2",
                                 spool=os.path.join(disk, "spool.db"), synthetic_count=events,
                                 synthetic_rate=0, exit_when_drained="true")
        agent.proc.wait_for(DISK_FULL_RE, timeout=120)
        self.assertTrue(agent.proc.running(), "the agent exited on a full disk")
        server = self.start_server(certs, port=port)  # its acks make room in the spool
        agent.proc.wait_for(r" info agent: spool append works again", timeout=120)
        self.wait_drained(agent, events=events, timeout=300)
        self.assert_exact(server.db, {"disk-2": events})
        self.assertFalse(agent.proc.find(r"spool full"), "events were dropped")

    def test_full_disk_is_survived_and_loses_nothing(self):
        disk = self.small_disk()
        events = 20000  # ~10 s at 2,000 events/s
        certs = self.certs("disk-1")
        port = harness.free_port()  # no server yet: the spool only grows
        spool = os.path.join(disk, "spool.db")
        agent = self.start_agent(certs, f"127.0.0.1:{port}", "disk-1", spool=spool,
                                 synthetic_count=events, synthetic_rate=2000,
                                 exit_when_drained="true")
        harness.wait_until(lambda: os.path.exists(spool + "-wal") and
                           os.path.getsize(spool + "-wal") > 0, 60, what="a spool being written")
        ballast = os.path.join(disk, "ballast")
        with open(ballast, "wb") as f:  # another writer fills the disk
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        agent.proc.wait_for(DISK_FULL_RE, timeout=120)
        self.assertTrue(agent.proc.running(), "the agent exited on a full disk")
        server = self.start_server(certs, port=port)
        os.unlink(ballast)  # the operator makes room
        agent.proc.wait_for(r" info agent: spool append works again", timeout=120)
        self.wait_drained(agent, events=events, timeout=300)
        self.assert_exact(server.db, {"disk-1": events})
        self.assertFalse(agent.proc.find(r"spool full"), "events were dropped")


if __name__ == "__main__":
    harness.main()
