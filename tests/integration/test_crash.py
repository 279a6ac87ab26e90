#!/usr/bin/env python3
"""Acceptance 2: kill -9 of bulwarkd mid-stream and a restart on the same
port and database, and kill -9 of an agent mid-stream and a restart on the
same spool, both still store every event exactly once, contiguous."""
import harness

EVENTS = 20000
RATE = 4000   # events/s per agent: a stream of ~5 s, so the kill lands mid-stream


class CrashTest(harness.BulwarkTest):
    def test_server_kill9_and_restart(self):
        ids = ["crash-s1", "crash-s2", "crash-s3"]
        certs = self.certs(*ids)
        server = self.start_server(certs)
        agents = [self.start_agent(certs, server, aid, synthetic_rate=RATE,
                                   synthetic_count=EVENTS, exit_when_drained="true")
                  for aid in ids]
        for a in agents:
            a.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        marks = [a.proc.count() for a in agents]
        landed = self.wait_rows(server.db, len(ids) * EVENTS // 10)
        rc = server.proc.kill9()
        self.assertEqual(rc, -9)
        before = harness.db_total(server.db)
        self.assertGreaterEqual(before, landed)
        self.assertLess(before, len(ids) * EVENTS, "the kill came after the stream ended")
        for a in agents:
            self.assertTrue(a.proc.running(), f"{a.agent_id} exited with the server gone")

        server2 = self.start_server(certs, port=server.port, db=server.db)
        for a, mark in zip(agents, marks):
            # Each agent reconnects and learns where the store stands.
            m, _ = a.proc.wait_for(harness.CONNECTED_RE, timeout=60, start=mark)
            self.assertLessEqual(int(m.group(1)), EVENTS)
        for a in agents:
            self.wait_drained(a, timeout=180)
        self.assert_exact(server2.db, {aid: EVENTS for aid in ids})
        self.stop_server(server2)
        self.assert_exact(server2.db, {aid: EVENTS for aid in ids})

    def test_agent_kill9_and_restart_same_spool(self):
        ids = ["crash-a1", "crash-a2"]
        certs = self.certs(*ids)
        server = self.start_server(certs)
        victim = self.start_agent(certs, server, ids[0], synthetic_rate=RATE,
                                  synthetic_count=EVENTS, exit_when_drained="true")
        # A bystander streams concurrently and must be unaffected.
        other = self.start_agent(certs, server, ids[1], synthetic_rate=RATE,
                                 synthetic_count=EVENTS, exit_when_drained="true")
        victim.proc.wait_for(harness.CONNECTED_RE, timeout=60)

        def victim_rows():
            c = harness.db_agent_counts(server.db).get(ids[0])
            return c[0] if c and c[0] >= EVENTS // 10 else 0
        harness.wait_until(victim_rows, 120, what="victim rows")
        self.assertEqual(victim.proc.kill9(), -9)
        st = harness.spool_stats(victim.spool)
        self.assertLess(st["last_seq"], EVENTS, "the kill came after the source finished")
        self.assertGreater(st["last_seq"], 0)

        again = self.start_agent(certs, server, ids[0], spool=victim.spool,
                                 synthetic_rate=RATE, synthetic_count=EVENTS,
                                 exit_when_drained="true")
        m, _ = again.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        self.assertGreater(int(m.group(1)), 0, "restarted agent: server had nothing committed")
        self.wait_drained(again, timeout=180)
        self.wait_drained(other, events=EVENTS, timeout=180)
        st = harness.spool_stats(victim.spool)
        self.assertEqual((st["last_seq"], st["acked_seq"], st["depth"]), (EVENTS, EVENTS, 0),
                         f"spool-stats {st}")
        self.assert_exact(server.db, {aid: EVENTS for aid in ids})
        self.stop_server(server)
        self.assert_exact(server.db, {aid: EVENTS for aid in ids})


if __name__ == "__main__":
    harness.main()
