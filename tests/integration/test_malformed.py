#!/usr/bin/env python3
"""Acceptance 4: garbage bytes, a length prefix over the limit, a truncated
frame and a frame that is not valid protobuf each close only that connection;
the server keeps running and concurrently streaming agents stay exact."""
import random
import socket
import struct

import harness

AGENTS = ["mal-a1", "mal-a2"]
RAW = "mal-raw"
EVENTS = 25000
RATE = 2500
MAX_FRAME = 1048576


class MalformedTest(harness.BulwarkTest):
    def open_raw(self, hello=True):
        """A TLS connection with a valid certificate; after Hello/Welcome
        when hello is set. Returns (conn, local port)."""
        c = self.certdir
        conn = harness.tls_connect(self.server.port, f"{c}/ca.pem", f"{c}/agent-{RAW}.pem",
                                   f"{c}/agent-{RAW}.key")
        if hello:
            conn.sendall(harness.frame(harness.hello_payload(RAW)))
            payload = harness.read_frame(conn)
            self.assertIsNotNone(payload, "closed instead of answering Hello")
            kind, fields = harness.decode_frame(payload)
            self.assertEqual(kind, "welcome", f"answer to Hello: {kind} {fields}")
        return conn, conn.getsockname()[1]

    def closes(self, data, hello, reason=None):
        conn, port = self.open_raw(hello)
        with conn:
            harness.send_quiet(conn, data)
            harness.wait_closed(conn)
        if reason:
            self.server.proc.wait_for(harness.refusal_re(port, reason), timeout=15)
        self.assertTrue(self.server.proc.running(), "bulwarkd died")

    def test_bad_input_closes_only_that_connection(self):
        self.certdir = certs = self.certs(RAW, *AGENTS)
        self.server = server = self.start_server(certs, max_frame=MAX_FRAME)
        agents = [self.start_agent(certs, server, aid, synthetic_rate=RATE,
                                   synthetic_count=EVENTS, exit_when_drained="true")
                  for aid in AGENTS]
        for a in agents:
            a.proc.wait_for(harness.CONNECTED_RE, timeout=60)

        # Garbage instead of TLS.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            port = s.getsockname()[1]
            s.sendall(b"GET / HTTP/1.1\r\nHost: bulwark\r\n\r\n" + bytes(range(256)))
            harness.wait_closed(s)
        server.proc.wait_for(harness.refusal_re(port, "tls handshake failed"), timeout=15)

        # Garbage inside TLS, after a good Hello.
        garbage = random.Random(20240601).randbytes(4096)
        self.closes(garbage, hello=True, reason="(frame too large|invalid frame)")

        # Length prefix over max_frame, before and after Hello.
        self.closes(struct.pack(">I", 0x7FFFFFFF) + b"x" * 16, hello=False,
                    reason="frame too large")
        self.closes(struct.pack(">I", MAX_FRAME + 1) + b"x" * 16, hello=True,
                    reason="frame too large")

        # Not valid protobuf: a varint that never ends; a field longer than the frame.
        self.closes(harness.frame(b"\xff" * 11), hello=True, reason="invalid frame")
        self.closes(harness.frame(b"\x0a\x05ab"), hello=False, reason="invalid frame")
        # A zero-length frame carries no message.
        self.closes(struct.pack(">I", 0), hello=True, reason="(invalid|zero-length) frame")

        # Truncated: the prefix says 100 bytes, 10 come, then the client closes.
        conn, _ = self.open_raw(hello=True)
        conn.sendall(struct.pack(">I", 100) + b"0123456789")
        conn.close()

        # The server still answers a well-behaved client.
        conn, _ = self.open_raw(hello=True)
        conn.close()
        for a in agents:
            self.assertTrue(a.proc.running(), f"{a.agent_id} finished before the bad input "
                            "was over: nothing was concurrent")
        for a in agents:
            self.wait_drained(a, events=EVENTS, timeout=180)
        self.assert_exact(server.db, {aid: EVENTS for aid in AGENTS})
        self.stop_server(server)
        self.assert_exact(server.db, {aid: EVENTS for aid in AGENTS})


if __name__ == "__main__":
    harness.main()
