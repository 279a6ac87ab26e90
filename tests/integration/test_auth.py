#!/usr/bin/env python3
"""Acceptance 3: a client without a certificate, with a certificate from
another CA, or whose Hello names another agent's id is refused, the server
logs why (peer address and reason), and a real agent streaming at the same
time still delivers exactly its events."""
import socket
import ssl

import harness

GOOD = "auth-good"
IMPOSTOR = "auth-imp"
EVENTS = 25000
RATE = 2500   # ~10 s of streaming: the refusals happen while it flows


class AuthTest(harness.BulwarkTest):
    def refused_at_tls(self, server, ca, cert=None, key=None):
        """Connects and sends a Hello; returns the local port. Asserts the
        server refuses (at the handshake or by closing) without a Welcome."""
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        lport = sock.getsockname()[1]
        try:
            conn = harness.tls_context(ca, cert, key).wrap_socket(
                sock, server_hostname="127.0.0.1")
        except (ssl.SSLError, ConnectionError):
            sock.close()
            return lport   # refused during the handshake
        with conn:
            harness.send_quiet(conn, harness.frame(harness.hello_payload(GOOD)))
            got = harness.wait_closed(conn)
        if len(got) >= 5:
            self.assertNotEqual(got[4], 0x12, "server answered with a Welcome")
        return lport

    def test_refusals_while_an_agent_streams(self):
        certs = self.certs(GOOD, IMPOSTOR)
        # Another CA, with a certificate for the very same agent id.
        foreign = self.certs(GOOD, directory="foreign-ca")
        server = self.start_server(certs)
        good = self.start_agent(certs, server, GOOD, synthetic_rate=RATE,
                                synthetic_count=EVENTS, exit_when_drained="true")
        good.proc.wait_for(harness.CONNECTED_RE, timeout=60)
        log = server.proc

        # 1. No client certificate.
        port = self.refused_at_tls(server, f"{certs}/ca.pem")
        log.wait_for(harness.refusal_re(port, "tls handshake failed"), timeout=15)

        # 2. A certificate from another CA (even with the right CN).
        port = self.refused_at_tls(server, f"{certs}/ca.pem", f"{foreign}/agent-{GOOD}.pem",
                                   f"{foreign}/agent-{GOOD}.key")
        log.wait_for(harness.refusal_re(port, "tls handshake failed"), timeout=15)

        # 3. A valid certificate whose Hello names another agent: Error{AUTH}.
        with harness.tls_connect(server.port, f"{certs}/ca.pem",
                                 f"{certs}/agent-{IMPOSTOR}.pem",
                                 f"{certs}/agent-{IMPOSTOR}.key") as conn:
            port = conn.getsockname()[1]
            conn.sendall(harness.frame(harness.hello_payload(GOOD)))
            payload = harness.read_frame(conn)
            self.assertIsNotNone(payload, "closed without an Error frame")
            kind, fields = harness.decode_frame(payload)
            self.assertEqual(kind, "error")
            self.assertEqual(fields.get(1), harness.ERROR_AUTH, f"error fields {fields}")
            harness.wait_closed(conn)
        log.wait_for(harness.refusal_re(
            port, f"hello agent_id '{GOOD}' does not match certificate '{IMPOSTOR}'"),
            timeout=15)

        # 4. The same with the real agent binary: it must never get in.
        mark = log.count()
        imp = self.start_agent(certs, server, GOOD, cert_id=IMPOSTOR, name="agent-impostor",
                               spool=self.path("spool-impostor.db"), synthetic_rate=RATE,
                               synthetic_count=1000)
        log.wait_for(f" warn .*hello agent_id '{GOOD}' does not match certificate "
                     f"'{IMPOSTOR}'", timeout=30, start=mark)

        self.assertTrue(good.proc.running(),
                        "the good agent finished before the refusals: nothing was concurrent")
        self.wait_drained(good, events=EVENTS, timeout=180)
        self.assertFalse(imp.proc.find(harness.CONNECTED_RE), "impostor agent got connected")
        self.assert_exact(server.db, {GOOD: EVENTS})
        self.assertTrue(server.proc.running())
        self.stop_server(server)
        self.assert_exact(server.db, {GOOD: EVENTS})


if __name__ == "__main__":
    harness.main()
