#!/usr/bin/env python3
"""Helper of test_dns_names.py, run in a network namespace of its own
(`unshare --net`): brings lo up, starts dnsmasq on 127.0.0.1:53 answering
the pool's name with 127.0.0.77, listens there on a mining port, and until
the file argv[1] exists keeps resolving the name and opening a connection
to the answer (the agent watches the namespace from its next scan on; the
test waits for a stored connection that carries the name, then stops us)."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_dns_names import MINER_PORTS, POOL, POOL_ADDR, listen_on, resolve  # noqa: E402


def die_with_parent():
    """dnsmasq goes when we go, even when we are killed (PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def main():
    stop = sys.argv[1]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    dns = subprocess.Popen([shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground",
                            "--log-facility=-", "--conf-file=/dev/null", "--pid-file=",
                            "--user=root", "--no-resolv", "--no-hosts", "--bind-interfaces",
                            "--listen-address=127.0.0.1", "--port=53",
                            f"--address=/{POOL}/{POOL_ADDR}"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    pool, port = listen_on(POOL_ADDR, MINER_PORTS)
    print(f"netns listening {POOL_ADDR}:{port}", flush=True)
    conns = []
    deadline = time.monotonic() + 60
    while not os.path.exists(stop) and time.monotonic() < deadline:
        try:
            addrs = resolve(("127.0.0.1", 53), POOL)
        except OSError:
            addrs = []  # dnsmasq not up yet
        if addrs:
            conns.append(socket.create_connection((addrs[0], port)))
            conns.append(pool.accept()[0])
        time.sleep(0.2)  # pacing while the test watches the store, not a sync
    for c in conns:
        c.close()
    dns.terminate()
    dns.wait()


if __name__ == "__main__":
    main()
