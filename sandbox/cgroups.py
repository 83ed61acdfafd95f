"""One control group per sandbox: memory, processes and CPU bounded across *all* of a job's processes.

rlimits are per process: a job that forks holds several times RLIMIT_AS, and its tmpfs
files hold memory that no rlimit sees. A cgroup counts every process of the sandbox and
every tmpfs page they write (shmem is charged to the writer's group), so the memory
limit bounds memory and disk together. cgroup v2 (``memory.max``, ``pids.max``,
``cpu.stat``) and v1 (``memory``, ``pids``, ``cpuacct`` hierarchies) are both handled.

Control groups need root (or a delegated subtree). Without them ``Cgroup.create``
returns None and the caller warns once: the per-process rlimits still apply.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "flywheel-sandbox"
_V1_CONTROLLERS = ("memory", "pids", "cpuacct")


def _version() -> int | None:
    if (ROOT / "cgroup.controllers").exists():
        return 2
    if all((ROOT / name / "cgroup.procs").exists() for name in _V1_CONTROLLERS):
        return 1
    return None


def _parent_dirs(version: int) -> list[Path]:
    return [ROOT / GROUP] if version == 2 else [ROOT / name / GROUP for name in _V1_CONTROLLERS]


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


class Cgroup:
    """A named group with a memory and a process limit; ``join()`` runs in a child before exec."""

    def __init__(self, version: int, dirs: list[Path]):
        self.version, self.dirs = version, dirs

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> "Cgroup | None":
        version = _version()
        if version is None or os.geteuid() != 0:
            return None
        try:
            parents = _parent_dirs(version)
            for parent in parents:
                parent.mkdir(exist_ok=True)
            if version == 2:
                _write(ROOT / "cgroup.subtree_control", "+memory +pids +cpu")
                _write(parents[0] / "cgroup.subtree_control", "+memory +pids +cpu")
            dirs = [parent / name for parent in parents]
            for folder in dirs:
                folder.mkdir(exist_ok=True)
            group = cls(version, dirs)
            group.set_limits(memory_bytes, processes)
            return group
        except OSError:
            return None

    def _file(self, controller: str, v1: str, v2: str) -> Path:
        if self.version == 2:
            return self.dirs[0] / v2
        return self.dirs[_V1_CONTROLLERS.index(controller)] / v1

    def set_limits(self, memory_bytes: int, processes: int) -> None:
        if self.version == 1:
            _write(self._file("memory", "memory.limit_in_bytes", ""), str(memory_bytes))
        else:
            _write(self._file("memory", "", "memory.max"), str(memory_bytes))
            _write(self._file("memory", "", "memory.swap.max"), "0")
        _write(self._file("pids", "pids.max", "pids.max"), str(processes))

    def join(self) -> None:
        """Move the calling process into the group (call in a preexec function, before dropping root)."""
        pid = str(os.getpid())
        for folder in self.dirs:
            _write(folder / "cgroup.procs", pid)

    def cpu_seconds(self) -> float:
        """CPU time used by every process ever in the group (monotonic; compare before and after a job)."""
        try:
            if self.version == 1:
                return int(self._file("cpuacct", "cpuacct.usage", "").read_text()) / 1e9
            for line in self._file("cpu", "", "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
        except (OSError, ValueError):
            pass
        return 0.0

    def oom_kills(self) -> int:
        """How many processes the kernel killed for memory in this group so far."""
        try:
            text = self._file("memory", "memory.oom_control", "memory.events").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def kill_all(self, seconds: float = 5.0) -> None:
        """SIGKILL every process in the group until it is empty (a sandbox's namespace dies asynchronously)."""
        import signal

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                pids = [int(pid) for pid in (self.dirs[0] / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)

    def remove(self) -> None:
        """Delete the group once its processes are gone (a few tries: exiting tasks linger briefly)."""
        for _ in range(50):
            try:
                for folder in self.dirs:
                    if folder.exists():
                        folder.rmdir()
                return
            except OSError:
                time.sleep(0.02)


def sweep_stale_groups() -> None:
    """Remove empty groups left by sandboxes of processes that no longer exist (a SIGKILLed run)."""
    version = _version()
    if version is None or os.geteuid() != 0:
        return
    for parent in _parent_dirs(version):
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            owner = folder.name.split("-", 1)[0]
            if folder.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
                try:
                    folder.rmdir()
                except OSError:
                    pass
