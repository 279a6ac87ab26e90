#!/usr/bin/env python3
"""Item 9 of issue 9: real Falco output, taken from Falco's own repositories
(tests/fixtures/falco/upstream.jsonl, several Falco versions, many lines
without `source` or `hostname`) and damaged text (bad-utf8.jsonl), through
the real agent: printed with --output stdout --once, stored by a live
bulwarkd, read from a FIFO, and from a watched file across a kill -9 of the
agent while Falco keeps writing (the position is kept in the spool)."""
import json
import os
import subprocess
import threading

import harness

FIXTURES = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "falco")
UPSTREAM = os.path.join(FIXTURES, "upstream.jsonl")
BAD_UTF8 = os.path.join(FIXTURES, "bad-utf8.jsonl")
OFF = {"collect_proc": "false", "collect_net": "false", "collect_file": "false",
       "collect_resource": "false", "collect_config": "false"}
RUNNING_RE = r" info agent: 1 collectors running"


def fixture_lines(path):
    with open(path, "rb") as f:
        return [ln for ln in f.read().split(b"\n") if ln.strip()]


def external_rows(db):
    return harness.db_query(db, "SELECT count(*) FROM events WHERE kind = 16")[0][0]


def print_once(path):
    """bulwark-agent --output stdout --once on a Falco file: (events, stderr)."""
    argv = [harness.BULWARK_AGENT, "--output=stdout", "--once", f"--falco_file={path}"]
    argv += [f"--{k}={v}" for k, v in OFF.items()]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=harness.child_env(), timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"exit status {r.returncode}\n" + r.stderr.decode(errors="replace"))
    return [json.loads(ln) for ln in r.stdout.decode().splitlines()], r.stderr


class FalcoTest(harness.BulwarkTest):
    def agent_opts(self, path, **extra):
        opts = dict(OFF, source="host", falco_file=path)
        opts.update(extra)
        return opts

    def test_upstream_lines_print_once(self):
        lines = fixture_lines(UPSTREAM)
        alerts = [json.loads(ln) for ln in lines]
        self.assertGreater(sum(1 for a in alerts if "source" not in a or "hostname" not in a), 10)
        out, err = print_once(UPSTREAM)
        self.assertEqual(len(out), len(lines), err.decode(errors="replace"))
        for alert, ev in zip(alerts, out):
            x = ev["external"]
            self.assertEqual(x["rule"], alert["rule"])
            self.assertEqual(x["priority"], alert["priority"])
            fields = x.get("fields", {})
            for key in ("source", "hostname"):
                if key in alert:
                    self.assertEqual(fields.get(f"falco.{key}"), alert[key])
                else:
                    self.assertNotIn(f"falco.{key}", fields, "an absent key became a value")

    def test_damaged_utf8_is_repaired_not_dropped(self):
        out, err = print_once(BAD_UTF8)
        self.assertEqual(len(out), len(fixture_lines(BAD_UTF8)))
        for ev in out:
            cmd = ev["external"]["fields"]["proc.cmdline"]
            self.assertTrue(cmd.startswith("touch /bin/"), cmd)
            self.assertTrue("\ufffd" in cmd or "\x01" in cmd, repr(cmd))
        self.assertIn(b"repaired invalid utf-8", err)

    def test_upstream_lines_stored_by_bulwarkd(self):
        certs = self.certs("falco-1")
        server = self.start_server(certs)
        path = self.path("events.json")
        with open(path, "wb") as f:
            for ln in fixture_lines(UPSTREAM) + fixture_lines(BAD_UTF8):
                f.write(ln + b"\n")
            f.write(b"not json\n{\"no\": \"alert\"}\n")
        agent = self.start_agent(certs, server, "falco-1", **self.agent_opts(path, once="true"))
        self.wait_drained(agent, timeout=120)
        want = len(fixture_lines(UPSTREAM)) + len(fixture_lines(BAD_UTF8))
        self.assertEqual(external_rows(server.db), want)
        self.assert_exact(server.db, {"falco-1": want})
        self.assertTrue(agent.proc.find(r"skipped a line that is not json at byte \d+"))
        self.assertTrue(agent.proc.find(r"skipped a json line that is not a falco alert"))

    def test_watched_file_survives_kill9_and_loses_nothing(self):
        certs = self.certs("falco-2")
        server = self.start_server(certs)
        path = self.path("events.json")
        open(path, "wb").close()
        lines = fixture_lines(UPSTREAM)
        first, rest = lines[:10], lines[10:]
        opts = self.agent_opts(path)
        agent = self.start_agent(certs, server, "falco-2", **opts)
        agent.proc.wait_for(RUNNING_RE, timeout=60)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        with open(path, "ab") as f:
            f.write(b"\n".join(first) + b"\n")
        self.wait_rows(server.db, len(first))
        self.assertEqual(agent.proc.kill9(), -9)
        with open(path, "ab") as f:  # Falco goes on writing while the agent is down
            f.write(b"\n".join(rest) + b"\n")
        agent2 = self.start_agent(certs, server, "falco-2", name="agent-falco-2-again", **opts)
        agent2.proc.wait_for(r"falco: '.*': resuming at byte \d+", timeout=60)
        self.wait_rows(server.db, len(lines))
        with open(path, "ab") as f:  # and after the restart
            f.write(fixture_lines(BAD_UTF8)[0] + b"\n")
        self.wait_rows(server.db, len(lines) + 1)
        agent2.proc.terminate()
        self.assertEqual(agent2.proc.wait(60), 0)
        self.assert_exact(server.db, {"falco-2": len(lines) + 1})

    def test_fifo_with_writers_coming_and_going(self):
        certs = self.certs("falco-3")
        server = self.start_server(certs)
        path = self.path("events.pipe")
        os.mkfifo(path)
        agent = self.start_agent(certs, server, "falco-3", **self.agent_opts(path))
        agent.proc.wait_for(RUNNING_RE, timeout=60)
        total = 0
        for batch in (fixture_lines(UPSTREAM), fixture_lines(BAD_UTF8), [b"garbage"]):
            def write(b=batch):
                with open(path, "wb") as f:  # blocks until the agent has it open
                    f.write(b"\n".join(b) + b"\n")
            t = threading.Thread(target=write)
            t.start()
            t.join(60)
            self.assertFalse(t.is_alive(), "the agent did not open the fifo")
            total += sum(1 for ln in batch if ln != b"garbage")
            self.wait_rows(server.db, total)
        self.assertTrue(agent.proc.running())
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(60), 0)
        self.assert_exact(server.db, {"falco-3": total})


if __name__ == "__main__":
    harness.main()
