"""bubblewrap: the command line of one sandbox, the uid it runs as, and whether it works here.

Every sandbox runs as its own unprivileged uid (bwrap as root could still read
/etc/shadow), in fresh namespaces (no network), on a read-only root, /usr and /etc, with
size-capped tmpfs for /work, /tmp and /dev/shm (the only writable places), a read-only /dev, an empty environment,
no capabilities, no nested user namespaces, and the seccomp filter of flywheel_sandbox.seccomp.
Its command runs as PID 1 (``--as-pid-1``) so no bwrap reaper shares the job's uid.

Concurrent one-shot runs each *lease* uids (an flock on a file per uid), so two runs
never share a uid, and a job holding many processes cannot make a neighbour's fork fail.
"""

from __future__ import annotations

import fcntl
import os
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

from flywheel_sandbox import seccomp

SYSTEM_PYTHON = "/usr/bin/python3"  # pyenv interpreters live under /root (mode 0700)
ONE_SHOT_UIDS = range(59000, 60000)
LEASE_DIR = Path(tempfile.gettempdir()) / "flywheel-sandbox-uids"


def argv(tmpfs_bytes: int, seccomp_fd: int, ro_binds: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """bwrap's options up to the command; ``ro_binds`` (source, destination) are mounted before the root turns
    read-only (a mount point cannot be made in it after)."""
    size = str(tmpfs_bytes)
    binds = [arg for source, destination in ro_binds for arg in ("--ro-bind", source, destination)]
    return [
        "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--as-pid-1",
        "--cap-drop", "ALL", "--disable-userns", "--seccomp", str(seccomp_fd),
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--ro-bind", "/etc", "/etc",
        "--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/work",
        "--chdir", "/work", "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/work",
        # bwrap's root is a tmpfs of its own, with no size cap and never emptied between pooled jobs: read-only,
        # so /work, /tmp and /dev/shm (capped, emptied per job) are the only places a job can write
        *binds, "--remount-ro", "/",
    ]


def drop_privileges(uid: int) -> None:
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def preexec(uid: int, processes: int, join_cgroup=None, cpus: set[int] | None = None):
    """Own session, no core files, into the cgroup (as root), then the uid and its process budget (and, given
    ``cpus``, the CPUs it may run on)."""
    def run() -> None:
        os.setsid()
        if cpus:
            os.sched_setaffinity(0, cpus)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if join_cgroup is not None:
            join_cgroup()
        drop_privileges(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))

    return run


class UidLease:
    """Exclusive use of one uid from a range, across processes, until ``release()`` (or exit)."""

    def __init__(self, uids: range = ONE_SHOT_UIDS):
        LEASE_DIR.mkdir(mode=0o700, exist_ok=True)
        start = os.getpid() % len(uids)  # spread concurrent callers over the range
        for offset in range(len(uids)):
            uid = uids[(start + offset) % len(uids)]
            fd = os.open(LEASE_DIR / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError(f"all {len(uids)} sandbox uids are in use")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def available() -> bool:
    """bubblewrap is installed and can start a sandbox with this module's settings."""
    if shutil.which("bwrap") is None:
        return False
    fd = seccomp.program_fd()
    try:
        probe = subprocess.run(argv(16 << 20, fd) + ["/bin/true"], capture_output=True, pass_fds=(fd,),
                               preexec_fn=lambda: drop_privileges(ONE_SHOT_UIDS[0]))
    finally:
        os.close(fd)
    return probe.returncode == 0
