#!/usr/bin/env python3
"""REST API: stats, network, containers and hosts answer exactly what two
real agents replayed (known events at known minutes), from the rollups the
writer keeps; filters narrow exactly; hostile parameters get 400 problem
documents."""
import json
import subprocess
import time
import urllib.error
import urllib.request

import harness

MIN = 60 * 10**9
A = "a" * 64           # shop/web on host-fleet-a, address 10.0.0.1
B = "b" * 64           # shop/db on host-fleet-b, address 10.0.0.2
WEB, DB = "shop/web:1.0", "shop/db:2.0"
API_RE = r" info api: listening 127\.0\.0\.1:(\d+) \(http\)"

RULES = """
- rule: Test netcat
  desc: nc run in a container
  condition: bulwark.kind = exec and proc.name = nc
  output: nc in %container.id
  priority: WARNING
"""


def cref(cid, image, ns="shop", pod=None):
    c = {"image": image, "image_digest": "sha256:" + image[5:7] * 32, "runtime": "containerd",
         "k8s_namespace": ns, "k8s_pod": pod or image.split("/")[1].split(":")[0] + "-1"}
    if cid:
        c["id"] = cid
    return c


def execv(t, name, sev="info", container=None):
    e = {"kind": "exec", "time_ns": t, "severity": sev, "exec": {"cwd": "/"},
         "process": {"pid": 100, "ppid": 1, "exe": "/usr/bin/" + name, "name": name}}
    if container:
        e["container"] = container
    return e


def net(t, container, local, remote, port, inbound=False, name=None, lport=40000):
    n = {"direction": "inbound" if inbound else "outbound", "protocol": "tcp",
         "local_addr": local, "local_port": port if inbound else lport,
         "remote_addr": remote, "remote_port": lport if inbound else port}
    if name:
        n["remote_name"] = name
    e = {"kind": "net", "time_ns": t, "severity": "info", "net": n}
    if container:
        e["container"] = container
    return e


