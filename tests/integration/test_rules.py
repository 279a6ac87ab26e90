#!/usr/bin/env python3
"""Rules end to end (rules issue, acceptance 2 and 3).

- The agent's synthetic `miner` scenario (quiet CPU baseline, a miner with a
  stratum URL, a pool connection, CPU climbing) raises the expected alerts in
  the database, with their evidence; the `benign` scenario raises none.
- Hot reload under load: SIGHUP with a broken rule file is refused (logged
  with file:line), the running rules keep raising alerts, and no event is
  lost; a good file then reloads.
- A normal day of container churn (a restart with its start-up burst, a new
  container of the same image starting busy, a short burst) raises no CPU
  spike, while a miner in another container does.
- Scan x runtime: a vulnerability report of an image raises the
  running-image alert only while a container of that image runs, in both
  orders, and the held finding survives a restart of the server.
- Reload of costly files while an agent streams: macros that double at each
  level (exponential to expand) are refused with file:line while the server
  goes on storing; a condition of 100,000 clauses (it overflowed the stack on
  SIGHUP) reloads; the old rules keep judging throughout."""
import json
import os
import shutil
import signal
import time

import harness

MINER_ALERTS = {"Crypto miner process", "Crypto mining pool connection",
                "New outbound destination for image", "Container CPU spike",
                "Probable cryptojacking"}


