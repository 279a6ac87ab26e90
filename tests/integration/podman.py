"""podman.py - real containers for the integration tests (stdlib only).

Debian's podman with runc: crun refuses hosts with hybrid cgroups, so the
tests write their own containers.conf (CONTAINERS_CONF, nothing system-wide
is changed) that picks runc and the cgroupfs manager, and lowers the default
ulimits (nofile/nproc 4096; a container may not raise them above the host's).
The one image is imported from the host's busybox-static binary (tar |
podman import, no registry): /bin/busybox plus a link per applet, and fake
credentials where attackers look (a service-account token, root's AWS
credentials). Its tag hashes the binary and this layout (FILES, LAYOUT), so
building it is idempotent and a new busybox or layout makes a new image. Containers run with --network none (loopback only: no CNI, no
iptables) and are named with a per-test prefix, removed at cleanup.

Images and containers live in podman's default root store
(/var/lib/containers/storage), which is where the agent looks for a podman
container's name and image. Needs root; tests skip without it."""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest

BUSYBOX = "/bin/busybox"
LAYOUT = "2"   # bump when the image's contents change
DIRS = ("bin", "tmp", "etc", "proc", "sys", "dev", "root", "root/.aws", "var", "var/run",
        "var/run/secrets", "var/run/secrets/kubernetes.io",
        "var/run/secrets/kubernetes.io/serviceaccount", "run")
FILES = {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
         "etc/group": "root:x:0:\n",
         "var/run/secrets/kubernetes.io/serviceaccount/token": "fake-token-for-tests\n",
         "root/.aws/credentials": "[default]\naws_access_key_id = AKIAFAKEFORTESTS\n"}
CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class Podman:
    """podman with the tests' containers.conf, and the busybox image."""

    def __init__(self, workdir):
        if os.geteuid() != 0:
            raise unittest.SkipTest("real containers need root (podman with runc)")
        for tool in ("podman", "runc"):
            if not shutil.which(tool):
                raise AssertionError(f"{tool} not found: deploy/install-deps.sh installs it")
        if not os.access(BUSYBOX, os.X_OK):
            raise AssertionError(f"{BUSYBOX} not found: install busybox-static")
        self.workdir = workdir
        self.conf = os.path.join(workdir, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf)
        self.names = []
        with open(BUSYBOX, "rb") as f:
            h = hashlib.sha256(f.read() + LAYOUT.encode())
        self.image = "localhost/bulwark-busybox:" + h.hexdigest()[:16]

    def __call__(self, *args, check=True, timeout=120, **kw):
        """Runs podman ARGS; returns its stdout (str)."""
        r = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
        return r.stdout

    def ensure_image(self):
        """Imports the busybox image unless it is there already; returns its name."""
        if subprocess.run(["podman", "image", "exists", self.image], env=self.env).returncode == 0:
            return self.image
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        tar_path = os.path.join(self.workdir, "busybox-rootfs.tar")
        with tarfile.open(tar_path, "w") as tar:
            for d in DIRS:
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(ti)
            tar.add(BUSYBOX, "bin/busybox")
            for a in applets:
                if a == "busybox" or "/" in a:
                    continue
                ti = tarfile.TarInfo(f"bin/{a}")
                ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(ti)
            for name, text in FILES.items():
                data = text.encode()
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
        with open(tar_path, "rb") as f:
            self("import", "--change", "CMD=/bin/sh", "-", self.image, stdin=f)
        os.unlink(tar_path)
        return self.image

    def run(self, name, *cmd, privileged=False, extra=()):
        """Starts a detached container NAME running CMD; returns its id."""
        self.names.append(name)
        args = ["run", "-d", "--network", "none", "--name", name]
        if privileged:
            args.append("--privileged")
        return self(*args, *extra, self.image, *cmd).strip()

    def exec(self, name, *cmd, detach=False, check=True):
        """Runs CMD in container NAME (podman exec); returns its stdout."""
        return self("exec", *(["-d"] if detach else []), name, *cmd, check=check)

    def pid(self, name):
        """The host pid of the container's first process."""
        return int(self("inspect", "-f", "{{.State.Pid}}", name).strip())

    def cleanup(self):
        for n in self.names:
            self("rm", "-f", "-t", "0", n, check=False, timeout=60)
        self.names = []


def tmp_podman(test):
    """A Podman for a harness.BulwarkTest, cleaned up with it."""
    p = Podman(tempfile.mkdtemp(prefix="podman-", dir=test.tmp))
    test.addCleanup(p.cleanup)
    return p
