"""Every process a command started ends with it: on success, on error and on Ctrl-C or SIGTERM.

A round starts processes that can outlive the stage that started them when something goes wrong
in between: vLLM engine cores and ``vllm serve`` replicas, DeepSpeed ranks, sandbox workers, a judge
server. On a 2-core machine one left behind halves the speed of everything after it. Several start
their own session (so a signal to the process group misses them), but they stay this process's
descendants while it lives: ``end_descendants``, called as the command ends, ends every one.

Not a child subreaper (PR_SET_CHILD_SUBREAPER): orphans it adopted would stay zombies until reaped, and
a sandbox's zombies count against its uid's process limit (its jobs then fail to fork).
"""

from __future__ import annotations

import contextlib
import os

import psutil


def die_with_parent(parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies (PR_SET_PDEATHSIG; strictly, when the parent's thread that
    started it ends), so a parent killed outright, by the OOM killer or SIGKILL, leaves no worker behind: a trainer
    rank, a CPU stage's worker. Called in the child, first thing (or before exec). ``parent``: the pid the child
    was started by, when the parent passed it (a parent that died before this call has been replaced already)."""
    import ctypes
    import signal

    parent = parent or os.getppid()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent was already gone before the signal was armed
        os._exit(1)


def describe(process: psutil.Process) -> str:
    """``pid: command line`` (the first 160 characters), or the name when the command line is gone."""
    with contextlib.suppress(psutil.Error):
        command = " ".join(process.cmdline()) or process.name()
        return f"{process.pid}: {command[:160]}"
    return f"{process.pid}: (gone)"


def live_descendants(ignore: set[int] | None = None) -> list[psutil.Process]:
    """This process's descendants that are still running (not zombies: those are dead, their parent reaps them)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        if ignore and child.pid in ignore:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        found.append(child)
    return found


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def end_descendants(grace_seconds: float = 10.0, ignore: set[int] | None = None) -> list[str]:
    """SIGTERM every live descendant, SIGKILL whatever is left after ``grace_seconds``; returns who was ended."""
    alive = live_descendants(ignore)
    ended = [describe(p) for p in alive]
    end_processes(alive, grace_seconds)
    return ended


def end_processes(processes: list[psutil.Process], grace_seconds: float = 10.0) -> None:
    """SIGTERM ``processes``, SIGKILL whatever is left after ``grace_seconds``, and reap those that were children."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, stubborn = psutil.wait_procs(processes, timeout=grace_seconds)
    for process in stubborn:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(stubborn, timeout=5.0)
    for process in processes:
        _reap(process.pid)
