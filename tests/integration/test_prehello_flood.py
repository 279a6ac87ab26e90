#!/usr/bin/env python3
"""Issue 9 item 1, second half: streams that hold unfinished Hellos cannot
grow bulwarkd's memory without bound (300 streams x 1 MiB cost 350 MB; at the
default 10,000 connections ~11 GB). Now a Hello frame is at most 64 KiB and
all streams before their Hello share one budget: past it, a stream holding
part of a Hello stops being read and waits.

Two attacks: streams whose length prefix claims a 1 MiB Hello (refused at
once, "frame too large for a hello"), and streams that send 59,000 bytes of
a 60,000-byte Hello and stop there. A real agent streams while they are
held; its throughput is compared with a run before the attack.
BW_PREHELLO_STREAMS and BW_PREHELLO_EVENTS scale it up for a run by hand."""
import os
import socket
import ssl
import struct
import time

import harness

STREAMS = int(os.environ.get("BW_PREHELLO_STREAMS", "300"))
BIG = int(os.environ.get("BW_PREHELLO_BIG", "20"))
EVENTS = int(os.environ.get("BW_PREHELLO_EVENTS", "40000"))
BUDGET_MIB = 16
# Past the budget a stream holds at most a partial TLS record (OpenSSL's
# ~17 KiB read buffer) and one 4 KiB read; with its SSL object, the conn and
# ASan's redzones, 96 KiB each is a generous ceiling. Before the budget each
# of these streams cost ~100 KiB, and with 1 MiB Hellos ~1.2 MiB.
PER_STREAM_KIB = 96
THROUGHPUT_RATIO_MIN = float(os.environ.get("BW_PREHELLO_RATIO_MIN", "0.5"))


class PrehelloFloodTest(harness.BulwarkTest):
    def connect(self, server, certs):
        return harness.tls_connect(server.port, f"{certs}/ca.pem", f"{certs}/agent-holder.pem",
                                   f"{certs}/agent-holder.key", timeout=30)

    def test_unfinished_hellos(self):
        certs = self.certs("holder", "live-base", "live-attack")
        server = self.start_server(certs, handshake_timeout_ms=600000,
                                   max_connections=STREAMS + BIG + 16,
                                   env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:"
                                        "quarantine_size_mb=16"})
        log = server.proc
        base_rate = self.timed_agent(certs, server, "live-base", EVENTS)
        rss_before = log.vm_kib("VmRSS")

        # A length prefix claiming a 1 MiB Hello is refused on its 4 bytes.
        for _ in range(BIG):
            with self.connect(server, certs) as conn:
                port = conn.getsockname()[1]
                harness.send_quiet(conn, struct.pack(">I", 1 << 20) + b"\x0a" * 4096)
                harness.wait_closed(conn)
            log.wait_for(harness.refusal_re(port, r"frame too large for a hello \(limit 65536"),
                         timeout=30)

        # 59,000 bytes of a 60,000-byte Hello, then nothing.
        partial = struct.pack(">I", 60000) + b"\x0a" + b"\x00" * 58999
        held = []
        t0 = time.monotonic()
        for _ in range(STREAMS):
            conn = self.connect(server, certs)
            conn.sendall(partial)
            held.append(conn)
        setup = time.monotonic() - t0
        log.wait_for(r"waits: streams before hello hold \d+ bytes \(budget 16777216\)",
                     timeout=60)
        time.sleep(1)
        rss_held = log.vm_kib("VmRSS")
        attack_rate = self.timed_agent(certs, server, "live-attack", EVENTS)
        rss_peak = max(rss_held, log.vm_kib("VmRSS"))
        self.assertEqual(len(log.find(r"refused: handshake timeout")), 0)
        for conn in held:
            conn.close()

        growth = (rss_held - rss_before) / 1024
        bound = BUDGET_MIB + STREAMS * PER_STREAM_KIB / 1024
        ratio = attack_rate / base_rate
        print(f"pre-hello flood: {STREAMS} streams x 59,000 bytes of Hello held (set up in "
              f"{setup:.1f} s), {BIG} 1 MiB Hellos refused; server RSS {rss_before // 1024} -> "
              f"{rss_held // 1024} MiB (+{growth:.1f}, {1024 * growth / STREAMS:.1f} KiB per "
              f"stream; bound {bound:.0f}), peak with the agent {rss_peak // 1024} MiB; live agent "
              f"{base_rate:.0f} -> {attack_rate:.0f} events/s = {100 * ratio:.1f}% of baseline",
              flush=True)
        self.assertLess(growth, bound, f"server RSS grew {growth:.0f} MiB for {STREAMS} "
                        "unfinished Hellos")
        self.assertGreaterEqual(ratio, THROUGHPUT_RATIO_MIN,
                                f"live agent at {100 * ratio:.0f}% of its baseline")
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
