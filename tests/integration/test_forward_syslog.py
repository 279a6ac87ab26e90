#!/usr/bin/env python3
"""Forwarding alerts to a real rsyslog over TLS (issue 13, acceptance 5):
RFC 5424 messages with octet counting (RFC 5425), CEF in the message. A
real rsyslogd with a gtls listener (the test's own CA) writes what it gets
into a file; every alert must arrive there intact (rule, output, host as
stored, CEF escaping undone) and exactly once:
  1. while everything runs;
  2. after rsyslog was stopped for a while (bulwarkd retries with backoff)
     and restarted (it catches up from its cursor);
  3. after rsyslog was down and bulwarkd restarted in the meantime (the
     cursor is durable)."""
import collections
import json

import harness
import siem


class ForwardSyslogTest(harness.BulwarkTest):
    def received(self, rs):
        got = collections.Counter()
        recs = {}
        for ln in rs.lines():
            msgid, _, msg = ln.partition(" ")
            self.assertEqual(msgid, "alert", ln)
            msg = msg.lstrip()
            self.assertTrue(msg.startswith("CEF:0|Bulwark|Bulwark|"), ln)
            head, ext = siem.cef_parse(msg)
            aid = int(ext["externalId"])
            got[aid] += 1
            recs[aid] = (head, ext)
        return got, recs

    def wait_all(self, rs, db, timeout=60):
        def done():
            want = set(siem.db_alerts(db))
            got, _ = self.received(rs)
            return want and set(got) >= want
        harness.wait_until(done, timeout, interval=0.2, what="every alert in rsyslog's file")
        want = siem.db_alerts(db)
        got, recs = self.received(rs)
        dups = {k: n for k, n in got.items() if n > 1}
        self.assertFalse(dups, f"alerts received more than once: {dups}")
        self.assertEqual(set(got), set(want))
        for aid, (rule, output, host) in want.items():
            head, ext = recs[aid]
            self.assertEqual(head[4], rule)
            self.assertEqual(head[5], rule)
            self.assertEqual(ext.get("msg", ""), output, f"alert {aid}")
            self.assertEqual(ext.get("dhost", ""), host, f"alert {aid}")
        return len(want)

    def miner(self, certs, server, n):
        a = self.start_agent(certs, server, f"fwd-miner-{n}", synthetic_scenario="miner",
                             exit_when_drained="true")
        self.wait_drained(a)

    def test_syslog_tls_with_outages_and_restart(self):
        ids = [f"fwd-miner-{i}" for i in range(1, 4)]
        certs = self.certs(*ids)
        rs = siem.Rsyslog(self, certs, harness.free_port())
        rs.start()
        opts = dict(rules=siem.rules_dir(self), forward_syslog=f"127.0.0.1:{rs.port}",
                    forward_syslog_ca=f"{certs}/ca.pem", forward_format="cef",
                    forward_poll_ms=100, forward_retry_max_ms=1000,
                    alert_suppression_ms=0)  # each miner run raises new alerts
        port = harness.free_port()
        server = self.start_server(certs, port=port, **opts)
        server.proc.wait_for(r"forward: syslog: forwarding alerts to 127\.0\.0\.1:", 10)

        # 1. Live.
        self.miner(certs, server, 1)
        n1 = self.wait_all(rs, server.db)
        self.assertGreater(n1, 0)

        # 2. rsyslog down for a while: new alerts wait, retried with backoff.
        rs.stop()
        self.miner(certs, server, 2)
        self.assertGreater(len(siem.db_alerts(server.db)), n1)
        server.proc.wait_for(r"warn forward: syslog 127\.0\.0\.1:\d+: down \(", 15)
        rs.start()
        n2 = self.wait_all(rs, server.db)
        server.proc.wait_for(r"info forward: syslog 127\.0\.0\.1:\d+: delivering again", 15)

        # 3. rsyslog down, new alerts, bulwarkd restarted while it is down.
        rs.stop()
        self.miner(certs, server, 3)
        self.assertGreater(len(siem.db_alerts(server.db)), n2)
        self.stop_server(server)
        rs.start()
        server = self.start_server(certs, port=port, db=server.db, **opts)
        self.wait_all(rs, server.db)
        self.stop_server(server)
        rs.stop()

    def test_syslog_json_alerts_and_events(self):
        """forward_format=json with forward_events: each message is the
        native JSON of the record (what the API's lists show), alerts with
        MSGID alert and events with MSGID event, each once."""
        certs = self.certs("fwd-json-miner")
        rs = siem.Rsyslog(self, certs, harness.free_port())
        rs.start()
        server = self.start_server(
            certs, rules=siem.rules_dir(self), forward_syslog=f"127.0.0.1:{rs.port}",
            forward_syslog_ca=f"{certs}/ca.pem", forward_format="json", forward_events="true",
            forward_poll_ms=100)
        a = self.start_agent(certs, server, "fwd-json-miner", synthetic_scenario="miner",
                             exit_when_drained="true")
        self.wait_drained(a)
        want = {"alert": set(siem.db_alerts(server.db)),
                "event": {r[0] for r in harness.db_query(server.db, "SELECT id FROM events")}}

        def got():
            g = {"alert": collections.Counter(), "event": collections.Counter()}
            for ln in rs.lines():
                msgid, _, msg = ln.partition(" ")
                rec = json.loads(msg)
                g[msgid][rec["id"]] += 1
            return g
        harness.wait_until(lambda: all(set(got()[k]) >= want[k] for k in want), 60,
                           interval=0.2, what="every alert and event in rsyslog's file")
        g = got()
        for k in want:
            self.assertEqual(set(g[k]), want[k])
            self.assertFalse({i: n for i, n in g[k].items() if n > 1}, f"{k}s twice")
        alerts = siem.db_alerts(server.db)
        for ln in rs.lines():
            msgid, _, msg = ln.partition(" ")
            if msgid == "alert":
                rec = json.loads(msg)
                self.assertEqual((rec["rule"], rec["output"], rec["hostname"] or ""),
                                 alerts[rec["id"]])
        self.stop_server(server)
        rs.stop()


if __name__ == "__main__":
    harness.main()
