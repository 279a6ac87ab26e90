#!/usr/bin/env python3
"""One stream per agent: a newer stream with the same agent id replaces the
older one (the older gets Error{REPLACED} and is closed), and nothing is lost
or stored twice on either side of the replacement.

1. A stale stream (a host that vanished without closing its connection: a
   Hello, a Welcome, then silence) is replaced when the real agent connects.
2. While the real agent streams, another stream claims its id: the agent's
   stream is replaced, the agent reconnects (replacing the intruder in turn)
   and resumes from the committed seq; every event is stored exactly once."""
import harness

AGENT = "rep-a"
EVENTS = 30000
RATE = 3000   # ~10 s of streaming: the takeover happens while it flows
ERROR_REPLACED = 6


class ReplacedTest(harness.BulwarkTest):
    def raw_stream(self, certs, server):
        """A TLS stream with AGENT's certificate that has sent its Hello and
        read its Welcome."""
        conn = harness.tls_connect(server.port, f"{certs}/ca.pem", f"{certs}/agent-{AGENT}.pem",
                                   f"{certs}/agent-{AGENT}.key")
        conn.sendall(harness.frame(harness.hello_payload(AGENT, epoch=0x5151)))
        payload = harness.read_frame(conn)
        self.assertIsNotNone(payload, "closed before the Welcome")
        kind, _ = harness.decode_frame(payload)
        self.assertEqual(kind, "welcome")
        return conn

    def assert_replaced(self, conn):
        """The stream's next frame is Error{REPLACED}, then it is closed."""
        payload = harness.read_frame(conn, timeout=30)
        self.assertIsNotNone(payload, "closed without an Error frame")
        kind, fields = harness.decode_frame(payload)
        self.assertEqual(kind, "error")
        self.assertEqual(fields.get(1), ERROR_REPLACED, f"error fields {fields}")
        harness.wait_closed(conn)
        conn.close()

    def test_stale_and_intruding_streams(self):
        certs = self.certs(AGENT)
        server = self.start_server(certs)
        log = server.proc

        # 1. A stale stream holds the id; the real agent takes over.
        stale = self.raw_stream(certs, server)
        agent = self.start_agent(certs, server, AGENT, synthetic_rate=RATE,
                                 synthetic_count=EVENTS, exit_when_drained="true")
        log.wait_for(rf" info conn: \S+ {AGENT}: replaced by a new stream from ", timeout=60)
        self.assert_replaced(stale)
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60)

        # 2. An intruder with the same id while events flow.
        self.wait_rows(server.db, 3000, timeout=60)
        mark = log.count()
        agent_mark = agent.proc.count()
        intruder = self.raw_stream(certs, server)
        log.wait_for(rf" info conn: \S+ {AGENT}: replaced by a new stream from ", timeout=30,
                     start=mark)
        # The agent reconnects on its own and, in turn, replaces the intruder.
        agent.proc.wait_for(harness.CONNECTED_RE, timeout=60, start=agent_mark)
        self.assert_replaced(intruder)
        self.assertTrue(agent.proc.running() or db_has_all(server.db),
                        "the agent stopped before delivering everything")

        self.wait_drained(agent, events=EVENTS)
        self.stop_server(server)
        self.assert_exact(server.db, {AGENT: EVENTS})
        # The stale and intruding streams sent no events; only their Hellos.
        self.assertEqual(harness.db_total(server.db), EVENTS)


def db_has_all(db):
    return harness.db_total(db) >= EVENTS


if __name__ == "__main__":
    harness.main()
