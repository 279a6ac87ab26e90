#!/usr/bin/env python3
"""Acceptance 5: SIGTERM under load: bulwarkd exits 0 within 5 s, and every
event an agent holds as acked (spool-stats, read after the server exited) is
in the database, per agent contiguous from 1 and without duplicates."""
import signal

import harness

AGENTS = ["term-a", "term-b", "term-c", "term-d"]
EVENTS = 200000   # far more than can ship before the SIGTERM


class SigtermTest(harness.BulwarkTest):
    def test_sigterm_under_load(self):
        certs = self.certs(*AGENTS)
        server = self.start_server(certs)
        agents = [self.start_agent(certs, server, aid, synthetic_rate=0,
                                   synthetic_count=EVENTS, exit_when_drained="true")
                  for aid in AGENTS]
        for a in agents:
            a.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        self.wait_rows(server.db, 20000)
        took = self.stop_server(server, timeout=5.0)
        for a in agents:
            self.assertTrue(a.proc.running(), f"{a.agent_id} drained before the SIGTERM")

        for a in agents:
            a.proc.signal(signal.SIGTERM)
        for a in agents:
            rc = a.proc.wait(30)
            self.assertEqual(rc, 0, f"{a.agent_id} exit status {rc} on SIGTERM")
            self.assert_clean(a.proc)

        counts = harness.db_agent_counts(server.db)
        acked_total = 0
        for a in agents:
            st = harness.spool_stats(a.spool)
            acked = st["acked_seq"]
            acked_total += acked
            rows, distinct, lo, hi = counts.get(a.agent_id, (0, 0, None, None))
            self.assertEqual(rows, distinct, f"{a.agent_id}: duplicate rows")
            self.assertGreaterEqual(rows, acked, f"{a.agent_id}: acked {acked} but only "
                                    f"{rows} rows stored")
            if rows:
                self.assertEqual((lo, hi), (1, rows), f"{a.agent_id}: seq not contiguous")
            self.assertLessEqual(rows, st["last_seq"], f"{a.agent_id}: rows beyond last_seq")
        self.assertGreater(acked_total, 0, "nothing was acked")
        print(f"sigterm: exit took {took:.2f} s, {acked_total} events acked, "
              f"{harness.db_total(server.db)} stored")


if __name__ == "__main__":
    harness.main()
