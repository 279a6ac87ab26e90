"""The dashboard in a real browser (dashboard issue, acceptance 1 and 2).

Starts bulwarkd with its API and the repo's web/ as the dashboard, fills it
through real agents (the synthetic miner scenario for alerts with evidence,
a replay of hostile strings: a command line `<img src=x onerror=alert(1)>`
in a container named `<script>alert(1)</script>`), makes an analyst and a
viewer token with `bulwarkd token create`, and runs dashboard.test.mjs:
Debian's Chromium, headless, driven by puppeteer-core. Screenshots of every
view are left in BW_ARTIFACTS (build/dev/browser-artifacts).
"""

import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE_CID = "6" * 64
HOSTILE_CONTAINER = {"id": HOSTILE_CID, "name": "<script>alert(1)</script>",
                     "image": "evil.example/<b>x</b>:1"}
HOSTILE = [
    {"kind": "config", "severity": "info", "container": HOSTILE_CONTAINER,
     "config": {"privileged": True, "user_uid": 0,
                "mounts": [{"source": "/etc", "target": "/host-etc\"><svg onload=alert(2)>"}]}},
    {"kind": "exec", "severity": "info", "container": HOSTILE_CONTAINER,
     "process": {"pid": 77, "ppid": 1, "uid": 0, "gid": 0, "exe": "/bin/sh", "name": "sh",
                 "cmdline": "<img src=x onerror=alert(1)>", "parent_name": "node",
                 "user": "root"},
     "exec": {"cwd": "/"}},
]


class DashboardTest(harness.BulwarkTest):
    def token(self, db, role):
        out = subprocess.run([harness.BULWARKD, "token", "create", "--role", role, "--name",
                              f"browser-{role}", "--db", db], capture_output=True, text=True,
                             env=harness.child_env(), timeout=60, check=True).stdout
        tok = out.split()[0]
        self.assertTrue(tok.startswith("bwk_"), out)
        return tok

    def api(self, port, path, token):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def test_dashboard(self):
        node_modules = os.environ.get("BW_NODE_MODULES")
        if not node_modules or not os.path.isdir(os.path.join(node_modules, "puppeteer-core")):
            self.fail("puppeteer-core is not installed (the browser.npm_ci test runs npm ci)")
        certs = self.certs("miner1", "hostile1")
        api_port = harness.free_port()
        server = self.start_server(certs, rules=os.path.join(harness.SOURCE_DIR, "rules"),
                                   api_listen=f"127.0.0.1:{api_port}",
                                   web_root=os.path.join(harness.SOURCE_DIR, "web"),
                                   heartbeat_interval_ms=1000)
        replay = self.path("hostile.jsonl")
        with open(replay, "w") as f:
            for ev in HOSTILE:
                f.write(json.dumps(ev) + "\n")
        self.start_agent(certs, server, "miner1", synthetic_scenario="miner")
        self.start_agent(certs, server, "hostile1", source="replay", replay_file=replay)
        analyst = self.token(server.db, "analyst")
        viewer = self.token(server.db, "viewer")

        want = {"Probable cryptojacking", "Crypto miner process", "Shell spawned in a container",
                "Privileged container started"}

        def alerts_in():
            got = self.api(api_port, "/api/v1/alerts?page_size=500", analyst)["items"]
            return want <= {a["rule"] for a in got}
        harness.wait_until(alerts_in, 120, interval=0.5, what="the scenario's alerts")

        def agents_up():
            ags = self.api(api_port, "/api/v1/agents", analyst)["items"]
            return len(ags) == 2 and all(a["connected"] and a.get("stream", {}).get("last_heartbeat")
                                         for a in ags)
        harness.wait_until(agents_up, 60, interval=0.5, what="both agents' heartbeats")

        artifacts = os.environ.get("BW_ARTIFACTS") or self.path("artifacts")
        env = dict(os.environ, BW_URL=f"http://127.0.0.1:{api_port}/", BW_TOKEN_ANALYST=analyst,
                   BW_TOKEN_VIEWER=viewer, BW_ARTIFACTS=artifacts,
                   CHROMIUM=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
        r = subprocess.run(["node", os.path.join(HERE, "dashboard.test.mjs")], env=env,
                           timeout=300, text=True, capture_output=True)
        sys.stderr.write(r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, f"the browser test failed; screenshots in {artifacts}")
        self.stop_server(server, timeout=15)


if __name__ == "__main__":
    harness.main()
