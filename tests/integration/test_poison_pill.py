#!/usr/bin/env python3
"""Item 3 of issue 9: a poison pill does not block an agent. One event the
server refuses in the middle of a replay file, or rows of the spool that are
no longer events, are set aside in the spool's quarantine (kept, counted,
reported) and everything else is stored exactly once; the reason is logged
by the agent, and by the server at most once. The quarantined event's seq
carries a stand-in (an external alert from bulwark-agent naming it), so the
stream's seqs stay contiguous."""
import json
import os
import sqlite3
import subprocess

import harness

LINES = 400
BAD_LINE = 200          # 1-based line (and seq) of the oversize event


class PoisonPillTest(harness.BulwarkTest):
    def make_file(self, n, seed=7):
        path = self.path("events.ndjson")
        r = subprocess.run([harness.BULWARK_AGENT, "--source=synthetic", "--output=stdout",
                            f"--synthetic_count={n}", f"--synthetic_seed={seed}",
                            "--synthetic_rate=0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=harness.child_env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), n)
        return path, lines

    def write(self, path, lines):
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def standins(self, db, aid):
        return [r[0] for r in harness.db_query(
            db, "SELECT e.seq FROM events e JOIN agents a ON a.id = e.agent "
                "WHERE a.agent_id = ? AND CAST(e.body AS TEXT) LIKE '%Quarantined event%' "
                "ORDER BY e.seq", (aid,))]

    def quarantine_rows(self, spool):
        con = sqlite3.connect(spool)
        try:
            return con.execute("SELECT seq, reason, length(data) FROM quarantine "
                               "ORDER BY seq").fetchall()
        finally:
            con.close()

    def test_oversize_event_in_replay_is_quarantined(self):
        aid = "poison-1"
        certs = self.certs(aid)
        path, lines = self.make_file(LINES)
        ev = json.loads(lines[BAD_LINE - 1])
        ev.setdefault("container", {})["id"] = "c" * 200   # the server takes 128
        lines[BAD_LINE - 1] = json.dumps(ev)
        self.write(path, lines)
        server = self.start_server(certs)
        agent = self.start_agent(certs, server, aid, source="replay", replay_file=path,
                                 exit_when_drained="true")
        self.wait_drained(agent, events=LINES, timeout=120)
        # every line stored once, by its seq; the bad one's seq holds the stand-in
        self.assert_exact(server.db, {aid: LINES})
        self.assertEqual(self.standins(server.db, aid), [BAD_LINE])
        q = self.quarantine_rows(agent.spool)
        self.assertEqual([r[0] for r in q], [BAD_LINE], q)
        self.assertIn("container.id", q[0][1])
        self.assertGreater(q[0][2], 200, "the event's bytes are not kept")
        self.assertEqual(harness.spool_stats(agent.spool)["quarantined"], 1)
        # the reason, naming the field, in the agent's log
        agent.proc.wait_for(rf"quarantined event seq {BAD_LINE} \([^)]*\): event seq {BAD_LINE}: "
                            r"field 'container\.id' is 200 bytes \(limit 128\)", timeout=5)
        # the server refused it at most once (the agent's own check may stop it first)
        self.assertLessEqual(len(server.proc.find(r"refused: event seq")), 1,
                             server.proc.tail())
        self.stop_server(server)

    def test_event_the_server_refuses_is_quarantined(self):
        """An event only the server's checks refuse (a CPU figure out of
        range): the Error frame names its seq, the agent sets it aside."""
        aid = "poison-3"
        certs = self.certs(aid)
        path, lines = self.make_file(LINES)
        at = next(i for i, l in enumerate(lines) if '"kind":"resource"' in l and i > 100)
        ev = json.loads(lines[at])
        ev["resource"]["cpu_cores"] = 5e6
        lines[at] = json.dumps(ev)
        self.write(path, lines)
        seq = at + 1
        server = self.start_server(certs)
        agent = self.start_agent(certs, server, aid, source="replay", replay_file=path,
                                 exit_when_drained="true")
        self.wait_drained(agent, events=LINES, timeout=120)
        self.assert_exact(server.db, {aid: LINES})
        self.assertEqual(self.standins(server.db, aid), [seq])
        self.assertEqual([r[0] for r in self.quarantine_rows(agent.spool)], [seq])
        reason = rf"event seq {seq}: field 'resource\.cpu_cores' is not in 0\.\.1000000"
        agent.proc.wait_for(rf"quarantined event seq {seq} \(refused by the server\): {reason}",
                            timeout=5)
        self.assertEqual(len(server.proc.find(r"refused: " + reason)), 1, server.proc.tail())
        self.stop_server(server)

    def test_corrupt_spool_rows_are_quarantined(self):
        aid = "poison-2"
        certs = self.certs(aid)
        path, lines = self.make_file(LINES)
        self.write(path, lines)
        spool = self.path("spool.db")
        # spool the file with no server to take it, then stop the agent
        agent = self.start_agent(certs, "127.0.0.1:1", aid, spool=spool, source="replay",
                                 replay_file=path, name="agent-offline")
        agent.proc.wait_for(r"info agent: bulwark-agent .* \(epoch \d+", timeout=60)  # spool made
        harness.wait_until(lambda: os.path.exists(spool) and
                           harness.spool_stats(spool)["last_seq"] == LINES, 60,
                           what="the file spooled")
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(60), 0, agent.proc.tail())
        bad = [50, 51, 300]
        con = sqlite3.connect(spool)
        con.execute("UPDATE events SET data = randomblob(40) WHERE seq IN (50, 51)")
        con.execute("UPDATE events SET data = 'not an event at all' WHERE seq = 300")
        con.commit()
        con.close()
        server = self.start_server(certs)
        agent = self.start_agent(certs, server, aid, spool=spool, source="replay",
                                 replay_file=path, exit_when_drained="true")
        self.wait_drained(agent, timeout=120)
        self.assert_exact(server.db, {aid: LINES})
        self.assertEqual(self.standins(server.db, aid), bad)
        self.assertEqual([r[0] for r in self.quarantine_rows(spool)], bad)
        self.assertEqual(harness.spool_stats(spool)["quarantined"], 3)
        for seq in bad:
            agent.proc.wait_for(rf"quarantined event seq {seq} \(", timeout=5)
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
