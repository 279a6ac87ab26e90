#!/usr/bin/env python3
"""Issue 9 item 8: a corrupted page among old events went unnoticed at start.
bulwarkd now checks its database file at start (PRAGMA quick_check on a pool
thread with a read-only connection of its own) without delaying ingest, and
reports the outcome: a log line, /readyz's "integrity", /metrics and an alert
with source "server". Here a real database gets a page of its oldest events
overwritten; the restarted server reports it while it goes on storing a new
agent's events."""
import apiclient
import harness

OLD = "integrity-old"
NEW = "integrity-new"
OLD_EVENTS = 20000
NEW_EVENTS = 3000
CORRUPT_RE = (r" error integrity: check of '[^']+' found (\d+) problem\(s\), "
              r"the first: (.+?); the damaged")


def oldest_leaf(db):
    """The page number of the events table's leftmost leaf: its oldest rows."""
    rows = harness.db_query(db, "SELECT pageno FROM dbstat WHERE name = 'events' "
                                "AND pagetype = 'leaf' ORDER BY path LIMIT 1")
    return rows[0][0]


def corrupt_page(db, pageno):
    """Overwrites the page's header and cell pointers (as a torn or bit-rotted
    sector would), leaving the file's other pages as they were."""
    page_size = harness.db_query(db, "PRAGMA page_size")[0][0]
    with open(db, "r+b") as f:
        f.seek((pageno - 1) * page_size)
        f.write(b"\xa5" * 96)


class StoreIntegrityTest(harness.BulwarkTest):
    def readyz(self, api_port):
        r = apiclient.call(api_port, "GET", "/readyz")
        self.assertEqual(r.status, 200, r.body)
        return r.json()["integrity"]

    def test_corrupt_old_page_reported_while_ingesting(self):
        certs = self.certs(OLD, NEW)
        server, api_port = apiclient.start_api_server(self, certs)
        old = self.start_agent(certs, server, OLD, synthetic_rate=0, synthetic_count=OLD_EVENTS,
                               exit_when_drained="true")
        self.wait_drained(old, events=OLD_EVENTS)
        self.stop_server(server)
        # The intact file passes: the check tells the two apart.
        server, api_port = apiclient.start_api_server(self, certs, db=server.db)
        server.proc.wait_for(r" info integrity: check of '[^']+' ok", timeout=60)
        harness.wait_until(lambda: self.readyz(api_port)["state"] == "ok", 30,
                           what="readyz integrity ok")
        self.stop_server(server)
        last_old = harness.db_query(server.db, "SELECT max(id) FROM events")[0][0]
        self.assertEqual(last_old, OLD_EVENTS)

        harness.db_query(server.db, "PRAGMA wal_checkpoint(TRUNCATE)")
        page = oldest_leaf(server.db)
        corrupt_page(server.db, page)

        server, api_port = apiclient.start_api_server(self, certs, db=server.db)
        new = self.start_agent(certs, server, NEW, synthetic_rate=0, synthetic_count=NEW_EVENTS,
                               exit_when_drained="true")
        m, _ = server.proc.wait_for(CORRUPT_RE, timeout=60)
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertRegex(m.group(2), r"(?i)page|malformed")
        self.wait_drained(new, events=NEW_EVENTS)

        state = self.readyz(api_port)
        self.assertEqual(state["state"], "corrupt", state)
        self.assertGreaterEqual(state["problems"], 1)
        self.assertTrue(state["first_problem"])
        token = apiclient.make_token(server.db, "viewer", "integrity-test")
        metrics = apiclient.call(api_port, "GET", "/metrics", token=token).body.decode()
        self.assertRegex(metrics, r"(?m)^bulwark_store_integrity_ok 0$")
        self.assertRegex(metrics, r"(?m)^bulwark_store_integrity_problems [1-9]")
        alerts = harness.wait_until(
            lambda: harness.db_query(server.db, "SELECT source, rule, priority, output FROM "
                                                "alerts WHERE source = 'server'"), 30,
            what="the server's integrity alert")
        self.assertEqual([(a[0], a[1]) for a in alerts],
                         [("server", "Store integrity check failed")])
        self.assertIn(server.db, alerts[0][3])
        self.stop_server(server)

        # The new agent's events were all stored after the damaged page was
        # found (read by rowid above the old ones: the damaged page unread).
        rows = harness.db_query(server.db, "SELECT count(*), count(DISTINCT e.seq), min(e.seq), "
                                           "max(e.seq) FROM events e JOIN agents a ON "
                                           "a.id = e.agent WHERE e.id > ? AND a.agent_id = ?",
                                (last_old, NEW))
        self.assertEqual(rows[0], (NEW_EVENTS, NEW_EVENTS, 1, NEW_EVENTS))
        self.assertFalse(server.proc.find(r"check of '[^']+' ok"))

    def test_check_can_be_turned_off(self):
        certs = self.certs(NEW)
        server, api_port = apiclient.start_api_server(self, certs, integrity_check="false")
        server.proc.wait_for(r" info integrity: check of '[^']+' skipped", timeout=30)
        self.assertEqual(self.readyz(api_port)["state"], "skipped")
        self.assertFalse(server.proc.find(r"check of '[^']+' started"))
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
