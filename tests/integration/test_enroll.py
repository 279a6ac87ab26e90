#!/usr/bin/env python3
"""Enrollment and the certificate lifecycle (docs/security.md, "Enrollment"),
with the real binaries on loopback:

1. An agent with a good token makes its key, enrolls, gets a certificate
   whose CN is its agent id (key file 0600) and streams events that are
   stored. The same token again (used up), an expired token, a wrong secret
   and a malformed token are refused with clear reasons, each audited; past
   enroll_failures_per_min the address is refused at once.
2. `bulwarkd agent revoke ID`: the live stream is closed with the reason and
   every later handshake of that agent is refused.
3. Renewal: with a 30 s certificate the agent renews over its stream at two
   thirds of the life, writes the new certificate and key, reconnects with
   them, and no event is lost or doubled. An agent that does not renew loses
   its stream when its certificate ends.
4. SIGHUP with new server certificate files: new connections see the new
   serial while a stream opened before goes on."""
import json
import os
import re
import ssl
import stat
import subprocess
import time

import apiclient
import harness

ERROR_AUTH = 2
ERROR_PROTOCOL = 1
ERROR_LIMIT = 4
FRAME_ERROR = 6
FRAME_ENROLL_REQUEST = 7


def read(path):
    with open(path) as f:
        return f.read()


