#!/usr/bin/env python3
"""Issue 9: an agent whose epoch goes backwards (its spool restored from an
older copy, a rolled-back disk image) raised nothing. Now the server keeps
each agent's epoch at its latest Hello (agents.epoch) and alerts when an
agent comes back with an epoch it used before, after another one: rule
"Agent epoch went backwards", source "server". Moving to a new epoch is not
such a return, and nothing stored is lost either way."""
import os
import shutil

import harness

AID = "epoch-agent"
FIRST, SECOND, THIRD = 2000, 1500, 1000
ALERT_SQL = ("SELECT source, agent_id, output, count FROM alerts "
             "WHERE rule = 'Agent epoch went backwards'")


class EpochBackwardsTest(harness.BulwarkTest):
    def run_agent(self, certs, server, spool, machine, count, name):
        a = self.start_agent(certs, server, AID, spool=spool, machine_id=machine,
                             synthetic_rate=0, synthetic_count=count, synthetic_seed=count,
                             exit_when_drained="true", name=name)
        self.wait_drained(a, events=count)
        return harness.spool_stats(spool)["epoch"]

    def per_epoch(self, db):
        return dict((r[0], tuple(r[1:])) for r in harness.db_query(
            db, "SELECT epoch, count(*), min(seq), max(seq) FROM events GROUP BY epoch"))

    def test_restored_spool_alerts(self):
        certs = self.certs(AID)
        server = self.start_server(certs)
        spool = self.path("spool.db")
        backup = self.path("backup")
        os.makedirs(backup)
        e1 = self.run_agent(certs, server, spool, "machine-a", FIRST, "agent-1")
        for suffix in ("", "-wal"):  # the backup of the agent's disk (after a clean exit)
            if os.path.exists(spool + suffix):
                shutil.copy(spool + suffix, os.path.join(backup, "spool.db" + suffix))

        # The disk moves to another machine: a new epoch, not a return.
        e2 = self.run_agent(certs, server, spool, "machine-b", FIRST + SECOND, "agent-2")
        self.assertNotEqual(e1, e2)
        self.assertEqual(harness.db_query(server.db, ALERT_SQL), [])
        self.assertFalse(server.proc.find(r"went back to epoch"))

        # The first machine's disk image is rolled back to the backup: the
        # same file (inode) with its old content, so the agent cannot tell
        # (a copied-in file would look moved and get a new epoch itself).
        for suffix in ("-wal", "-shm"):
            if os.path.exists(spool + suffix):
                os.unlink(spool + suffix)
        with open(os.path.join(backup, "spool.db"), "rb") as src, open(spool, "r+b") as dst:
            dst.truncate(0)
            dst.write(src.read())
        self.assertFalse(os.path.exists(os.path.join(backup, "spool.db-wal")))
        e3 = self.run_agent(certs, server, spool, "machine-a", FIRST + THIRD, "agent-3")
        self.assertEqual(e3, e1)
        server.proc.wait_for(rf" warn conn: \S+ agent {AID} went back to epoch {e1} "
                             rf"\({FIRST} events stored in it before\) after epoch {e2}",
                             timeout=15)
        alerts = harness.wait_until(lambda: harness.db_query(server.db, ALERT_SQL), 15,
                                    what="the epoch alert")
        self.assertEqual(len(alerts), 1, alerts)
        source, agent, output, count = alerts[0]
        self.assertEqual((source, agent, count), ("server", AID, 1))
        self.assertIn(f"went back to epoch {e1}", output)
        self.stop_server(server)
        # Nothing lost or doubled: e1 holds 1..FIRST+THIRD, e2 its own
        # renumbered events.
        epochs = self.per_epoch(server.db)
        self.assertEqual(epochs[e1], (FIRST + THIRD, 1, FIRST + THIRD))
        self.assertEqual(epochs[e2][0], epochs[e2][2])


if __name__ == "__main__":
    harness.main()
