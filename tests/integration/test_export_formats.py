#!/usr/bin/env python3
"""Export formats against the published schemas (issue 13, acceptance 5):
real events of every kind and real alerts, ingested by a real bulwarkd and
exported through /api/v1/export with format=ecs and format=ocsf. Every ECS
field emitted must exist in ECS 8.11 with the right type; every OCSF record
must carry every attribute its class (and each object in it) requires in
OCSF 1.1.0. The native and the converted exports hold the same records in
the same order, and the cursor of one format resumes the others."""
import collections

import harness
import siem


class ExportFormatsTest(harness.BulwarkTest):
    def test_ecs_and_ocsf_conform(self):
        certs = self.certs("siem-mixed", "siem-miner", "siem-scans")
        server = self.start_server(certs, rules=siem.rules_dir(self), api_listen="127.0.0.1:0")
        port = siem.api_port(server)
        tok = siem.token(server.db)
        siem.ingest_all_kinds(self, certs, server)

        native, ncur = siem.export(port, tok, "events", "native")
        kinds = collections.Counter(r["kind"] for r in native)
        for k in ("exec", "net", "file", "resource", "config", "vuln", "external", "misconfig",
                  "secret"):
            self.assertIn(k, kinds, f"no {k} events ingested: {kinds}")
        alerts, _ = siem.export(port, tok, "alerts", "native")
        self.assertGreater(len(alerts), 0, "the miner scenario raised no alerts")

        fields = siem.ecs_fields()
        schema = siem.ocsf_schema()
        for what, base in (("events", native), ("alerts", alerts)):
            ecs, ecur = siem.export(port, tok, what, "ecs")
            ocsf, ocur = siem.export(port, tok, what, "ocsf")
            self.assertEqual(len(ecs), len(base))
            self.assertEqual(len(ocsf), len(base))
            self.assertEqual([int(d["event"]["id"]) for d in ecs], [r["id"] for r in base])
            probs = collections.Counter()
            for d in ecs:
                probs.update(siem.ecs_problems(d, fields))
            self.assertFalse(probs, f"ECS {what}: {dict(probs.most_common(10))}")
            classes = collections.Counter()
            for r in ocsf:
                probs.update(siem.ocsf_problems(r, schema))
                classes[r["class_uid"]] += 1
            self.assertFalse(probs, f"OCSF {what}: {dict(probs.most_common(10))}")
            if what == "events":
                for uid in (1007, 4001, 1001, 2002, 2003, 2004):
                    self.assertIn(uid, classes, f"no OCSF class {uid}: {classes}")
            else:
                self.assertEqual(set(classes), {2004})
            # The cursor is the same whatever the format.
            self.assertEqual(ecur, ocur)
        self.assertEqual(ecur if False else ncur, siem.export(port, tok, "events", "ecs")[1])

        # A bad format is a 400 problem, not a stream.
        try:
            siem.export(port, tok, "events", "cef")
            self.fail("format=cef accepted")
        except harness_http_error() as e:
            self.assertEqual(e.code, 400)
        self.stop_server(server)


def harness_http_error():
    import urllib.error
    return urllib.error.HTTPError


if __name__ == "__main__":
    harness.main()
