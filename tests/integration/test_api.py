#!/usr/bin/env python3
"""The REST API against a real bulwarkd with data ingested by real agents
(REST API issue, acceptance 1-4).

- Every endpoint and filter answers what the database holds.
- The role matrix: every route x {no token, revoked, viewer, analyst,
  admin} gives exactly the documented 401/403/2xx.
- Hostile requests get a 400 problem document or an empty result, never a
  500, a crash or a SQL error.
- Paging and export under concurrent ingest, with a server restart in the
  middle: the union of pages is the stored set, no duplicate, no gap."""
import json
import os
import shutil
import subprocess
import threading

import apiclient
import harness
from apiclient import call, get_json

MINER_CONTAINER = "5c0ffee1d00d5eed5a1e0fa11ba5eba11fee1deadbeefcafe0123456789abcd0"
PROBLEM = "application/problem+json"


class ApiTest(harness.BulwarkTest):
    def rules_dir(self):
        d = self.path("rules")
        shutil.copytree(os.path.join(harness.SOURCE_DIR, "rules"), d)
        return d

    def ingest_miner(self, certs, server):
        agent = self.start_agent(certs, server, "miner-host", synthetic_scenario="miner",
                                 exit_when_drained="true")
        self.wait_drained(agent)

    def assert_problem(self, r, status):
        self.assertEqual(r.status, status, r.body[:400])
        self.assertEqual(r.header("Content-Type"), PROBLEM)
        p = json.loads(r.body)
        self.assertEqual(p["status"], status)
        self.assertTrue(p["title"] and p["detail"], p)
        return p

    # ------------------------------------------------------------ endpoints

    def test_endpoints_and_filters(self):
        certs = self.certs("miner-host", "live-host")
        server, port = apiclient.start_api_server(self, certs, rules=self.rules_dir(),
                                                  heartbeat_interval_ms=200)
        viewer = apiclient.make_token(server.db, "viewer", "dash")
        analyst = apiclient.make_token(server.db, "analyst", "soc")
        admin = apiclient.make_token(server.db, "admin", "ops")
        self.ingest_miner(certs, server)
        db_ids = [r[0] for r in harness.db_query(server.db, "SELECT id FROM events ORDER BY id")]
        self.assertEqual(len(db_ids), 33)

        # events: all pages newest first, every id once
        items = apiclient.all_pages(port, "/api/v1/events", viewer, page_size=7)
        self.assertEqual([e["id"] for e in items], sorted(db_ids, reverse=True))
        for e in items:
            self.assertEqual(e["agent_id"], "miner-host")
            self.assertEqual(e["hostname"], "host-miner-host")
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{9})?Z$")
        # filters, each against SQL
        by_kind = dict(harness.db_query(server.db, "SELECT kind, count(*) FROM events "
                                                   "GROUP BY kind"))
        kinds = {"exec": 10, "net": 11, "file": 12, "resource": 13, "config": 14}
        for name, num in kinds.items():
            got = apiclient.all_pages(port, "/api/v1/events", viewer, {"kind": name})
            self.assertEqual(len(got), by_kind.get(num, 0), name)
            self.assertTrue(all(e["kind"] == name for e in got))
        got = apiclient.all_pages(port, "/api/v1/events", viewer,
                                  {"container": MINER_CONTAINER})
        n_cont = harness.db_query(server.db, "SELECT count(*) FROM events e JOIN containers c "
                                  "ON c.id = e.container WHERE c.container_id = ?",
                                  (MINER_CONTAINER,))[0][0]
        self.assertEqual(len(got), n_cont)
        self.assertGreater(n_cont, 0)
        self.assertEqual(len(apiclient.all_pages(port, "/api/v1/events", viewer,
                                                 {"agent": "miner-host"})), 33)
        self.assertEqual(len(apiclient.all_pages(port, "/api/v1/events", viewer,
                                                 {"host": "host-miner-host"})), 33)
        self.assertEqual(apiclient.all_pages(port, "/api/v1/events", viewer,
                                             {"agent": "nobody"}), [])
        img = harness.db_query(server.db, "SELECT image FROM containers WHERE container_id = ?",
                               (MINER_CONTAINER,))[0][0]
        got = apiclient.all_pages(port, "/api/v1/events", viewer, {"image": img})
        self.assertEqual(len(got), n_cont)
        self.assertEqual(apiclient.all_pages(port, "/api/v1/events", viewer,
                                             {"image": "nosuch:1"}), [])
        for rule in ("Probable cryptojacking", "Crypto miner process"):
            want = [r[0] for r in harness.db_query(
                server.db, "SELECT DISTINCT v.event_id FROM alert_evidence v JOIN alerts a "
                "ON a.id = v.alert_id WHERE a.rule = ? AND v.event_id IS NOT NULL "
                "ORDER BY 1 DESC", (rule,))]
            got = apiclient.all_pages(port, "/api/v1/events", viewer, {"rule": rule},
                                      page_size=1)
            self.assertEqual([e["id"] for e in got], want, rule)
            self.assertTrue(want, rule)
        n_warn = harness.db_query(server.db, "SELECT count(*) FROM events WHERE severity >= 4")
        self.assertEqual(len(apiclient.all_pages(port, "/api/v1/events", viewer,
                                                 {"min_severity": "warning"})), n_warn[0][0])
        # a half-open time range: [t_mid, t_last) leaves the newest out
        times = [r[0] for r in harness.db_query(server.db,
                                                "SELECT time_ns FROM events ORDER BY time_ns")]
        mid = items[len(items) // 2]["time"]
        last = max(items, key=lambda e: e["time"])["time"]
        got = apiclient.all_pages(port, "/api/v1/events", viewer, {"since": mid, "until": last})
        self.assertTrue(all(mid <= e["time"] < last for e in got), got[:3])
        self.assertLess(len(got), len(times))
        # one event, whole
        one = get_json(port, f"/api/v1/events/{db_ids[0]}", viewer)
        self.assertEqual(one["id"], db_ids[0])
        self.assertIn(one["kind"], kinds)
        self.assertIn(one["kind"], one)  # the body: {"exec": {...}} etc.
        self.assert_problem(call(port, "GET", "/api/v1/events/999999", token=viewer), 404)

        # alerts, their evidence, triage
        alerts = apiclient.all_pages(port, "/api/v1/alerts", viewer)
        db_alerts = harness.db_query(server.db, "SELECT id, rule, priority FROM alerts "
                                                "ORDER BY id DESC")
        self.assertEqual([(a["id"], a["rule"]) for a in alerts],
                         [(r[0], r[1]) for r in db_alerts])
        crit = apiclient.all_pages(port, "/api/v1/alerts", viewer, {"min_severity": "critical"})
        self.assertEqual({a["rule"] for a in crit},
                         {r[1] for r in db_alerts if r[2] >= 6})
        self.assertIn("Probable cryptojacking", {a["rule"] for a in crit})
        cj = [a for a in crit if a["rule"] == "Probable cryptojacking"][0]
        self.assertEqual(cj["status"], "open")
        full = get_json(port, f"/api/v1/alerts/{cj['id']}", viewer)
        self.assertEqual(len(full["evidence"]), full["evidence_count"])
        self.assertTrue(full["evidence"])
        for ev in full["evidence"]:
            self.assertEqual(ev["agent_id"], "miner-host")
            self.assertFalse(ev.get("missing"), ev)
            self.assertEqual(ev["container_id"], MINER_CONTAINER)
        by_rule = apiclient.all_pages(port, "/api/v1/alerts", viewer,
                                      {"rule": "Container CPU spike"})
        self.assertEqual([a["rule"] for a in by_rule], ["Container CPU spike"])
        r = call(port, "PATCH", f"/api/v1/alerts/{cj['id']}", token=viewer,
                 body={"status": "acknowledged"})
        self.assert_problem(r, 403)
        r = call(port, "PATCH", f"/api/v1/alerts/{cj['id']}", token=analyst,
                 body={"status": "acknowledged", "note": "looking <b>now</b>"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "acknowledged")
        self.assertEqual(r.json()["status_note"], "looking <b>now</b>")
        self.assertIn("soc", r.json()["status_by"])
        self.assertEqual(len(apiclient.all_pages(port, "/api/v1/alerts", viewer,
                                                 {"status": "acknowledged"})), 1)
        self.assertEqual(len(apiclient.all_pages(port, "/api/v1/alerts", viewer,
                                                 {"status": "open"})), len(alerts) - 1)
        audit = get_json(port, "/api/v1/audit", admin)["items"]
        self.assertEqual(audit[0]["action"], "acknowledged")
        self.assertEqual(audit[0]["target"], f"alert/{cj['id']}")
        self.assertIn("soc", audit[0]["actor"])
        self.assertTrue(any(a["action"] == "token.create" for a in audit))
        # the audit trail cannot be rewritten, even with SQL
        r = subprocess.run(["sqlite3", server.db, "DELETE FROM audit"], stderr=subprocess.PIPE)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"append-only", r.stderr)

        # rules: loaded, enabled, hits; reload is the admin's
        rules = get_json(port, "/api/v1/rules", viewer)["items"]
        names = {x["name"]: x for x in rules}
        self.assertTrue(names["Probable cryptojacking"]["enabled"])
        self.assertEqual(names["Probable cryptojacking"]["alerts"], 1)
        self.assertEqual(call(port, "POST", "/api/v1/rules/reload", token=analyst).status, 403)
        r = call(port, "POST", "/api/v1/rules/reload", token=admin)
        self.assertEqual(r.status, 200, r.body)
        server.proc.wait_for(r"API: reloaded the rules", 10)
        broken = os.path.join(self.path("rules"), "zz-broken.yaml")
        with open(broken, "w") as f:
            f.write("- rule: broken\n  condition: evt.type = \n  output: x\n  priority: INFO\n")
        self.assert_problem(call(port, "POST", "/api/v1/rules/reload", token=admin), 409)
        os.unlink(broken)
        rules_after = get_json(port, "/api/v1/rules", viewer)["items"]
        self.assertEqual(len(rules_after), len(rules), "a refused reload changed the rules")

        # agents: one that is gone, one connected with its heartbeat health
        live = self.start_agent(certs, server, "live-host", synthetic_rate=5,
                                synthetic_scenario="benign")
        live.proc.wait_for(harness.CONNECTED_RE, 30)

        def live_health():
            a = get_json(port, "/api/v1/agents/live-host", viewer)
            return a if a["connected"] and a["health"] else None
        a = harness.wait_until(live_health, 30, what="live agent's health")
        self.assertEqual(a["hostname"], "host-live-host")
        self.assertIn("spool_depth", a["health"])
        self.assertIn("spool_dropped", a["health"])
        self.assertEqual(a["health"]["spool_quarantined"], 0)
        agents = {x["agent_id"]: x for x in get_json(port, "/api/v1/agents", viewer)["items"]}
        self.assertFalse(agents["miner-host"]["connected"])
        self.assertTrue(agents["live-host"]["connected"])
        self.assert_problem(call(port, "GET", "/api/v1/agents/nobody", token=viewer), 404)

        # metrics and probes
        m = call(port, "GET", "/metrics", token=viewer)
        self.assertEqual(m.status, 200)
        self.assertIn(b"bulwark_connected_agents 1", m.body)
        self.assertIn(b'bulwark_api_requests_total{method="GET",route="/api/v1/events",code="200"}', m.body)
        # a real consumer: Prometheus' own checker accepts the exposition
        r = subprocess.run(["promtool", "check", "metrics"], input=m.body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
        stored = harness.db_query(server.db, "SELECT count(*) FROM events")[0][0]
        self.assertIn(f"bulwark_events_stored_total {stored}\n".encode(), m.body)
        self.assertEqual(call(port, "GET", "/healthz").status, 200)
        self.assertEqual(call(port, "GET", "/readyz").json()["status"], "ready")
        live.proc.terminate()
        live.proc.wait(30)
        self.stop_server(server)

    # ---------------------------------------------------------- role matrix

    ROUTES = [  # method, path, minimum role (None: public)
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("GET", "/api/v1/openapi.json", None),
        ("GET", "/metrics", "viewer"),
        ("GET", "/api/v1/whoami", "viewer"),
        ("GET", "/api/v1/events", "viewer"),
        ("GET", "/api/v1/events/1", "viewer"),
        ("GET", "/api/v1/alerts", "viewer"),
        ("GET", "/api/v1/alerts/1", "viewer"),
        ("PATCH", "/api/v1/alerts/1", "analyst"),
        ("GET", "/api/v1/agents", "viewer"),
        ("GET", "/api/v1/agents/role-host", "viewer"),
        ("GET", "/api/v1/rules", "viewer"),
        ("POST", "/api/v1/rules/reload", "admin"),
        ("GET", "/api/v1/audit", "admin"),
        ("GET", "/api/v1/export/events", "viewer"),
        ("GET", "/api/v1/export/alerts", "viewer"),
        ("GET", "/api/v1/stats", "viewer"),
        ("GET", "/api/v1/network", "viewer"),
        ("GET", "/api/v1/containers", "viewer"),
        ("GET", f"/api/v1/containers/{MINER_CONTAINER}", "viewer"),
        ("GET", "/api/v1/hosts", "viewer"),
    ]
    LEVEL = {None: 0, "viewer": 1, "analyst": 2, "admin": 3}

    def test_role_matrix(self):
        certs = self.certs("role-host")
        server, port = apiclient.start_api_server(self, certs, rules=self.rules_dir(),
                                                  api_auth_failures_per_min=1000)
        tokens = {r: apiclient.make_token(server.db, r, f"{r}-tok")
                  for r in ("viewer", "analyst", "admin")}
        revoked = apiclient.make_token(server.db, "admin", "gone")
        apiclient.revoke_token(server.db, revoked)
        agent = self.start_agent(certs, server, "role-host", synthetic_scenario="miner",
                                 exit_when_drained="true")
        self.wait_drained(agent)
        who = [("none", None, 0), ("revoked", revoked, 0)] + \
              [(r, t, self.LEVEL[r]) for r, t in tokens.items()]
        for method, path, need in self.ROUTES:
            for label, tok, level in who:
                body = {"status": "open"} if method == "PATCH" else None
                r = call(port, method, path, token=tok, body=body)
                where = f"{method} {path} as {label}"
                if need is None:
                    self.assertLess(r.status, 300, where)
                elif tok is None or label == "revoked":
                    self.assert_problem(r, 401)
                    self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="bulwark"')
                elif level < self.LEVEL[need]:
                    self.assert_problem(r, 403)
                else:
                    self.assertIn(r.status, (200, 201, 204), f"{where}: {r.body[:300]!r}")
                # security headers on every answer
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", where)
                self.assertIn("frame-ancestors 'none'", r.header("Content-Security-Policy"))
                if path.startswith("/api/") or path == "/metrics":
                    self.assertEqual(r.header("Cache-Control"), "no-store", where)
                self.assertIsNone(r.header("Access-Control-Allow-Origin"), where)
        # the served OpenAPI document is the one in the tree, and it
        # describes every route with the role it needs
        served = call(port, "GET", "/api/v1/openapi.json").json()
        with open(os.path.join(harness.SOURCE_DIR, "server", "api", "openapi.json")) as f:
            self.assertEqual(served, json.load(f))
        for method, path, need in self.ROUTES:
            tmpl = path.replace("/events/1", "/events/{id}").replace("/alerts/1", "/alerts/{id}")
            tmpl = tmpl.replace("/agents/role-host", "/agents/{agent_id}")
            tmpl = tmpl.replace(f"/containers/{MINER_CONTAINER}", "/containers/{container_id}")
            op = served["paths"].get(tmpl, {}).get(method.lower())
            self.assertIsNotNone(op, f"{method} {tmpl} is not in openapi.json")
            if need:
                self.assertIn(f"Role: `{need}`", op["description"], tmpl)
                self.assertIn("401", op["responses"], tmpl)
        # a wrong method is 405 with Allow, an unknown route 404
        r = call(port, "DELETE", "/api/v1/events", token=tokens["admin"])
        self.assert_problem(r, 405)
        self.assertEqual(r.header("Allow"), "GET")
        self.assert_problem(call(port, "GET", "/api/v1/nope", token=tokens["admin"]), 404)
        # the audit trail names who did what
        actions = [a["action"] for a in get_json(port, "/api/v1/audit", tokens["admin"])["items"]]
        self.assertIn("token.revoke", actions)
        self.assertIn("open", actions)
        self.assertIn("rules.reload", actions)
        self.stop_server(server)

    # ----------------------------------------------------- hostile requests

    def test_hostile_requests(self):
        certs = self.certs("h-host")
        server, port = apiclient.start_api_server(self, certs, api_body_max=4096)
        tok = apiclient.make_token(server.db, "admin", "h")
        agent = self.start_agent(certs, server, "h-host", synthetic_count=50,
                                 exit_when_drained="true")
        self.wait_drained(agent)
        big = "x" * 100_000
        bad = [
            ("/api/v1/events", {"agent": "' OR 1=1 --"}, (200,)),
            ("/api/v1/events", {"host": "x\"; DROP TABLE events; --"}, (200,)),
            ("/api/v1/events", {"container": "%00"}, (200,)),
            ("/api/v1/events", {"agent": "a\x00b"}, (400,)),
            ("/api/v1/events", {"agent": b"\xff\xfe".decode("latin-1")}, (200, 400)),
            ("/api/v1/events", {"agent": big}, (400,)),
            ("/api/v1/events", {"agent": "y" * 400_000}, (414, 431)),  # past the HTTP layer's cap
            ("/api/v1/events", {"since": "yesterday"}, (400,)),
            ("/api/v1/events", {"since": "2024-02-30T00:00:00Z"}, (400,)),
            ("/api/v1/events", {"since": "2024-01-02T00:00:00Z",
                                "until": "2024-01-01T00:00:00Z"}, (400,)),
            ("/api/v1/events", {"page_size": "100000000"}, (400,)),
            ("/api/v1/events", {"page_size": "-1"}, (400,)),
            ("/api/v1/events", {"page_size": "1e3"}, (400,)),
            ("/api/v1/events", {"page_token": "ZTEuMQ'--"}, (400,)),
            ("/api/v1/events", {"page_token": "YTEuMQ"}, (400,)),  # an alerts token
            ("/api/v1/events", {"page_token": "ZTEuOTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"}, (400,)),
            ("/api/v1/events", {"kind": "exec' --"}, (400,)),
            ("/api/v1/events", {"min_severity": "loud"}, (400,)),
            ("/api/v1/events", {"nonsense": "1"}, (400,)),
            ("/api/v1/alerts", {"status": "pwned"}, (400,)),
            ("/api/v1/alerts", {"rule": "'; SELECT * FROM api_tokens; --"}, (200,)),
            ("/api/v1/events/1%20OR%201=1", None, (404,)),
            ("/api/v1/events/99999999999999999999999", None, (404,)),
            ("/api/v1/events/-1", None, (404,)),
            ("/api/v1/agents/%27%20OR%20%271%27=%271", None, (404,)),
            ("/api/v1/export/events", {"cursor": "garbage!"}, (400,)),
            ("/api/v1/export/events", {"limit": "0"}, (400,)),
            ("/api/v1/export/events", {"format": "xml"}, (400,)),
        ]
        for path, params, want in bad:
            r = call(port, "GET", path, token=tok, params=params)
            self.assertIn(r.status, want, f"{path} {str(params)[:80]}: {r.status} {r.body[:200]!r}")
            if r.status == 400 or r.status == 404:
                self.assert_problem(r, r.status)
            if r.status == 200 and path == "/api/v1/events":
                self.assertEqual(r.json()["items"], [], f"{params} matched rows")
        # bodies: too large (413), not JSON, wrong shape, wrong type
        r = call(port, "PATCH", "/api/v1/alerts/1", token=tok, body="{" + " " * 10000 + "}")
        self.assert_problem(r, 413)
        for body in ("not json", "[]", '{"status": "gone"}', '{"status": "open", "x": 1}',
                     '{"status": "open", "note": 5}', '{"status": "open", "status": "open"}'):
            self.assert_problem(call(port, "PATCH", "/api/v1/alerts/1", token=tok, body=body),
                                400)
        r = call(port, "PATCH", "/api/v1/alerts/1", token=tok, body='{"status":"open"}',
                 headers={"Content-Type": "text/plain"})
        self.assert_problem(r, 415)
        # malformed tokens are 401s, never 500s
        for t in ("", "bwk_", "bwk_" + "z" * 16 + "_" + "a" * 43, "bwk_" + "0" * 16 + "_" + "a" * 43,
                  tok[:-1] + ("A" if tok[-1] != "A" else "B"), tok + "x"):
            self.assert_problem(call(port, "GET", "/api/v1/events", token=t), 401)
        # the server answered everything and logged no store error
        self.assertEqual(call(port, "GET", "/healthz").status, 200)
        self.assertFalse(server.proc.find(r"store: |SQL|sqlite"), server.proc.tail())
        self.assertEqual(harness.db_query(server.db, "SELECT count(*) FROM events")[0][0], 50)
        self.stop_server(server)

    def test_failed_auth_is_rate_limited(self):
        certs = self.certs("rl-host")
        server, port = apiclient.start_api_server(self, certs, api_rate_per_min=60)
        tok = apiclient.make_token(server.db, "viewer", "rl")
        seen = set()
        for _ in range(40):
            seen.add(call(port, "GET", "/api/v1/events", token="bwk_" + "1" * 16 + "_" +
                          "b" * 43).status)
        self.assertEqual(seen, {401, 429})
        r = call(port, "GET", "/api/v1/events", token=tok)
        self.assert_problem(r, 429)  # the peer waits, whatever it presents
        self.assertTrue(int(r.header("Retry-After")) >= 1)
        self.stop_server(server)

    def test_token_rate_limit(self):
        certs = self.certs("rl2-host")
        server, port = apiclient.start_api_server(self, certs, api_rate_per_min=20)
        tok = apiclient.make_token(server.db, "viewer", "busy")
        codes = [call(port, "GET", "/api/v1/whoami", token=tok).status for _ in range(30)]
        self.assertEqual(codes[0], 200)
        self.assertIn(429, codes)
        self.assertLess(codes.index(429), 20)
        self.stop_server(server)

    def test_https_api(self):
        certs = self.certs("tls-host")
        server, port = apiclient.start_api_server(self, certs, api_tls="on")
        m = server.proc.find(apiclient.API_READY_RE)
        self.assertIn("(https)", m[-1])
        tok = apiclient.make_token(server.db, "viewer", "tls")
        r = call(port, "GET", "/api/v1/whoami", token=tok, tls_ca=f"{certs}/ca.pem")
        self.assertEqual(r.status, 200)
        self.assertIn("max-age", r.header("Strict-Transport-Security"))
        with self.assertRaises(Exception):
            call(port, "GET", "/healthz", timeout=5)  # plain HTTP is not spoken there
        self.stop_server(server)

    def test_plain_http_refused_off_loopback(self):
        certs = self.certs("x")
        server = self.start_server(certs, wait_ready=False, api_listen="0.0.0.0:0",
                                   api_tls="off")
        rc = server.proc.wait(30)
        self.assertNotEqual(rc, 0)
        self.assertTrue(server.proc.find(r"plain HTTP is served only on loopback"))

    # ------------------------------------------- paging and export under ingest

    def test_paging_and_export_under_ingest_and_restart(self):
        total = int(os.environ.get("BW_API_EVENTS", "200000"))
        certs = self.certs("flood")
        db = self.path("server.db")
        port = harness.free_port()
        server, api = apiclient.start_api_server(self, certs, port=port, db=db,
                                                 api_listen="127.0.0.1:0")
        tok = apiclient.make_token(db, "viewer", "siem")
        agent = self.start_agent(certs, server, "flood", synthetic_count=total,
                                 synthetic_rate=0, exit_when_drained="true")
        self.wait_rows(db, min(2000, total // 4))

        exported, cursor = [], None
        paged, page_token, first_top, paged_all = [], None, None, False

        def export_some(api_port):
            nonlocal cursor
            recs, nxt = apiclient.export(api_port, "events", tok, cursor=cursor, limit=5000)
            self.assertIsNotNone(nxt, "export cut short")
            exported.extend(r["id"] for r in recs)
            cursor = nxt
            return len(recs)

        def page_some(api_port, pages=3):
            # pages from the newest at the first call down to the oldest,
            # once: when the walk has ended (it can outrun the ingest), a
            # new walk from the top would page records again
            nonlocal page_token, first_top, paged_all
            if paged_all:
                return False
            for _ in range(pages):
                params = {"page_size": 500}
                if page_token:
                    params["page_token"] = page_token
                p = get_json(api_port, "/api/v1/events", tok, params)
                if first_top is None and p["items"]:
                    first_top = p["items"][0]["id"]
                paged.extend(e["id"] for e in p["items"])
                page_token = p["next_page_token"]
                if not page_token:
                    paged_all = True
                    return False
            return True

        for _ in range(3):
            export_some(api)
            page_some(api)
        # restart the server in the middle of the ingest
        self.stop_server(server, timeout=10)
        server, api = apiclient.start_api_server(self, certs, port=port, db=db,
                                                 api_listen="127.0.0.1:0")
        more = True
        while agent.proc.running() or more:
            export_some(api)
            more = page_some(api) and more
            if not agent.proc.running():
                more = page_some(api, 1000)
        self.wait_drained(agent, total)
        while export_some(api):
            pass
        ids = [r[0] for r in harness.db_query(db, "SELECT id FROM events ORDER BY id")]
        self.assertEqual(len(ids), total)
        self.assertEqual(len(exported), len(set(exported)), "export repeated a record")
        self.assertEqual(exported, ids, "export skipped or reordered records")
        self.assertEqual(len(paged), len(set(paged)), "pages repeated a record")
        self.assertEqual(paged, [i for i in reversed(ids) if i <= first_top],
                         "pages skipped records")
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