class EnrollTest(harness.BulwarkTest):
    def cli(self, *args):
        r = subprocess.run([harness.BULWARKD, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, cwd=self.tmp)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def token(self, db, max_uses=1, expires="1h"):
        rc, out, err = self.cli("enroll-token", "create", "--max-uses", str(max_uses),
                                "--expires", expires, "--db", db)
        self.assertEqual(rc, 0, err)
        tok = out.strip()
        self.assertRegex(tok, r"^bwe_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
        return tok

    def token_file(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def start_enroll_server(self, certs, **opts):
        eport = harness.free_port()
        server = self.start_server(certs, enroll_listen=f"127.0.0.1:{eport}",
                                   enroll_ca_cert=f"{certs}/ca.pem",
                                   enroll_ca_key=f"{certs}/ca.key", rules="", **opts)
        server.enroll_port = eport
        return server

    def enroll_agent(self, certs, server, name, token_file, **opts):
        cfg = {"server": server.addr, "enroll_server": f"127.0.0.1:{server.enroll_port}",
               "enroll_token_file": token_file, "tls_ca": f"{certs}/ca.pem",
               "tls_cert": self.path(f"{name}.pem"), "tls_key": self.path(f"{name}.key"),
               "spool": self.path(f"spool-{name}.db"), "hostname": name,
               "source": "synthetic", "reconnect_min_ms": 50, "reconnect_max_ms": 500}
        cfg.update(opts)
        argv = [harness.BULWARK_AGENT] + [f"--{k}={v}" for k, v in cfg.items()]
        return self.spawn(f"agent-{name}", argv)

    def enrolled_id(self, proc):
        m, _ = proc.wait_for(r" info enroll: enrolled as agent (\S+);", timeout=60)
        return m.group(1)

    def cert_field(self, path, what):
        r = subprocess.run(["openssl", "x509", "-in", path, "-noout", what],
                           stdout=subprocess.PIPE, check=True, timeout=30)
        return r.stdout.decode().strip()

    def refused(self, certs, server, name, token_file, reason):
        proc = self.enroll_agent(certs, server, name, token_file, synthetic_count=1,
                                 exit_when_drained="true")
        rc = proc.wait(60)
        self.assertNotEqual(rc, 0, f"{name}: enrolled with a bad token\n{proc.tail()}")
        proc.wait_for(r" error enroll: enrollment failed: refused by the server: "
                      + re.escape(reason), timeout=5)
        self.assertFalse(os.path.exists(self.path(f"{name}.pem")), f"{name}: a certificate")
        self.assertFalse(os.path.exists(self.path(f"{name}.key")), f"{name}: a key was kept")
        self.assert_clean(proc)

    def test_enroll_refusals_and_audit(self):
        certs = self.certs()
        db = self.path("server.db")
        good = self.token(db, max_uses=1)
        t_expired = time.time()
        expired = self.token(db, max_uses=5, expires="200ms")
        wrong = good[:-8] + ("A" if good[-8] != "A" else "B") + good[-7:]
        server = self.start_enroll_server(certs, db=db, api_listen="127.0.0.1:0", web_root="")
        m, _ = server.proc.wait_for(apiclient.API_READY_RE, timeout=30)
        api_port, viewer = int(m.group(1)), apiclient.make_token(db, "viewer", "metrics")

        # 0. The agent authenticates the server first: with another CA it
        # sends nothing (the token, max 1 use, stays unused for step 1).
        tf = self.token_file("good.token", good)
        other = self.certs(directory="other-ca")
        spoofed = self.enroll_agent(certs, server, "spoofed", tf, tls_ca=f"{other}/ca.pem")
        self.assertNotEqual(spoofed.wait(60), 0)
        spoofed.wait_for(r" error enroll: enrollment failed: .*certificate verify failed", timeout=5)
        self.assertFalse(os.path.exists(self.path("spoofed.key")))

        # 1. A good token: key, certificate with CN = agent id, events stored.
        agent = self.enroll_agent(certs, server, "web-1", tf, synthetic_count=500,
                                  exit_when_drained="true")
        aid = self.enrolled_id(agent)
        self.assertRegex(aid, r"^web-1-[0-9a-f]{12}$")
        self.wait_drained(harness.Agent(agent, aid, None), events=500)
        self.assertEqual(self.cert_field(self.path("web-1.pem"), "-subject"), f"subject=CN = {aid}")
        self.assertEqual(stat.S_IMODE(os.stat(self.path("web-1.key")).st_mode), 0o600)
        self.assertEqual(harness.db_agent_counts(db).get(aid), (500, 500, 1, 500))
        self.assertNotIn(good, read(agent.log_path), "the token is in the agent's log")
        server.proc.wait_for(rf" info enroll: \S+: enrolled agent {aid} \(certificate serial ",
                             timeout=5)

        # 2. Refusals, each with its reason.
        self.refused(certs, server, "web-2", tf, "enrollment token is used up (1 of 1 uses)")
        harness.wait_until(lambda: time.time() - t_expired > 0.5, 10, what="token expiry")
        self.refused(certs, server, "web-3", self.token_file("expired.token", expired),
                     "enrollment token has expired")
        self.refused(certs, server, "web-4", self.token_file("wrong.token", wrong),
                     "enrollment token is not valid")
        self.refused(certs, server, "web-5", self.token_file("junk.token", "hello"),
                     "enrollment token is not valid")

        def metrics():
            r = apiclient.call(api_port, "GET", "/metrics", token=viewer)
            body = r.body.decode()
            return ('bulwark_certificates_total{outcome="enrolled"} 1\n' in body and
                    'bulwark_certificates_total{outcome="refused"} 4\n' in body)
        harness.wait_until(metrics, 30, what="the enrollments in /metrics")
        self.stop_server(server)
        audit = harness.db_query(db, "SELECT action, target, detail FROM audit "
                                 "WHERE action LIKE 'agent.enroll%' ORDER BY id")
        self.assertEqual([a for a, _, _ in audit],
                         ["agent.enroll"] + ["agent.enroll_refused"] * 4, audit)
        self.assertEqual(audit[0][1], aid)
        details = [d for _, _, d in audit[1:]]
        self.assertEqual(details, ["enrollment token is used up (1 of 1 uses)",
                                   "enrollment token has expired",
                                   "enrollment token is not valid",
                                   "enrollment token is not valid"])
        for row in audit:
            self.assertNotIn(good.split("_")[2], repr(row), "a secret in the audit trail")
        rc, out, _ = self.cli("enroll-token", "list", "--db", db)
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"\s1/1\s")

    def raw_enroll(self, certs, server, payload):
        """Sends one frame to the enrollment listener (verifying the server,
        presenting no certificate); returns (code, message) of its Error."""
        conn = harness.tls_connect(server.enroll_port, f"{certs}/ca.pem")
        conn.sendall(harness.frame(payload))
        answer = harness.read_frame(conn)
        conn.close()
        self.assertIsNotNone(answer, "closed without an answer")
        (field, _, body), = harness.pb_decode(answer)
        self.assertEqual(field, FRAME_ERROR, answer)
        err = {f: v for f, _, v in harness.pb_decode(body)}
        return err.get(1), err.get(2, b"").decode()

    def test_rate_limit_and_wrong_frames(self):
        certs = self.certs()
        db = self.path("server.db")
        server = self.start_enroll_server(certs, db=db, enroll_failures_per_min=2)

        def request(token):
            return harness.pb_bytes(FRAME_ENROLL_REQUEST, harness.pb_bytes(1, token)
                                    + harness.pb_bytes(2, "junk") + harness.pb_bytes(3, "raw"))
        # anything but an EnrollRequest on the enrollment listener
        code, msg = self.raw_enroll(certs, server, harness.hello_payload("x"))
        self.assertEqual((code, msg), (ERROR_PROTOCOL, "expected an enrollment request on the "
                                                       "enrollment listener"))
        # a request that is not PEM: refused before the token is redeemed
        good = self.token(db)
        code, msg = self.raw_enroll(certs, server, request(good))
        self.assertEqual((code, msg), (ERROR_PROTOCOL, "certificate request is not pem pkcs#10"))
        # two failures a minute from this address; the third is refused unchecked
        code, msg = self.raw_enroll(certs, server, request("bwe_nope"))
        self.assertEqual((code, msg), (ERROR_AUTH, "enrollment token is not valid"))
        code, msg = self.raw_enroll(certs, server, request(good))
        self.assertEqual(code, ERROR_LIMIT, msg)
        self.assertRegex(msg, r"^too many failed enrollments from this address; retry in \d+ s$")
        server.proc.wait_for(r" warn conn: 127\.0\.0\.1:\d+: refused: too many failed enrollments",
                             timeout=5)
        self.stop_server(server)
        rc, out, _ = self.cli("enroll-token", "list", "--db", db)
        self.assertRegex(out, r"\s0/1\s", "a refused request used the token")

    def test_revoke(self):
        certs = self.certs()
        db = self.path("server.db")
        server = self.start_enroll_server(certs, db=db, revocation_poll_ms=200,
                                          heartbeat_interval_ms=300)
        tf = self.token_file("t.token", self.token(db))
        agent = self.enroll_agent(certs, server, "rev", tf, synthetic_rate=500)
        aid = self.enrolled_id(agent)
        agent.wait_for(harness.CONNECTED_RE, timeout=60)
        self.wait_rows(db, 200, timeout=60)
        # the agent's health carries its certificate's end (AgentHealth 30)
        end = self.cert_field(self.path("rev.pem"), "-enddate")  # notAfter=Mar  7 ... GMT
        want = time.strftime("%Y-%m-%dT%H:%M:%S", time.strptime(end.split("=", 1)[1],
                                                                "%b %d %H:%M:%S %Y %Z"))

        def health():
            rows = harness.db_query(db, "SELECT health FROM agents WHERE agent_id = ?", (aid,))
            return rows and rows[0][0] and json.loads(rows[0][0]).get("cert_not_after")
        got = harness.wait_until(health, 30, what="health with cert_not_after")
        self.assertTrue(got.startswith(want), f"cert_not_after {got}, certificate ends {want}")

        rc, _, err = self.cli("agent", "revoke", aid, "--db", db)
        self.assertEqual(rc, 0, err)
        server.proc.wait_for(rf" warn enroll: agent {re.escape(aid)} is revoked", timeout=30)
        server.proc.wait_for(rf" warn conn: \S+ {re.escape(aid)}: refused: agent '{aid}' is "
                             "revoked", timeout=30)
        agent.wait_for(rf"server error {ERROR_AUTH}: agent '{re.escape(aid)}' is revoked",
                       timeout=30)
        # every reconnect is refused at the handshake, with the reason
        mark = server.proc.count()
        server.proc.wait_for(rf" warn conn: \S+: refused: agent '{re.escape(aid)}' is revoked",
                             timeout=30, start=mark)
        # a raw TLS client with the certificate hears why
        conn = harness.tls_connect(server.port, f"{certs}/ca.pem", self.path("rev.pem"),
                                   self.path("rev.key"))
        payload = harness.read_frame(conn)
        self.assertIsNotNone(payload, "closed without an Error frame")
        kind, fields = harness.decode_frame(payload)
        self.assertEqual((kind, fields.get(1)), ("error", ERROR_AUTH), fields)
        conn.close()
        agent.terminate()
        agent.wait(30)
        self.stop_server(server)
        audit = harness.db_query(db, "SELECT target FROM audit WHERE action = 'agent.revoke'")
        self.assertEqual(audit, [(aid,)])

    def test_renewal(self):
        certs = self.certs()
        db = self.path("server.db")
        events = 6000
        server = self.start_enroll_server(certs, db=db, cert_lifetime="30s")
        tf = self.token_file("t.token", self.token(db))
        agent = self.enroll_agent(certs, server, "ren", tf, synthetic_rate=200,
                                  synthetic_count=events, exit_when_drained="true")
        aid = self.enrolled_id(agent)
        first = self.cert_field(self.path("ren.pem"), "-serial")
        key1 = read(self.path("ren.key"))
        agent.wait_for(harness.CONNECTED_RE, timeout=60)
        # two thirds of 30 s: renewed over the stream, then a reconnect with it
        _, i = agent.wait_for(r" info shipper: renewed the certificate \(valid for ", timeout=60)
        agent.wait_for(harness.CONNECTED_RE, timeout=60, start=i + 1)
        second = self.cert_field(self.path("ren.pem"), "-serial")
        self.assertNotEqual(first, second)
        self.assertNotEqual(read(self.path("ren.key")), key1, "the key was not renewed")
        self.assertEqual(stat.S_IMODE(os.stat(self.path("ren.key")).st_mode), 0o600)
        self.assertEqual(self.cert_field(self.path("ren.pem"), "-subject"), f"subject=CN = {aid}")
        server.proc.wait_for(rf" info enroll: \S+: renewed agent {aid} ", timeout=5)
        self.wait_drained(harness.Agent(agent, aid, None), events=events, timeout=120)
        self.assertEqual(harness.db_agent_counts(db).get(aid), (events, events, 1, events))
        self.stop_server(server)

    def test_expired_certificate_ends_the_stream(self):
        """An agent that does not renew (renew_at 0) loses its stream when its
        certificate ends, and cannot connect again."""
        certs = self.certs()
        db = self.path("server.db")
        server = self.start_enroll_server(certs, db=db, cert_lifetime="10s",
                                          heartbeat_interval_ms=300)
        tf = self.token_file("t.token", self.token(db))
        agent = self.enroll_agent(certs, server, "old", tf, synthetic_rate=50, renew_at=0)
        aid = self.enrolled_id(agent)
        agent.wait_for(harness.CONNECTED_RE, timeout=60)
        server.proc.wait_for(rf" warn conn: \S+ {re.escape(aid)}: refused: agent certificate has "
                             "expired", timeout=60)
        agent.wait_for(rf"server error {ERROR_AUTH}: agent certificate has expired", timeout=30)
        mark = server.proc.count()
        server.proc.wait_for(r" warn conn: \S+: refused: tls handshake failed: .*certificate has "
                             r"expired", timeout=30, start=mark)
        self.assertNotIn(" info shipper: renew", read(agent.log_path))
        agent.terminate()
        agent.wait(30)
        self.stop_server(server)

    def test_sighup_reloads_server_certificate(self):
        certs = self.certs("hup")
        server = self.start_server(certs, rules="")
        old = self.open_welcomed(server, certs, "hup")
        serial1 = old.getpeercert()["serialNumber"]

        # a new server certificate from the same CA, swapped in atomically
        sub = self.path("new")
        os.makedirs(sub)
        ext = os.path.join(sub, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                    "extendedKeyUsage = serverAuth\n")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bulwarkd-new",
                        "-keyout", f"{sub}/server.key", "-out", f"{sub}/server.csr"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "x509", "-req", "-in", f"{sub}/server.csr", "-CA",
                        f"{certs}/ca.pem", "-CAkey", f"{certs}/ca.key", "-set_serial",
                        "0x5e1f", "-days", "2", "-extfile", ext, "-out", f"{sub}/server.pem"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(f"{sub}/server.key", f"{certs}/server.key")
        os.replace(f"{sub}/server.pem", f"{certs}/server.pem")
        mark = server.proc.count()
        server.proc.signal(1)  # SIGHUP
        server.proc.wait_for(r" info server: SIGHUP: reloaded TLS certificate, key and CA",
                             timeout=30, start=mark)

        conn = harness.tls_connect(server.port, f"{certs}/ca.pem", f"{certs}/agent-hup.pem",
                                   f"{certs}/agent-hup.key")
        self.assertEqual(conn.getpeercert()["serialNumber"], "5E1F")
        self.assertNotEqual(serial1, "5E1F")
        conn.close()
        # the stream opened before the reload goes on: a heartbeat is echoed
        hb = harness.pb_bytes(5, harness.pb_uint(1, 12345))
        old.sendall(harness.frame(hb))
        payload = harness.read_frame(old)
        self.assertIsNotNone(payload, "the old stream was closed by the reload")
        kind, _ = harness.decode_frame(payload)
        self.assertEqual(kind, "heartbeat")
        old.close()
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
