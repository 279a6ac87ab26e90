#!/usr/bin/env python3
"""Forwarding over HTTPS (issue 13, push to a SIEM): Splunk HEC and a
generic JSON webhook signed with HMAC-SHA256, each against a small Python
HTTPS server with the test's CA. Both destinations refuse their first
requests (503): bulwarkd retries with backoff and then delivers every
alert and every event exactly once, in HEC's envelope with the token, and
to the webhook with a signature that verifies over "<timestamp>.<body>".
Neither secret appears in bulwarkd's log."""
import collections
import hashlib
import hmac
import json
import time

import harness
import siem

TOKEN = "5f0c2a9e-hec-token-0123456789abcdef"
SECRET = "webhook-secret-4b1d9c0e7a"


class ForwardHttpTest(harness.BulwarkTest):
    def test_hec_and_signed_webhook(self):
        certs = self.certs("fwd-http-miner")
        with open(self.path("hec.token"), "w") as f:
            f.write(TOKEN + "\n")
        with open(self.path("webhook.secret"), "w") as f:
            f.write(SECRET + "\n")
        hec = siem.HttpsSink(certs, fail_first=3)
        hook = siem.HttpsSink(certs, fail_first=3)
        self.addCleanup(hec.close)
        self.addCleanup(hook.close)
        server = self.start_server(
            certs, rules=siem.rules_dir(self),
            forward_hec_url=f"https://127.0.0.1:{hec.port}",
            forward_hec_token_file=self.path("hec.token"), forward_hec_ca=f"{certs}/ca.pem",
            # by name: the certificate's DNS name is checked too
            forward_webhook_url=f"https://localhost:{hook.port}/bulwark/hook",
            forward_webhook_secret_file=self.path("webhook.secret"),
            forward_webhook_ca=f"{certs}/ca.pem", forward_events="true",
            forward_poll_ms=100, forward_retry_max_ms=1000)
        agent = self.start_agent(certs, server, "fwd-http-miner", synthetic_scenario="miner",
                                 exit_when_drained="true")
        self.wait_drained(agent)
        alerts = set(siem.db_alerts(server.db))
        events = {r[0] for r in harness.db_query(server.db, "SELECT id FROM events")}
        self.assertTrue(alerts and events)
        want = {"alerts": alerts, "events": events}

        def hec_got():
            got = collections.defaultdict(collections.Counter)
            for headers, body in hec.accepted():
                self.assertEqual(headers.get("Authorization"), f"Splunk {TOKEN}")
                for ln in body.decode().splitlines():
                    env = json.loads(ln)
                    self.assertEqual(env["source"], "bulwarkd")
                    self.assertIsInstance(env["time"], (int, float))
                    stream = {"bulwark:alert": "alerts",
                              "bulwark:event": "events"}[env["sourcetype"]]
                    got[stream][env["event"]["id"]] += 1
            return got

        def hook_got():
            got = collections.defaultdict(collections.Counter)
            for headers, body in hook.accepted():
                ts = headers["X-Bulwark-Timestamp"]
                self.assertLess(abs(time.time() - int(ts)), 300)
                mac = hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                               hashlib.sha256).hexdigest()
                self.assertEqual(headers["X-Bulwark-Signature"], f"v1={mac}")
                doc = json.loads(body)
                for r in doc["records"]:
                    got[doc["stream"]][r["id"]] += 1
            return got

        for name, got_fn in (("hec", hec_got), ("webhook", hook_got)):
            harness.wait_until(lambda: all(set(got_fn()[s]) >= want[s] for s in want), 60,
                               interval=0.2, what=f"everything delivered to {name}")
            got = got_fn()
            for s in want:
                self.assertEqual(set(got[s]), want[s], f"{name} {s}")
                dups = {k: n for k, n in got[s].items() if n > 1}
                self.assertFalse(dups, f"{name} {s} delivered twice: {dups}")
        self.assertEqual(hec.refused(), 3)
        self.assertEqual(hook.refused(), 3)
        server.proc.wait_for(r"warn forward: hec 127\.0\.0\.1:\d+: down \(HTTP status 503\)", 5)
        server.proc.wait_for(r"warn forward: webhook localhost:\d+: down \(HTTP status 503\)", 5)
        self.stop_server(server)
        with open(server.proc.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertNotIn(TOKEN, log)
        self.assertNotIn(SECRET, log)


if __name__ == "__main__":
    harness.main()
