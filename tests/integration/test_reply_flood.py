#!/usr/bin/env python3
"""Issue 9 item 1: clients that send Heartbeats and never read the replies
cannot grow bulwarkd's memory nor starve a real agent. Each reply used to
cost a >= 4 KiB buffer and a write request while the 8 MiB cap counted ~34
bytes of it (one client: 9 MB -> 1.16 GB in 1.7 s). Now the server stops
reading a peer whose unsent output passes its cap, says so, and closes it
if it never reads.

The flooders reconnect when closed, so the attack lasts the whole measured
run of a real agent; its throughput is compared with a run of the same
agent before the attack. BW_FLOODERS and BW_FLOOD_EVENTS scale it up for a
run by hand."""
import os
import socket
import statistics
import ssl
import threading
import time

import harness

FLOODERS = int(os.environ.get("BW_FLOODERS", "2"))
EVENTS = int(os.environ.get("BW_FLOOD_EVENTS", "40000"))
ROUNDS = int(os.environ.get("BW_FLOOD_ROUNDS", "2"))
# Each flooder may hold its output cap (256 KiB), one read of input and its
# TLS buffers; allocator slack and ASan's quarantine come on top.
FLOOD_GROWTH_MAX_MIB = 8 + 8 * FLOODERS
# With a live agent beside them its batches, arenas and the writer queue too.
RSS_GROWTH_MAX_MIB = 48 + 8 * FLOODERS
THROUGHPUT_RATIO_MIN = float(os.environ.get("BW_FLOOD_RATIO_MIN", "0.5"))

HEARTBEAT = harness.frame(harness.pb_bytes(5, harness.pb_uint(1, 1)))


class Flooder(threading.Thread):
    """Connects as agent_id, then sends Heartbeats and reads nothing; when the
    server closes the stream it connects again, until stopped."""

    def __init__(self, test, server, certs, agent_id):
        super().__init__(name=f"flood-{agent_id}", daemon=True)
        self.test, self.server, self.certs, self.agent_id = test, server, certs, agent_id
        self.stopping = threading.Event()
        self.sent = self.connects = 0
        self.conn = None
        self.error = None

    def run(self):
        chunk = HEARTBEAT * 4096
        try:
            while not self.stopping.is_set():
                self.conn = self.test.open_welcomed(self.server, self.certs, self.agent_id)
                self.conn.settimeout(None)
                self.connects += 1
                while not self.stopping.is_set():
                    try:
                        self.conn.sendall(chunk)
                    except (ssl.SSLError, OSError):
                        break
                    self.sent += len(chunk)
                self.conn.close()
        except Exception as e:  # reported by the test, not lost in the thread
            if not self.stopping.is_set():
                self.error = e

    def stop(self):
        self.stopping.set()
        if self.conn:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(30)


class ReplyFloodTest(harness.BulwarkTest):
    def attack(self, server, certs, ids, rss_before):
        """Starts the flooders, waits until each is paused, runs a live agent
        beside them, stops them. Returns (agent events/s, peak RSS KiB, MiB sent)."""
        log = server.proc
        flooders = [Flooder(self, server, certs, aid) for aid in ids]
        peak = [rss_before]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                peak[0] = max(peak[0], log.vm_kib("VmRSS"))
                # Fail early rather than let a regression eat the machine.
                if peak[0] - rss_before > 4 * RSS_GROWTH_MAX_MIB * 1024:
                    for f in flooders:
                        f.stopping.set()
                time.sleep(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = log.count()
        for f in flooders:
            f.start()
        for aid in ids:
            log.wait_for(rf"{aid}: not reading its replies \(\d+ bytes unsent\): reading paused",
                         timeout=60, start=start)
        time.sleep(0.5)
        flood_only = (log.vm_kib("VmRSS") - rss_before) / 1024  # before the agent adds its own
        self.round += 1
        rate = self.timed_agent(certs, server, f"live-attack-{self.round}", EVENTS)
        # The stall limit closes a flooder that never reads, with a clear line.
        if ids:
            log.wait_for(r"closed: peer has not read its replies for 3000 ms", timeout=30,
                         start=start)
        for f in flooders:
            f.stop()
        sampling.set()
        sampler.join(10)
        for f in flooders:
            self.assertIsNone(f.error, f"{f.name}: {f.error!r}")
        return rate, peak[0], sum(f.sent for f in flooders) / 2**20, flood_only

    def test_flood_without_reading(self):
        ids = [f"flood-{i}" for i in range(FLOODERS)]
        live = [f"live-{k}-{r}" for r in range(1, ROUNDS + 1) for k in ("base", "attack")]
        certs = self.certs(*live, *ids)
        # idle_timeout_ms also bounds how long a peer may leave its replies unread.
        server = self.start_server(certs, idle_timeout_ms=3000,
                                   env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:"
                                        "quarantine_size_mb=16"})
        log = server.proc
        self.round = 0
        base, attacked, peaks, flood_only, sent = [], [], [], [], 0.0
        hwm_before = None
        for r in range(1, ROUNDS + 1):
            # Alternate: the machine is shared, a ratio of neighbours is fairer.
            base.append(self.timed_agent(certs, server, f"live-base-{r}", EVENTS))
            rss_before = log.vm_kib("VmRSS")
            hwm_before = hwm_before or log.vm_hwm_kib()
            rate, peak, mib, only = self.attack(server, certs, ids, rss_before)
            flood_only.append(only)
            attacked.append(rate)
            peaks.append((peak - rss_before) / 1024)
            sent += mib
        hwm_after = log.vm_hwm_kib()
        ratio = statistics.median(attacked) / statistics.median(base)
        growth = max(peaks)
        print(f"reply flood: {FLOODERS} flooders sent {sent:.0f} MiB of heartbeats; server RSS "
              f"growth with the flooders paused {', '.join(f'{p:.1f}' for p in flood_only)} MiB, "
              f"with the live agent too {', '.join(f'{p:.1f}' for p in peaks)} MiB, VmHWM "
              f"{hwm_before // 1024} -> {hwm_after // 1024} MiB; live agent "
              f"{statistics.median(base):.0f} -> {statistics.median(attacked):.0f} events/s "
              f"(median of {ROUNDS}) = {100 * ratio:.1f}% of baseline; rounds base {[round(b) for b in base]} attacked {[round(a) for a in attacked]}", flush=True)
        self.assertGreater(sent, 1, "the flooders sent almost nothing: no attack")
        self.assertLess(max(flood_only), FLOOD_GROWTH_MAX_MIB,
                        f"server RSS grew {max(flood_only):.0f} MiB with the flooders alone")
        self.assertLess(growth, RSS_GROWTH_MAX_MIB,
                        f"server RSS grew {growth:.0f} MiB under the reply flood")
        self.assertLess((hwm_after - hwm_before) / 1024, RSS_GROWTH_MAX_MIB)
        self.assertGreaterEqual(ratio, THROUGHPUT_RATIO_MIN,
                                f"live agent at {100 * ratio:.0f}% of its baseline")
        self.stop_server(server)


if __name__ == "__main__":
    harness.main()
