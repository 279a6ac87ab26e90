#!/usr/bin/env python3
"""Item 4 of issue 9: a cloned host loses nothing. Two agents with the same
certificate and a copy of one spool (same epoch), as made from one VM image,
run at once: the copy finds itself on another machine (--machine-id, the
option tests use to be two machines on one host) and in another file, starts
a new epoch, and every event of both is stored exactly once; the server,
seeing two live streams of one agent id with different epochs, raises the
"Duplicate agent identity" alert (source "server") once, merged."""
import os
import shutil
import sqlite3

import harness

FIRST = 2000     # events before the image is cloned
TOTAL = 6000     # events each spool holds in the end (synthetic_count)


class ClonedHostTest(harness.BulwarkTest):
    def per_epoch(self, db, aid):
        return {r[0]: tuple(r[1:]) for r in harness.db_query(
            db, "SELECT e.epoch, count(*), count(DISTINCT e.seq), min(e.seq), max(e.seq) "
                "FROM events e JOIN agents a ON a.id = e.agent WHERE a.agent_id = ? "
                "GROUP BY e.epoch", (aid,))}

    def test_clone_gets_a_new_epoch_and_nothing_is_lost(self):
        aid = "clone-1"
        certs = self.certs(aid)
        server = self.start_server(certs)
        spool_a = self.path("a", "spool.db")
        spool_b = self.path("b", "spool.db")
        os.makedirs(os.path.dirname(spool_a))
        os.makedirs(os.path.dirname(spool_b))
        opts = dict(synthetic_rate=0, exit_when_drained="true", reconnect_min_ms=20,
                    reconnect_max_ms=200)
        a = self.start_agent(certs, server, aid, spool=spool_a, machine_id="machine-a",
                             synthetic_count=FIRST, synthetic_seed=1, name="agent-a", **opts)
        self.wait_drained(a, events=FIRST, timeout=120)
        epoch = harness.spool_stats(spool_a)["epoch"]
        # the image is cloned: the spool (and its WAL, if any) as it is
        for suffix in ("", "-wal"):
            if os.path.exists(spool_a + suffix):
                shutil.copy(spool_a + suffix, spool_b + suffix)
        # the original stays connected after it has sent everything, so the
        # two streams are surely live at once when the clone connects (the
        # alert's condition), however the scheduler orders the two agents
        a = self.start_agent(certs, server, aid, spool=spool_a, machine_id="machine-a",
                             synthetic_count=TOTAL, synthetic_seed=2, name="agent-a-again",
                             **dict(opts, exit_when_drained="false"))
        server.proc.wait_for(r"clone-1: streaming \(epoch %d, committed %d\)" % (epoch, FIRST),
                             timeout=60)
        b = self.start_agent(certs, server, aid, spool=spool_b, machine_id="machine-b",
                             synthetic_count=TOTAL, synthetic_seed=3, name="agent-b", **opts)
        m, _ = b.proc.wait_for(r"made on machine 'machine-a', this is 'machine-b' \(a cloned "
                               r"host\?\); new epoch (\d+)", timeout=30)
        epoch_b = int(m.group(1))
        self.assertNotEqual(epoch_b, epoch)
        self.assertFalse(a.proc.find(r"new epoch"), "the original spool changed its epoch")
        self.wait_drained(b, timeout=300)
        harness.wait_until(lambda: self.per_epoch(server.db, aid).get(epoch, (0,))[0] >= TOTAL,
                           300, what="the original's events")
        a.proc.terminate()
        self.assertEqual(a.proc.wait(30), 0, a.proc.tail())
        self.assert_clean(a.proc)
        self.assertEqual(harness.spool_stats(spool_b)["epoch"], epoch_b)
        # every event of both, exactly once: the original's 1..TOTAL in its
        # epoch, the clone's 1..TOTAL in its new one
        self.assertEqual(self.per_epoch(server.db, aid),
                         {epoch: (TOTAL, TOTAL, 1, TOTAL), epoch_b: (TOTAL, TOTAL, 1, TOTAL)})
        alerts = harness.db_query(server.db, "SELECT source, agent_id, output, count FROM alerts "
                                  "WHERE rule = 'Duplicate agent identity'")
        self.assertEqual(len(alerts), 1, alerts)
        source, agent, output, count = alerts[0]
        self.assertEqual((source, agent), ("server", aid))
        self.assertIn("two live streams", output)
        self.assertGreaterEqual(count, 1)
        self.stop_server(server)

    def test_clone_the_checks_miss_moves_to_a_new_epoch(self):
        """A clone that looks unmoved (same machine id, its meta rewritten to
        its own device and inode, as a block copy of a disk would be): the
        server has more of the epoch than this spool made, so the spool goes
        on in a new epoch instead of being refused forever or overwriting."""
        aid = "clone-3"
        certs = self.certs(aid)
        server = self.start_server(certs)
        spool_a, spool_b = self.path("a.db"), self.path("b.db")
        opts = dict(synthetic_rate=0, exit_when_drained="true", machine_id="same")
        a = self.start_agent(certs, server, aid, spool=spool_a, synthetic_count=FIRST,
                             name="agent-a", **opts)
        self.wait_drained(a, events=FIRST, timeout=120)
        epoch = harness.spool_stats(spool_a)["epoch"]
        for suffix in ("", "-wal"):
            if os.path.exists(spool_a + suffix):
                shutil.copy(spool_a + suffix, spool_b + suffix)
        st = os.stat(spool_b)
        con = sqlite3.connect(spool_b)
        con.execute("UPDATE meta SET file_dev = ?, file_ino = ?", (st.st_dev, st.st_ino))
        con.commit()
        con.close()
        a = self.start_agent(certs, server, aid, spool=spool_a, synthetic_count=TOTAL,
                             name="agent-a-again", **opts)
        self.wait_drained(a, events=TOTAL, timeout=300)
        # the clone makes fewer than the server already has of the epoch
        more = FIRST + 300
        opts.update(synthetic_rate=200)
        b = self.start_agent(certs, server, aid, spool=spool_b, synthetic_count=more,
                             name="agent-b", **opts)
        b.proc.wait_for(r"server has 6000 events of this epoch but this spool made only \d+ "
                        r"\(another agent with the same identity and epoch\?\); new epoch",
                        timeout=60)
        self.wait_drained(b, timeout=120)
        epoch_b = harness.spool_stats(spool_b)["epoch"]
        self.assertNotEqual(epoch_b, epoch)
        self.assertEqual(harness.spool_stats(spool_b)["last_seq"], more)
        self.assertEqual(self.per_epoch(server.db, aid),
                         {epoch: (TOTAL, TOTAL, 1, TOTAL), epoch_b: (more, more, 1, more)})
        self.stop_server(server)

    def test_moved_spool_file_starts_a_new_epoch(self):
        """The same machine, the spool file copied elsewhere (device/inode
        changed): a new epoch, its unacked events renumbered and all stored."""
        aid = "clone-2"
        certs = self.certs(aid)
        spool = self.path("spool.db")
        a = self.start_agent(certs, "127.0.0.1:1", aid, spool=spool, machine_id="m",
                             synthetic_count=500, synthetic_rate=0, name="agent-offline")
        a.proc.wait_for(r"info agent: bulwark-agent .* \(epoch \d+", timeout=60)  # spool made
        harness.wait_until(lambda: os.path.exists(spool) and
                           harness.spool_stats(spool)["last_seq"] == 500, 60,
                           what="500 events spooled")
        a.proc.terminate()
        self.assertEqual(a.proc.wait(60), 0, a.proc.tail())
        epoch = harness.spool_stats(spool)["epoch"]
        moved = self.path("moved.db")
        for suffix in ("", "-wal"):
            if os.path.exists(spool + suffix):
                shutil.copy(spool + suffix, moved + suffix)
        server = self.start_server(certs)
        a = self.start_agent(certs, server, aid, spool=moved, machine_id="m",
                             synthetic_count=500, synthetic_rate=0, exit_when_drained="true")
        a.proc.wait_for(r"\(copied, restored or cloned\?\); new epoch \d+ \(was \d+\), its 500 "
                        r"unacked events renumbered 1\.\.500", timeout=30)
        self.wait_drained(a, events=500, timeout=120)
        got = self.per_epoch(server.db, aid)
        self.assertNotIn(epoch, got)
        self.assertEqual(list(got.values()), [(500, 500, 1, 500)])
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
