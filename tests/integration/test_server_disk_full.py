#!/usr/bin/env python3
"""A full disk under bulwarkd's database (hardening issue, item 10): the
failure is logged as a full disk (not "i/o error"), nothing is acked that is
not committed, every event is stored exactly once when space comes back,
and SIGTERM then exits 0 - the failure was recovered. Needs root for a
small tmpfs; skipped otherwise."""
import os
import subprocess
import unittest

import harness


class ServerDiskFullTest(harness.BulwarkTest):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to mount a tmpfs")
        self.mnt = self.path("dbdisk")
        os.makedirs(self.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", self.mnt], check=True)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            subprocess.run(["umount", "-l", self.mnt], check=False)

    def test_full_disk_recovered(self):
        certs = self.certs("df-host")
        db = os.path.join(self.mnt, "server.db")
        server = self.start_server(certs, db=db, rules="")
        # Leave the database a little room, then fill the rest. The tmpfs is
        # large enough for all the events (about 25 MB with the WAL) once
        # the filler goes: a disk too small for them stays full, and the
        # writer rightly keeps failing.
        filler = os.path.join(self.mnt, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
                    st = os.statvfs(self.mnt)
                    if st.f_bavail * st.f_frsize < 3 << 20:
                        break
            except OSError:
                pass
        total = 60000
        agent = self.start_agent(certs, server, "df-host", synthetic_count=total,
                                 synthetic_rate=0, exit_when_drained="true")
        server.proc.wait_for(r"writer: transaction failed: the database's disk is full", 120)
        self.assertFalse(server.proc.find(r"transaction failed: .*i/o error"))
        os.unlink(filler)
        self.wait_drained(agent, total, timeout=300)
        self.stop_server(server, timeout=10)  # exit 0: the failure was recovered
        self.assert_exact(db, {"df-host": total})


if __name__ == "__main__":
    harness.main()
