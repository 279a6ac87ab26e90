#!/usr/bin/env python3
"""Trivy scans in full (issue 12, item 6), with the real agent and bulwarkd:
reports dropped into the agent's watched trivy directory become vuln,
misconfig and secret events; the artifact (an image, a repository, a file
system) and a jar's path are kept; an SBOM is refused as "not a
vulnerability report"; a secret's value is in no stored row, API answer or
log; the default rules alert on the CRITICAL secrets and misconfiguration;
a container's view counts its image's misconfigurations and secrets."""
import glob
import json
import os
import shutil
import time

import apiclient
import harness

KIND_VULN, KIND_MISCONFIG, KIND_SECRET = 15, 18, 19
FIXTURES = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "trivy")
IMAGE = "registry.example.org/shop:2.4.1"
CID = "5e" * 32
# Values that are in the reports and must be nowhere after: the unstarred
# AWS example secret key and private key of fs-billing-unredacted.json, and
# a context line of repo-shop-config.json's Code.Lines.
SECRETS = [b"wJalrXUtnFEMI", b"bPxRfiCYEXAMPLEKEY", b"MIIEowIBAAKCAQEA7bq98"]


class ScansTest(harness.BulwarkTest):
    def drop(self, directory, name, doc):
        """Writes a report as `.name.tmp` and renames it in, as documented."""
        tmp = os.path.join(directory, f".{name}.tmp")
        with open(tmp, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        os.rename(tmp, os.path.join(directory, name))

    def test_misconfig_secret_sbom_end_to_end(self):
        certs = self.certs("scanner", "node-1")
        rules = self.path("rules")
        shutil.copytree(os.path.join(harness.SOURCE_DIR, "rules"), rules)
        server, port = apiclient.start_api_server(self, certs, rules=rules)
        token = apiclient.make_token(server.db, "viewer", "scans-test")

        # A container of the scanned image runs on node-1.
        ctr = {"kind": "config", "time_ns": time.time_ns(), "container": {
            "id": CID, "name": "shop-1", "image": IMAGE, "runtime": "containerd"},
            "config": {"user_uid": 1000}}
        replay = self.path("node-1.ndjson")
        with open(replay, "w") as f:
            f.write(json.dumps(ctr) + "\n")
        node = self.start_agent(certs, server, "node-1", source="replay", replay_file=replay,
                                exit_when_drained="true")
        self.wait_drained(node, events=1)

        trivy = self.path("trivy")
        os.mkdir(trivy)
        agent = self.start_agent(certs, server, "scanner", source="host", trivy_dir=trivy,
                                 collect_proc="false", collect_net="false",
                                 collect_file="false", collect_resource="false",
                                 collect_config="false")
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)

        with open(os.path.join(FIXTURES, "repo-shop-config.json")) as f:
            shop = json.load(f)
        image = json.loads(json.dumps(shop))
        image["ArtifactName"], image["ArtifactType"] = IMAGE, "container_image"
        image["Metadata"] = {"ImageID": "sha256:" + "ab" * 32, "RepoTags": [IMAGE]}
        self.drop(trivy, "shop-repo.json", shop)
        self.drop(trivy, "shop-image.json", image)
        for name in ("fs-billing-unredacted.json", "sbom-cyclonedx.json", "sbom-spdx.json"):
            with open(os.path.join(FIXTURES, name)) as f:
                self.drop(trivy, name, f.read())

        # shop: 3 failed checks (KSV001 passed) and 2 secrets, twice (repo and
        # image); billing: 1 vulnerability and 2 secrets; the SBOMs nothing.
        want = {KIND_VULN: 1, KIND_MISCONFIG: 6, KIND_SECRET: 6}

        def counts():
            got = dict(harness.db_query(server.db, "SELECT kind, count(*) FROM events e "
                                        "JOIN agents a ON a.id = e.agent "
                                        "WHERE a.agent_id = 'scanner' GROUP BY kind"))
            return got if got == want else None
        harness.wait_until(counts, 60, what=f"scan events {want}")
        agent.proc.wait_for(r"sbom-cyclonedx\.json': skipped, not a vulnerability report: "
                            r"a CycloneDX SBOM", timeout=10)
        agent.proc.wait_for(r"sbom-spdx\.json': skipped, not a vulnerability report: "
                            r"an SPDX SBOM", timeout=10)
        self.assertFalse(agent.proc.find(r"sbom.*malformed"), agent.proc.tail())

        # The events API: the artifact tells the repository's findings from
        # the image's; a jar's path is kept; the secret is redacted.
        mis = apiclient.all_pages(port, "/api/v1/events", token, {"kind": "misconfig"})
        self.assertEqual(len(mis), 6)
        by_art = {}
        for e in mis:
            m = e["misconfig"]
            by_art.setdefault((m["artifact_type"], m["artifact_name"]), set()).add(m["check_id"])
        self.assertEqual(by_art, {
            ("repository", "https://github.com/example-org/shop"): {"DS002", "KSV017",
                                                                    "AVD-AWS-0107"},
            ("container_image", IMAGE): {"DS002", "KSV017", "AVD-AWS-0107"}})
        ksv = next(e for e in mis if e["misconfig"]["check_id"] == "KSV017")
        self.assertEqual((ksv["misconfig"]["target"], ksv["misconfig"]["start_line"],
                          ksv["misconfig"]["finding_severity"], ksv["severity"]),
                         ("deploy/shop.yaml", 18, "HIGH", "error"))
        sec = apiclient.all_pages(port, "/api/v1/events", token, {"kind": "secret"})
        self.assertEqual(len(sec), 6)
        matches = sorted({(e["secret"]["rule_id"], e["secret"]["match_redacted"]) for e in sec})
        self.assertEqual(matches, [("aws-access-key-id", "AWS_ACCESS_KEY_ID=****"),
                                   ("aws-secret-access-key", "****"),
                                   ("github-pat", "GITHUB_TOKEN:****"),
                                   ("private-key", "****")])
        vul = apiclient.all_pages(port, "/api/v1/events", token, {"kind": "vuln"})
        self.assertEqual([(v["vuln"]["vuln_id"], v["vuln"]["pkg_path"], v["vuln"]["artifact_type"],
                           v["vuln"]["artifact_name"]) for v in vul],
                         [("CVE-2021-44228", "app/lib/log4j-core-2.14.1.jar", "filesystem",
                           "/srv/billing")])

        # The container's view counts its image's posture findings.
        c = apiclient.get_json(port, f"/api/v1/containers/{CID}", token)
        self.assertEqual(c["misconfigurations"], {"total": 3, "by_severity": {
            "critical": 1, "high": 2}}, c)
        self.assertEqual(c["secrets"], {"total": 2, "by_severity": {"critical": 2}}, c)

        # The default rules: CRITICAL secrets (per artifact, file and rule)
        # and the CRITICAL misconfiguration (per artifact, file and check).
        def alerts():
            rows = harness.db_query(server.db, "SELECT rule, output FROM alerts")
            n = sum(1 for r in rows if r[0] == "Critical secret found by a scan")
            m = sum(1 for r in rows if r[0] == "Critical misconfiguration found by a scan")
            return rows if (n, m) == (5, 2) else None
        rows = harness.wait_until(alerts, 30, what="5 secret and 2 misconfiguration alerts")
        out = [r[1] for r in rows if r[0] == "Critical secret found by a scan"]
        self.assertTrue(any("AWS_ACCESS_KEY_ID=****" in o and "config/shop.env" in o
                            and IMAGE in o for o in out), out)
        api_alerts = apiclient.call(port, "GET", "/api/v1/alerts", token=token).body

        # The values are nowhere: not in the database (any table, WAL
        # included), the API's answers, or either program's log.
        self.stop_server(server)
        agent.proc.terminate()
        self.assertEqual(agent.proc.wait(30), 0)
        blobs = {"api events": json.dumps(mis + sec + vul).encode(), "api alerts": api_alerts}
        for p in glob.glob(server.db + "*") + glob.glob(self.path("*.log")):
            with open(p, "rb") as f:
                blobs[p] = f.read()
        self.assertIn(b"AWS_ACCESS_KEY_ID=****", blobs["api alerts"])
        for where, data in blobs.items():
            for s in SECRETS:
                self.assertNotIn(s, data, f"{s!r} found in {where}")


if __name__ == "__main__":
    harness.main()