class RulesTest(harness.BulwarkTest):
    def rules_dir(self):
        d = self.path("rules")
        shutil.copytree(os.path.join(harness.SOURCE_DIR, "rules"), d)
        return d

    def sighup(self, server, rules, name, text, *patterns):
        """Writes rules/name, sends SIGHUP and waits for each pattern in the
        log lines that follow."""
        with open(os.path.join(rules, name), "w") as f:
            f.write(text)
        mark = server.proc.count()
        server.proc.signal(signal.SIGHUP)
        for p in patterns:
            server.proc.wait_for(p, 60, start=mark)

    def miner_alerts_raised(self, certs, server, agent_id):
        """A miner story from a new agent raises every miner alert."""
        miner = self.start_agent(certs, server, agent_id, synthetic_scenario="miner",
                                 exit_when_drained="true")
        self.wait_drained(miner)
        harness.wait_until(lambda: {r[0] for r in self.alerts(server.db)} >= MINER_ALERTS, 30,
                           what=f"the miner's alerts ({agent_id})")

    def alerts(self, db):
        return harness.db_query(db, "SELECT rule, priority, count, container_id FROM alerts "
                                    "WHERE retrospective = 0")

    def test_miner_and_benign_scenarios(self):
        certs = self.certs("miner-host", "benign-host")
        server = self.start_server(certs, rules=self.rules_dir())
        server.proc.wait_for(r"rules: loaded \d+ rule files: \d+ rules, (\d+) enabled", 5)
        miner = self.start_agent(certs, server, "miner-host", synthetic_scenario="miner",
                                 exit_when_drained="true")
        self.wait_drained(miner)
        benign = self.start_agent(certs, server, "benign-host", synthetic_scenario="benign",
                                  exit_when_drained="true")
        self.wait_drained(benign)
        self.stop_server(server)   # alerts are committed with their events

        rows = self.alerts(server.db)
        raised = {r[0] for r in rows}
        self.assertEqual(raised, MINER_ALERTS, f"alerts raised: {rows}")
        for rule, priority, count, container in rows:
            self.assertEqual(container, "5c0ffee1d00d5eed5a1e0fa11ba5eba11fee1deadbeefcafe0123456789abcd0")
        crit = {r[0]: r[1] for r in rows}
        self.assertEqual(crit["Probable cryptojacking"], 6, "cryptojacking is CRITICAL")
        # Every alert links to stored evidence of the miner host only.
        ev = harness.db_query(server.db,
                              "SELECT DISTINCT a.agent_id FROM alert_evidence e "
                              "JOIN agents a ON a.id = e.agent")
        self.assertEqual([r[0] for r in ev], ["miner-host"])
        counts = harness.db_agent_counts(server.db)
        self.assertEqual(counts["miner-host"][0], 33)
        self.assertEqual(counts["benign-host"][0], 33)

    def test_hunt_beside_a_live_server(self):
        """A hunt over a database a running bulwarkd is writing: ingest keeps
        committing while the hunt runs (its alerts go in short transactions,
        never one that holds the database for the whole hunt, which made the
        live writer's commits fail after the busy timeout and closed its
        streams), and the hunt's alerts are stored."""
        history = 60000
        certs = self.certs("old-host", "live-host")
        server = self.start_server(certs, rules="")
        old = self.start_agent(certs, server, "old-host", synthetic_rate=0,
                               synthetic_count=history, synthetic_seed=7,
                               exit_when_drained="true")
        self.wait_drained(old, events=history, timeout=300)
        live = self.start_agent(certs, server, "live-host", synthetic_rate=2000,
                                synthetic_seed=8)
        live_rows = ("SELECT count(*) FROM events e JOIN agents a ON a.id = e.agent "
                     "WHERE a.agent_id = 'live-host'")
        harness.wait_until(lambda: harness.db_query(server.db, live_rows)[0][0] > 0, 60,
                           what="the live agent's first rows")
        rule_file = self.path("every-exec.yaml")
        with open(rule_file, "w") as f:
            f.write("- rule: Every exec\n"
                    "  desc: matches every exec, so the hunt stores many alerts\n"
                    "  condition: evt.type = execve\n"
                    "  output: exec of %proc.name by %user.name (%proc.cmdline)\n"
                    "  priority: WARNING\n")
        hunt = self.spawn("hunt", [harness.BULWARKD, "rules", "hunt", rule_file,
                                   "--since", "2d", "--db", server.db])
        # While the hunt runs: the live agent's rows and the hunt's alerts.
        # The alerts must arrive in many commits, with the live agent's rows
        # committed in between (one transaction for the whole hunt would
        # hold the live writer off until it ends).
        alerts_sql = "SELECT count(*) FROM alerts WHERE rule = 'Every exec'"
        samples = []
        while hunt.running():
            samples.append((harness.db_query(server.db, alerts_sql)[0][0],
                            harness.db_query(server.db, live_rows)[0][0]))
            time.sleep(0.02)  # sampling, not synchronisation
        self.assertEqual(hunt.wait(10), 0, hunt.tail())
        self.assert_clean(hunt)
        m, _ = hunt.wait_for(r"hunted (\d+) events: (\d+) retrospective alerts stored", 5)
        self.assertGreaterEqual(int(m.group(1)), history)
        self.assertGreater(int(m.group(2)), 0)
        samples.append((harness.db_query(server.db, alerts_sql)[0][0],
                        harness.db_query(server.db, live_rows)[0][0]))
        final = samples[-1][0]
        during = [live for alerts, live in samples if 0 < alerts < final]
        self.assertGreater(len(set(during)), 1,
                           f"no live commit while the hunt stored its alerts: {samples}")
        self.assertFalse(server.proc.find(r"transaction failed"), server.proc.tail())
        self.assertFalse(live.proc.find(r"disconnected|connection (lost|closed)"),
                         live.proc.tail())
        stored = harness.db_query(server.db, "SELECT count(*), sum(retrospective) FROM alerts "
                                  "WHERE rule = 'Every exec'")[0]
        self.assertGreater(stored[0], 0)
        self.assertEqual(stored[0], stored[1])
        live.proc.terminate()
        self.assertEqual(live.proc.wait(30), 0, live.proc.tail())
        self.stop_server(server)

    def test_retro_hunt(self):
        """Events stored while no rules ran are hunted afterwards: the alerts
        are stored, marked retrospective, and a second hunt merges into them."""
        certs = self.certs("quiet-host")
        server = self.start_server(certs, rules="")
        miner = self.start_agent(certs, server, "quiet-host", synthetic_scenario="miner",
                                 exit_when_drained="true")
        self.wait_drained(miner)
        self.stop_server(server)
        self.assertEqual(harness.db_query(server.db, "SELECT count(*) FROM alerts")[0][0], 0)

        rule_files = sorted(os.path.join(harness.SOURCE_DIR, "rules", f)
                            for f in os.listdir(os.path.join(harness.SOURCE_DIR, "rules"))
                            if f.endswith(".yaml"))
        for _ in range(2):
            hunt = self.spawn("hunt", [harness.BULWARKD, "rules", "hunt", *rule_files,
                                       "--since", "2d", "--db", server.db])
            self.assertEqual(hunt.wait(120), 0, hunt.tail())
            self.assert_clean(hunt)
            hunt.wait_for(r"hunted 33 events: 5 retrospective alerts stored", 5)
        rows = harness.db_query(server.db, "SELECT rule, retrospective, count FROM alerts")
        self.assertEqual({r[0] for r in rows}, MINER_ALERTS)
        self.assertTrue(all(r[1] == 1 for r in rows), rows)
        self.assertTrue(all(r[2] == 2 for r in rows), f"the second hunt merges: {rows}")

    def replay(self, certs, server, agent_id, events):
        """Sends events (dicts, evjson) from a new agent and waits until they
        are stored."""
        path = self.path(f"{agent_id}.ndjson")
        with open(path, "w") as f:
            f.writelines(json.dumps(e) + "\n" for e in events)
        agent = self.start_agent(certs, server, agent_id, source="replay", replay_file=path,
                                 exit_when_drained="true")
        self.wait_drained(agent, events=len(events))

    def test_restart_bursts_quiet_miner_fires(self):
        certs = self.certs("churn")
        server = self.start_server(certs, rules=self.rules_dir())
        sec = 10**9
        t0 = time.time_ns() - 3600 * sec

        def ctr(cid):
            return {"id": cid * 32, "name": f"n-{cid}", "image": "shop/api:7",
                    "image_digest": "sha256:" + "7" * 64}

        def samples(c, start, n, cores):
            return [{"kind": "resource", "time_ns": start + i * 5 * sec, "container": c,
                     "resource": {"cpu_cores": cores + 0.01 * (i % 3), "interval_ms": 5000,
                                  "scope": "container"}} for i in range(n)]

        old, new, miner = ctr("0a"), ctr("0b"), ctr("0c")
        ev = samples(old, t0, 48, 0.2)                       # 4 minutes of a quiet service
        ev += samples(old, t0 + 250 * sec, 2, 3.6)           # a short burst: 10 s
        ev += samples(old, t0 + 260 * sec, 10, 0.2)
        ev += samples(old, t0 + 340 * sec, 12, 3.5)          # restart (30 s gap), 1 min burst
        ev += samples(old, t0 + 400 * sec, 24, 0.2)
        ev += samples(new, t0 + 300 * sec, 12, 3.4)          # a new replica starts busy
        ev += samples(new, t0 + 360 * sec, 24, 0.25)
        ev += samples(miner, t0, 48, 0.1)                    # a miner, 2 minutes at 3.9 cores
        ev += samples(miner, t0 + 240 * sec, 24, 3.9)
        ev.sort(key=lambda e: e["time_ns"])
        self.replay(certs, server, "churn", ev)
        self.stop_server(server)
        rows = self.alerts(server.db)
        self.assertEqual([(r[0], r[3]) for r in rows], [("Container CPU spike", miner["id"])], rows)

    def test_scan_and_runtime_across_restart(self):
        """Three images: a scanned image whose container starts after the
        server restarted (scan first), a running image scanned later, and an
        image whose container stopped two hours before its scan."""
        certs = self.certs("scanner", "node-1", "node-2")
        rules = self.rules_dir()
        now = time.time_ns()
        hour = 3600 * 10**9

        def ctr(cid, image, digest):
            return {"id": cid, "name": f"n-{cid[:4]}", "image": image, "image_digest": digest}

        def running(t, c):
            return {"kind": "resource", "time_ns": t, "container": c,
                    "resource": {"cpu_cores": 0.1, "interval_ms": 5000, "scope": "container"}}

        def scan(t, image, digest, cve):
            return {"kind": "vuln", "time_ns": t,
                    "container": {"image": image, "image_digest": digest},
                    "vuln": {"vuln_id": cve, "package": "openssl", "installed_version": "3.0.1",
                             "fixed_version": "3.0.2", "vuln_severity": "CRITICAL",
                             "scanner": "trivy"}}

        web = ctr("a1" * 32, "web:1", "sha256:" + "a" * 64)
        api = ctr("b2" * 32, "api:2", "sha256:" + "b" * 64)
        old = ctr("c3" * 32, "old:3", "sha256:" + "c" * 64)
        server = self.start_server(certs, rules=rules)
        self.replay(certs, server, "node-1", [running(now - 2 * hour, old),
                                              running(now - hour, api)])
        self.replay(certs, server, "scanner", [scan(now - hour, "web:1", web["image_digest"], "CVE-1"),
                                               scan(now - hour + 10**9, "api:2", api["image_digest"], "CVE-2"),
                                               scan(now - hour, "old:3", old["image_digest"], "CVE-3")])
        self.stop_server(server)
        rows = self.alerts(server.db)
        self.assertEqual([(r[0], r[3]) for r in rows],
                         [("Critical vulnerability with a fix in a running image", api["id"])], rows)

        # The held scan of web:1 survives the restart; its container starts.
        server = self.start_server(certs, rules=rules, db=server.db)
        server.proc.wait_for(r"rules: restored detector state", 5)
        self.replay(certs, server, "node-2", [running(now, web), running(now + 5 * 10**9, web)])
        self.stop_server(server)
        rows = self.alerts(server.db)
        self.assertEqual(sorted(r[3] for r in rows), sorted([api["id"], web["id"]]), rows)
        out = harness.db_query(server.db, "SELECT output FROM alerts WHERE container_id = ?",
                               (web["id"],))
        self.assertIn("CVE-1", out[0][0])

    def test_hot_reload_under_load(self):
        certs = self.certs("load-a", "load-b", "miner-late")
        rules = self.rules_dir()
        server = self.start_server(certs, rules=rules)
        agents = [self.start_agent(certs, server, a, synthetic_rate=4000, synthetic_count=40000,
                                   exit_when_drained="true") for a in ("load-a", "load-b")]
        self.wait_rows(server.db, 5000)

        # A broken file: refused with file:line, the old rules stay.
        self.sighup(server, rules, "zz-broken.yaml",
                    "- rule: Broken\n  condition: proc.name = (\n  output: x\n  priority: INFO\n",
                    r"zz-broken\.yaml:\d+", r"reload refused; the running rules stay")

        # The running rules still judge: a miner story arrives after the refusal.
        self.miner_alerts_raised(certs, server, "miner-late")

        # A good file reloads.
        os.unlink(os.path.join(rules, "zz-broken.yaml"))
        self.sighup(server, rules, "zz-extra.yaml",
                    "- rule: Extra test rule\n  condition: proc.name = never-seen-name\n"
                    "  output: x\n  priority: INFO\n", r"rules: reloaded: \d+ rules enabled")

        for a in agents:
            self.wait_drained(a)
        self.stop_server(server)
        self.assert_exact(server.db, {"load-a": 40000, "load-b": 40000, "miner-late": 33})

    def test_reload_of_costly_rules_while_streaming(self):
        certs = self.certs("stream", "miner-after")
        rules = self.rules_dir()
        server = self.start_server(certs, rules=rules)
        m, _ = server.proc.wait_for(r"rules: loaded \d+ rule files: \d+ rules, (\d+) enabled", 5)
        enabled = int(m.group(1))
        stream = self.start_agent(certs, server, "stream", synthetic_rate=4000,
                                  synthetic_count=40000, exit_when_drained="true")
        self.wait_rows(server.db, 3000)

        # 40 macros, each (previous or previous): 2^40 tests if expanded.
        nested = "- macro: m0\n  condition: proc.name = x\n" + "".join(
            f"- macro: m{k}\n  condition: (m{k - 1} or m{k - 1})\n" for k in range(1, 41)) + \
            "- rule: Nested\n  desc: d\n  condition: evt.type = execve and m40\n" \
            "  output: o\n  priority: INFO\n"
        before = harness.db_total(server.db)
        self.sighup(server, rules, "zz-nested.yaml", nested,
                    r"zz-nested\.yaml:\d+: rule 'Nested': conditions expand to too many",
                    r"reload refused; the running rules stay")
        # the loop went on storing while the file was compiled and refused
        self.wait_rows(server.db, before + 2000, timeout=60)

        # the running rules still judge
        self.miner_alerts_raised(certs, server, "miner-after")

        # 100,000 clauses in one condition: compiled beside the loop, swapped in.
        os.unlink(os.path.join(rules, "zz-nested.yaml"))
        clauses = " and ".join(f"proc.name != p{k}" for k in range(100000))
        self.sighup(server, rules, "zz-long.yaml",
                    f"- rule: Long\n  desc: d\n  condition: evt.type = execve and {clauses}\n"
                    "  output: o\n  priority: INFO\n",
                    rf"rules: reloaded: {enabled + 1} rules enabled")
        self.assertTrue(server.proc.running(), server.proc.tail())

        self.wait_drained(stream)
        self.stop_server(server)
        self.assert_exact(server.db, {"stream": 40000, "miner-after": 33})


if __name__ == "__main__":
    harness.main()
