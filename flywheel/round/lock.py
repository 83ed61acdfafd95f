"""One run writes a workdir at a time: a lock file that names its holder.

The lock is an ``flock`` on ``<workdir>/.flywheel.lock``, so the kernel releases it on any
exit, SIGKILL included: a lock left by a dead process is simply free and is taken over.
The file records the holder (pid, host, start time, command) for the message a second run
gets. Within one process the lock is re-entrant, so the demo can hold it for a whole run
while each stage it materializes takes it again. ``flock`` is local to one host; on a
shared filesystem across hosts, run rounds through the Dagster deployment instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".flywheel.lock"
_held: dict[Path, int] = {}
_guard = threading.Lock()


class WorkdirBusy(RuntimeError):
    """Another process holds the workdir; the message names it."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return (f"pid {info.get('pid')} on {info.get('host')} (since {info.get('started')}, "
            f"running: {info.get('command')})")


@contextmanager
def workdir_lock(workdir: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold ``workdir``'s lock; wait up to ``wait_seconds`` for another holder, then raise WorkdirBusy."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_NAME
    with _guard:
        if _held.get(path):
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise WorkdirBusy(f"{workdir} is in use by {_holder(path)}; wait for it to finish or stop it") from None
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                              "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "command": " ".join(sys.argv)[:300]}).encode(), 0)
    with _guard:
        _held[path] = 1
    try:
        yield
    finally:
        with _guard:
            _held.pop(path, None)
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
