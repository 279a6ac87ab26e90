#!/usr/bin/env python3
"""Issue 12, items 2 and 4, end to end with the real binaries.

- Lineage at exec: the agent's proc collector, watching the real /proc,
  reads each new process's ancestors; a rule on proc.aname[2] and
  proc.pname fires for a process chain this test crafts (shells renamed by
  symlinks: eft-top -> eft-mid -> sleep) and not for two sibling chains
  that differ in one of the two names, whose exec events are stored with
  their ancestors all the same.
- Absent is not zero: Falco alerts ingested by the agent, one with
  user.uid 0 and one without a uid; a rule `user.uid = 0` fires for the
  first only (a missing uid is not root), and the stored event of the
  second has no uid."""
import os
import subprocess

import harness

KIND_EXEC = 10
OFF = {"collect_proc": "false", "collect_net": "false", "collect_file": "false",
       "collect_resource": "false", "collect_config": "false"}

LINEAGE_RULE = """\
- rule: Sleep two below eft-top
  desc: issue 12 integration test
  condition: >
    evt.type = execve and proc.name = sleep and proc.aname[2] = eft-top
    and proc.pname = eft-mid and proc.aname in (eft-top) and proc.apid[2] > 1
  output: "chain %proc.cmdline parent=%proc.pname top=%proc.aname[2] pcmd=%proc.pcmdline"
  priority: WARNING
"""

ROOT_RULE = """\
- rule: Root probe
  desc: issue 12 integration test
  condition: user.uid = 0 and proc.name = efz-probe
  output: "root probe %proc.pid uid=%user.uid"
  priority: WARNING
"""


fields = harness.pb_fields


class ExecFieldsTest(harness.BulwarkTest):
    def rules(self, text):
        d = self.path("rules")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "test.yaml"), "w") as f:
            f.write(text)
        return d

    def alerts(self, db):
        return harness.db_query(db, "SELECT rule, output FROM alerts WHERE retrospective = 0")

    def chain(self, top, mid, marker):
        """top -c 'mid -c "sleep MARKER; true"; true': the shells fork (the
        trailing `true` keeps dash from exec'ing in place), so sleep's
        parent is mid and its grandparent top."""
        for name in (top, mid):
            link = self.path(name)
            if not os.path.exists(link):
                os.symlink("/bin/sh", link)
        script = f'{self.path(mid)} -c "sleep {marker}; true"; true'
        p = subprocess.Popen([self.path(top), "-c", script], start_new_session=True)

        def stop():
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()
        self.addCleanup(stop)
        return p

    def stored_exec(self, db, marker):
        """The stored ProcessRef fields of the exec of `sleep MARKER`, or None."""
        for (body,) in harness.db_query(db, "SELECT body FROM events WHERE kind = ?", (KIND_EXEC,)):
            proc = fields(body).get(5)
            if not proc:
                continue
            p = fields(proc[0])
            if p.get(7, [b""])[0] == f"sleep {marker}".encode():
                return p
        return None

    def ancestor_names(self, p):
        return [fields(a).get(2, [b""])[0].decode() for a in p.get(11, [])]

    def test_lineage_rule_fires_for_the_crafted_chain_only(self):
        certs = self.certs("lineage-host")
        server = self.start_server(certs, rules=self.rules(LINEAGE_RULE))
        server.proc.wait_for(r"rules: loaded \d+ rule files: 1 rules, 1 enabled", 30)
        agent = self.start_agent(certs, server, "lineage-host", source="host",
                                 **dict(OFF, collect_proc="true"), scan_interval_ms=100)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        agent.proc.wait_for(r"collectors running", timeout=30)

        # Siblings first: each differs from the rule in one name.
        self.chain("efx-top", "eft-mid", "41.001")   # grandparent differs
        self.chain("eft-top", "efy-mid", "41.002")   # parent differs
        for marker, want in (("41.001", ["eft-mid", "efx-top"]), ("41.002", ["efy-mid", "eft-top"])):
            harness.wait_until(lambda: self.stored_exec(server.db, marker), 60,
                               what=f"the exec of sleep {marker}")
            p = self.stored_exec(server.db, marker)
            self.assertEqual(self.ancestor_names(p)[:2], want, "ancestors as stored")
        self.assertEqual(self.alerts(server.db), [], "a sibling chain raised the alert")

        self.chain("eft-top", "eft-mid", "41.003")
        harness.wait_until(lambda: self.alerts(server.db), 60, what="the lineage alert")
        p = self.stored_exec(server.db, "41.003")
        self.assertIsNotNone(p)
        self.assertEqual(self.ancestor_names(p)[:2], ["eft-mid", "eft-top"])
        self.assertIn(12, p, "the parent's command line is stored")
        self.stop_server(server)
        rows = self.alerts(server.db)
        self.assertEqual(len(rows), 1, rows)
        rule, output = rows[0]
        self.assertEqual(rule, "Sleep two below eft-top")
        self.assertIn("chain sleep 41.003 parent=eft-mid top=eft-top", output)
        self.assertIn('pcmd=' + self.path("eft-mid") + ' -c sleep 41.003; true', output)
        self.assert_clean(server.proc)

    def test_missing_uid_is_not_root(self):
        certs = self.certs("falco-uid")
        server = self.start_server(certs, rules=self.rules(ROOT_RULE))
        server.proc.wait_for(r"rules: loaded \d+ rule files: 1 rules, 1 enabled", 30)
        path = self.path("falco.json")
        lines = [
            # no user.uid: Falco did not say, the agent must not make it 0
            '{"output":"probe","priority":"Warning","rule":"Probe","time":"2024-05-01T12:00:00Z",'
            '"output_fields":{"proc.name":"efz-probe","proc.pid":101,"proc.cmdline":"efz-probe a"}}',
            '{"output":"probe","priority":"Warning","rule":"Probe","time":"2024-05-01T12:00:01Z",'
            '"output_fields":{"proc.name":"efz-probe","proc.pid":102,"user.uid":0}}',
        ]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        agent = self.start_agent(certs, server, "falco-uid", source="host", falco_file=path,
                                 once="true", **OFF)
        self.wait_drained(agent, timeout=120)
        self.assertEqual(harness.db_query(server.db, "SELECT count(*) FROM events WHERE kind = 16"),
                         [(2,)])
        self.stop_server(server)  # alerts are committed with their events
        rows = self.alerts(server.db)
        self.assertEqual(len(rows), 1, rows)
        self.assertIn("root probe 102 uid=0", rows[0][1])
        uids = {}
        for (body,) in harness.db_query(server.db, "SELECT body FROM events WHERE kind = 16"):
            p = fields(fields(body)[5][0])
            uids[p[1][0]] = p.get(3)
        self.assertEqual(uids, {101: None, 102: [0]}, "uid stored as absent / as 0")
        self.assert_clean(server.proc)


if __name__ == "__main__":
    harness.main()
