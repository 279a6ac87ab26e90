#!/usr/bin/env python3
"""Item 6 of issue 9: a replay stopped (SIGTERM) or killed (kill -9)
mid-file and restarted on the same spool resumes after the last stored
line: the server stores exactly one row per line. The position is kept in
the spool in the transaction that stores the events it produced.
BW_REPLAY_LINES sets the file's size (200,000 by hand; 40,000 in CI)."""
import os
import subprocess

import harness

LINES = int(os.environ.get("BW_REPLAY_LINES", "40000"))
RESUME_RE = r" info replay: \S+: resuming after line (\d+)"


class ReplayResumeTest(harness.BulwarkTest):
    def make_file(self, n):
        path = self.path("events.ndjson")
        with open(path, "wb") as f:
            r = subprocess.run([harness.BULWARK_AGENT, "--source=synthetic", "--output=stdout",
                                f"--synthetic_count={n}", "--synthetic_seed=7",
                                "--synthetic_rate=0"],
                               stdout=f, stderr=subprocess.PIPE, env=harness.child_env(),
                               timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        with open(path, "rb") as f:
            self.assertEqual(sum(1 for _ in f), n)
        return path

    def run_interrupted(self, stop):
        aid = "replay-1"
        certs = self.certs(aid)
        events = self.make_file(LINES)
        server = self.start_server(certs)
        opts = dict(source="replay", replay_file=events, exit_when_drained="true")
        agent = self.start_agent(certs, server, aid, **opts)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)

        def rows():
            c = harness.db_agent_counts(server.db).get(aid)
            return c[0] if c and c[0] >= LINES // 10 else 0
        harness.wait_until(rows, 120, what="a tenth of the file stored")
        stop(agent.proc)
        st = harness.spool_stats(agent.spool)
        self.assertGreater(st["last_seq"], 0)
        agent2 = self.start_agent(certs, server, aid, name="agent-replay-1-again", **opts)
        m, _ = agent2.proc.wait_for(RESUME_RE, timeout=60)
        self.assertEqual(int(m.group(1)), st["last_seq"],
                         "resumed elsewhere than after the last spooled line")
        self.wait_drained(agent2, timeout=300)
        self.assert_exact(server.db, {aid: LINES})
        return st["last_seq"]

    def test_kill9_mid_replay_resumes_exactly(self):
        def kill(p):
            self.assertEqual(p.kill9(), -9)
        at = self.run_interrupted(kill)
        print(f"killed after {at} of {LINES} lines were spooled")

    def test_sigterm_mid_replay_resumes_exactly(self):
        def term(p):
            p.terminate()
            self.assertEqual(p.wait(60), 0)
        self.run_interrupted(term)


if __name__ == "__main__":
    harness.main()
