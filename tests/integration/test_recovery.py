#!/usr/bin/env python3
"""A server whose database lost acked events (restored from an older copy)
does not lock its agents out: the first batch after Welcome may start past
the server's committed seq, the server logs the lost range, and everything
the agent still holds is stored exactly once."""
import harness


class RecoveryTest(harness.BulwarkTest):
    def test_restored_database(self):
        certs = self.certs("rec-a")
        server = self.start_server(certs)
        agent = self.start_agent(certs, server, "rec-a", synthetic_rate=0, synthetic_count=5000,
                                 exit_when_drained="true")
        self.wait_drained(agent)
        self.stop_server(server)

        # The "restored" server has none of it; the agent trimmed 1..5000.
        fresh = self.start_server(certs, port=server.port, db=self.path("restored.db"))
        agent = self.start_agent(certs, fresh, "rec-a", spool=agent.spool, synthetic_rate=0,
                                 synthetic_count=8000, exit_when_drained="true",
                                 name="agent-rec-a-2")
        self.wait_drained(agent)
        fresh.proc.wait_for(r"events 1\.\.5000 of epoch \d+ were acked once but are not in "
                            r"this database", 5)
        self.stop_server(fresh)
        rows = harness.db_query(fresh.db, "SELECT count(*), count(DISTINCT seq), min(seq), "
                                          "max(seq) FROM events")
        self.assertEqual(rows[0], (3000, 3000, 5001, 8000))


if __name__ == "__main__":
    harness.main()
