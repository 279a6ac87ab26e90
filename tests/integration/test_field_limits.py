#!/usr/bin/env python3
"""Issue 9 item 7: every field of every message is checked against the one
limits table (include/bulwark/limits.h, docs/protocol.md) by the real
server: a 1 MB cwd or Falco output, a NUL in a host name, a label that is
not UTF-8 and a sequence number of 2^64-1 are each refused with an Error
naming the field (and the event's seq), logged, and nothing of them stored;
a real agent streaming meanwhile loses nothing."""
import re

import harness
from harness import pb_bytes, pb_uint

RAW = "limits-raw"
GOOD = "limits-good"
EVENTS = 20000
RATE = 4000
EPOCH = 0x1234567
ERROR_PROTOCOL = 1


def event(seq, body_field, body):
    return (pb_uint(1, seq) + pb_uint(2, 1_700_000_000_000_000_000) + pb_uint(3, 2)
            + pb_bytes(body_field, body))


def batch(*events):
    return pb_bytes(3, pb_uint(1, EPOCH) + b"".join(pb_bytes(2, e) for e in events))


def hello(hostname=b"raw-host", labels=b""):
    body = (pb_uint(1, 1) + pb_bytes(2, RAW) + pb_bytes(3, hostname) + pb_bytes(4, "raw-test")
            + (pb_bytes(5, labels) if labels else b"") + pb_uint(6, EPOCH))
    return pb_bytes(1, body)


class FieldLimitsTest(harness.BulwarkTest):
    def refused(self, frames, reason, welcome=True):
        """Sends frames (after Hello/Welcome when welcome) and expects an
        Error{PROTOCOL} whose message contains reason, a refusal line in the
        log and the stream closed."""
        c = self.certdir
        conn = harness.tls_connect(self.server.port, f"{c}/ca.pem", f"{c}/agent-{RAW}.pem",
                                   f"{c}/agent-{RAW}.key")
        with conn:
            port = conn.getsockname()[1]
            if welcome:
                conn.sendall(harness.frame(hello()))
                kind, _ = harness.decode_frame(harness.read_frame(conn))
                self.assertEqual(kind, "welcome")
            conn.sendall(b"".join(harness.frame(f) for f in frames))
            payload = harness.read_frame(conn)
            self.assertIsNotNone(payload, f"closed without an Error for {reason!r}")
            kind, fields = harness.decode_frame(payload)
            self.assertEqual((kind, fields.get(1)), ("error", ERROR_PROTOCOL))
            self.assertIn(reason, fields[2].decode())
            harness.wait_closed(conn)
        self.server.proc.wait_for(harness.refusal_re(port, "refused: .*" + re.escape(reason)),
                                  timeout=15)

    def test_every_field_checked(self):
        self.certdir = certs = self.certs(RAW, GOOD)
        self.server = server = self.start_server(certs, max_frame=4 << 20)
        good = self.start_agent(certs, server, GOOD, synthetic_rate=RATE,
                                synthetic_count=EVENTS, exit_when_drained="true")
        good.proc.wait_for(harness.CONNECTED_RE, timeout=60)

        big = b"a" * (1 << 20)
        self.refused([batch(event(1, 10, pb_bytes(1, big)))],
                     "event seq 1: field 'exec.cwd' is 1048576 bytes (limit 4096)")
        self.refused([batch(event(1, 10, pb_bytes(1, "/")),
                            event(2, 16, pb_bytes(1, "falco") + pb_bytes(4, big)))],
                     "event seq 2: field 'external.output' is 1048576 bytes (limit 4096)")
        self.refused([batch(event(1, 12, pb_bytes(2, b"/etc/\x00passwd")))],
                     "event seq 1: field 'file.path' has a nul byte")
        self.refused([hello(hostname=b"web-01\x00evil")],
                     "field 'hello.hostname' has a nul byte", welcome=False)
        self.refused([hello(labels=pb_bytes(5, pb_bytes(1, "team") + pb_bytes(2, b"caf\xe9")))],
                     "field 'hello.labels.extra[0].value' is not valid utf-8", welcome=False)
        self.refused([batch(event(2**64 - 1, 10, pb_bytes(1, "/")))],
                     "batch seqs 18446744073709551615..+0 are not in 1..2^63-1")

        self.wait_drained(good, events=EVENTS, timeout=180)
        self.stop_server(server)
        self.assert_exact(server.db, {GOOD: EVENTS})   # nothing of RAW's was stored


if __name__ == "__main__":
    harness.main()