class ApiFleetTest(harness.BulwarkTest):
    def get(self, path, token=None, status=200):
        req = urllib.request.Request(f"http://127.0.0.1:{self.api}{path}")
        req.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                code, ctype, body = r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            code, ctype, body = e.code, e.headers.get("Content-Type"), e.read()
        self.assertEqual(code, status, f"GET {path}: {code} {body[:300]!r}")
        doc = json.loads(body)
        if status >= 400:
            self.assertEqual(ctype, "application/problem+json", path)
            self.assertEqual(doc["status"], status, path)
            self.assertTrue(doc.get("detail"), path)
        return doc

    def write_events(self, name, events):
        path = self.path(name)
        with open(path, "w") as f:
            for e in events:
                f.write(json.dumps(e) + "\n")
        return path

    def fixtures(self, t0):
        web, db = cref(A, WEB), cref(B, DB)
        a = []
        # minute 0: 5 exec info (2 of them nc), minute 10: 2 exec warning
        for i in range(5):
            a.append(execv(t0 + i * 10**9, "nc" if i < 2 else "ls", container=web))
        for i in range(2):
            a.append(execv(t0 + 10 * MIN + i, "cat", "warning", container=web))
        # minute 1: east-west to the database 3 times, out to example.com 4 times
        for i in range(3):
            a.append(net(t0 + MIN + i, web, "10.0.0.1", "10.0.0.2", 5432))
        for i in range(4):
            a.append(net(t0 + MIN + 10 + i, web, "10.0.0.1", "93.184.216.34", 443,
                         name="example.com"))
        # the latest config (by its time) is privileged; an older one is not
        a.append({"kind": "config", "time_ns": t0 + 2 * MIN, "severity": "info",
                  "container": web, "config": {
                      "privileged": True, "host_pid": True, "user_uid": 0,
                      "cap_add": ["SYS_ADMIN"],
                      "mounts": [{"source": "/var/run/docker.sock",
                                  "target": "/var/run/docker.sock"},
                                 {"source": "/data", "target": "/data"}]}})
        a.append({"kind": "config", "time_ns": t0 + MIN, "severity": "info",
                  "container": web, "config": {"privileged": False, "user_uid": 1000}})
        # a host event (no container), minute 3, error
        a.append(execv(t0 + 3 * MIN, "sshd", "error"))
        # image findings: one repeated, one fixable
        for vid, sev, fix in (("CVE-2024-1", "CRITICAL", "1.2"), ("CVE-2024-2", "HIGH", ""),
                              ("CVE-2024-1", "CRITICAL", "1.2")):
            a.append({"kind": "vuln", "time_ns": t0 + 4 * MIN, "severity": "error",
                      "container": cref(None, WEB),
                      "vuln": {"vuln_id": vid, "package": "openssl", "fixed_version": fix,
                               "vuln_severity": sev, "scanner": "trivy"}})
        b = []
        # the database sees the web's connections twice (inbound on 5432)
        for i in range(2):
            b.append(net(t0 + MIN + 20 + i, db, "10.0.0.2", "10.0.0.1", 5432, inbound=True))
        # and one from outside the fleet
        b.append(net(t0 + 5 * MIN, db, "10.0.0.2", "198.51.100.7", 5432, inbound=True))
        b.append(execv(t0 + 5 * MIN + 1, "nc", "notice", container=db))
        return a, b

    def test_fleet_views(self):
        now = time.time_ns()
        t0 = (now // MIN - 30) * MIN   # half an hour ago, on a minute
        ev_a, ev_b = self.fixtures(t0)
        certs = self.certs("fleet-a", "fleet-b")
        db = self.path("server.db")
        rules = self.path("rules.yaml")
        with open(rules, "w") as f:
            f.write(RULES)
        tok = subprocess.run([harness.BULWARKD, "token", "create", "--role", "viewer", "--name",
                              "t", "--db", db], capture_output=True, text=True, timeout=60)
        self.assertEqual(tok.returncode, 0, tok.stderr)
        self.token = tok.stdout.strip()
        server = self.start_server(certs, db=db, api_listen="127.0.0.1:0", rules=rules)
        m, _ = server.proc.wait_for(API_RE, timeout=30)
        self.api = int(m.group(1))
        agents = [self.start_agent(certs, server, aid, source="replay",
                                   replay_file=self.write_events(f"{aid}.jsonl", evs),
                                   exit_when_drained="true")
                  for aid, evs in (("fleet-a", ev_a), ("fleet-b", ev_b))]
        for ag, evs in zip(agents, (ev_a, ev_b)):
            self.wait_drained(ag, events=len(evs), timeout=120)
        self.assert_exact(server.db, {"fleet-a": len(ev_a), "fleet-b": len(ev_b)})

        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 // 10**9))
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 // 10**9 + 30 * 60))
        rng = f"since={since}&until={until}"

        # ------------------------------------------------------------ stats
        st = self.get(f"/api/v1/stats?{rng}&bucket=1m&top=5")
        self.assertEqual(st["precision"], {"series": "1m", "tops_by_events": "1h",
                                           "tops_by_alerts": "1h"})
        evs = st["events"]
        self.assertEqual(evs["total"], len(ev_a) + len(ev_b))
        self.assertEqual(evs["by_kind"], {"exec": 9, "net": 10, "config": 2, "vuln": 3})
        self.assertEqual(evs["by_severity"],
                         {"info": 17, "warning": 2, "error": 4, "notice": 1})
        self.assertEqual(len(evs["series"]), 30)
        s = evs["series"]
        self.assertEqual((s[0]["total"], s[0]["by_kind"]), (5, {"exec": 5}))
        self.assertEqual((s[1]["total"], s[1]["by_kind"]), (10, {"net": 9, "config": 1}))
        self.assertEqual(s[10]["by_severity"], {"warning": 2})
        self.assertEqual(sum(b["total"] for b in s), evs["total"])
        # alerts: the two nc runs of web (raise + repeat) and one of db
        al = st["alerts"]
        self.assertEqual(al["total"], 3)
        self.assertEqual(al["by_severity"], {"warning": 3})
        self.assertEqual(al["series"][0]["total"], 2)
        self.assertEqual(al["series"][5]["total"], 1)
        top = st["top"]
        self.assertEqual(top["rules"], [{"name": "Test netcat", "count": 3}])
        self.assertEqual(top["hosts_by_events"], [{"name": "host-fleet-a", "count": len(ev_a)},
                                                  {"name": "host-fleet-b", "count": len(ev_b)}])
        # the host event is no image's; the findings name an image, no container
        self.assertEqual(top["images_by_events"], [{"name": WEB, "count": 16},
                                                   {"name": DB, "count": 4}])
        self.assertEqual(top["hosts_by_alerts"], [{"name": "host-fleet-a", "count": 2},
                                                  {"name": "host-fleet-b", "count": 1}])
        self.assertEqual(top["images_by_alerts"], [{"name": WEB, "count": 2},
                                                   {"name": DB, "count": 1}])
        # the default range (the last 24 hours) in minutes: the most allowed
        dflt = self.get("/api/v1/stats?bucket=1m")
        self.assertIn(len(dflt["events"]["series"]), (1440, 1441))
        self.assertEqual(dflt["events"]["total"], evs["total"])
        # hourly buckets hold the same totals; top=1 keeps one
        hr = self.get(f"/api/v1/stats?{rng}&bucket=1h&top=1")
        self.assertEqual(sum(b["total"] for b in hr["events"]["series"]), evs["total"])
        self.assertEqual(len(hr["top"]["hosts_by_events"]), 1)
        # a range of minutes 1..2 only
        r12 = (f"since={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0 // 10**9 + 60))}"
               f"&until={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0 // 10**9 + 180))}")
        self.assertEqual(self.get(f"/api/v1/stats?{r12}&bucket=1m")["events"]["total"], 11)

        # ---------------------------------------------------------- network
        nw = self.get(f"/api/v1/network?{rng}")
        edges = {(e["source"].get("container_id") or e["source"].get("address"),
                  e["destination"].get("container_id") or e["destination"].get("address"),
                  e["port"]): e for e in nw["edges"]}
        self.assertEqual(set(edges), {(A, B, 5432), (A, "93.184.216.34", 443),
                                      ("198.51.100.7", B, 5432)})
        ew = edges[(A, B, 5432)]
        self.assertEqual((ew["count"], ew["by_source"], ew["by_destination"]), (5, 3, 2))
        self.assertEqual(ew["destination"], {"type": "container", "container_id": B,
                                             "image": DB, "hostname": "host-fleet-b"})
        self.assertEqual(ew["protocol"], "tcp")
        out = edges[(A, "93.184.216.34", 443)]
        self.assertEqual(out["count"], 4)
        self.assertEqual(out["destination"], {"type": "external", "address": "93.184.216.34",
                                              "name": "example.com"})
        self.assertEqual(nw["edges"][0]["count"], 5)  # most connections first
        self.assertEqual(edges[("198.51.100.7", B, 5432)]["source"]["type"], "external")
        fs = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 // 10**9 + 60))
        self.assertTrue(ew["first_seen"].startswith(fs), ew["first_seen"])
        # filters: either side; a limit truncates
        self.assertEqual(len(self.get(f"/api/v1/network?{rng}&container={B}")["edges"]), 2)
        self.assertEqual(len(self.get(f"/api/v1/network?{rng}&host=host-fleet-a")["edges"]), 2)

        # each filter (read through the indexes of schema 7) answers exactly
        # the unfiltered answer's edges that have an end it names
        def end(e, host, cid):
            return ((host is None or e.get("hostname") == host) and
                    (cid is None or e.get("container_id") == cid))

        for host, cid in (("host-fleet-a", None), ("host-fleet-b", None), (None, A), (None, B),
                          ("host-fleet-a", A), ("host-fleet-a", B), ("host-fleet-b", A),
                          ("no-such-host", None), (None, "c" * 64)):
            q = "".join(f"&{k}={v}" for k, v in (("host", host), ("container", cid)) if v)
            got = self.get(f"/api/v1/network?{rng}{q}")
            want = [e for e in nw["edges"]
                    if end(e["source"], host, cid) or end(e["destination"], host, cid)]
            self.assertEqual(got["edges"], want, q)
            self.assertEqual(got["total_edges"], len(want), q)
        self.assertEqual(len(self.get(f"/api/v1/network?{rng}&host=host-fleet-b&container={A}")
                             ["edges"]), 0)
        lim = self.get(f"/api/v1/network?{rng}&limit=1")
        self.assertEqual((len(lim["edges"]), lim["truncated"], lim["total_edges"]), (1, True, 3))
        self.assertEqual(nw["precision"], "1h")

        # ------------------------------------------------------- containers
        cl = self.get("/api/v1/containers")
        self.assertEqual([c["container_id"] for c in cl["items"]], [A, B])
        self.assertIsNone(cl["next_page_token"])
        web = self.get(f"/api/v1/containers/{A}")
        self.assertEqual((web["image"], web["runtime"], web["k8s_namespace"], web["hostname"]),
                         (WEB, "containerd", "shop", "host-fleet-a"))
        p = web["posture"]
        self.assertEqual((p["privileged"], p["host_pid"], p["host_network"], p["user_uid"]),
                         (True, True, False, 0))
        self.assertEqual(p["cap_add"], ["SYS_ADMIN"])
        self.assertEqual([m["source"] for m in p["sensitive_mounts"]], ["/var/run/docker.sock"])
        self.assertEqual(web["open_alerts"], 1)
        self.assertEqual(web["vulnerabilities"], {"total": 2, "fixable": 1,
                                                  "by_severity": {"critical": 1, "high": 1}})
        dbc = self.get(f"/api/v1/containers/{B}")
        self.assertIsNone(dbc["posture"])
        self.assertEqual(dbc["vulnerabilities"]["total"], 0)
        page = self.get("/api/v1/containers?page_size=1")
        self.assertEqual(page["next_page_token"], A)
        page2 = self.get(f"/api/v1/containers?page_size=1&page_token={A}")
        self.assertEqual([c["container_id"] for c in page2["items"]], [B])
        self.assertEqual(len(self.get(f"/api/v1/containers?image={DB}")["items"]), 1)
        self.assertEqual(len(self.get("/api/v1/containers?host=host-fleet-a")["items"]), 1)
        self.assertEqual(len(self.get("/api/v1/containers?namespace=other")["items"]), 0)
        self.get("/api/v1/containers/" + "c" * 64, status=404)

        # ------------------------------------------------------------ hosts
        hs = self.get("/api/v1/hosts")["items"]
        self.assertEqual([(h["hostname"], h["agents"], h["recent_events"]) for h in hs],
                         [("host-fleet-a", ["fleet-a"], len(ev_a)),
                          ("host-fleet-b", ["fleet-b"], len(ev_b))])
        for h in hs:
            self.assertIn(h["connected"], (True, False))
            self.assertGreater(h["events_per_second"], 0)
        self.assertEqual([h["hostname"] for h in
                          self.get("/api/v1/hosts?page_size=1&page_token=host-fleet-a")["items"]],
                         ["host-fleet-b"])

        # ------------------------------- the export's text is the event view
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api}/api/v1/export/events?format=native&limit=1000")
        req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            lines = r.read().decode().splitlines()
        self.assertEqual(json.loads(lines[-1])["count"], len(ev_a) + len(ev_b))
        for line in lines[:-1]:
            rec = json.loads(line)
            self.assertEqual(list(rec.items()),
                             list(self.get(f"/api/v1/events/{rec['id']}").items()))

        # ------------------------------------------------ hostile parameters
        for bad in ("/api/v1/stats?bucket=7m", "/api/v1/stats?since=yesterday",
                    f"/api/v1/stats?since={until}&until={since}", "/api/v1/stats?top=0",
                    "/api/v1/stats?top=101", "/api/v1/stats?bucket=1m&since=2020-01-01T00:00:00Z",
                    "/api/v1/stats?bogus=1", "/api/v1/stats?since=%00",
                    "/api/v1/network?limit=5000", "/api/v1/network?limit=-1",
                    "/api/v1/network?container=" + "x" * 300, "/api/v1/network?until=%ff",
                    "/api/v1/containers?page_size=0", "/api/v1/containers?host=a%0ab",
                    "/api/v1/hosts?page_size=100000", "/api/v1/hosts?x=y"):
            self.get(bad, status=400)
        self.get("/api/v1/stats", token="bwk_nope", status=401)
        self.assertTrue(server.proc.running())
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
