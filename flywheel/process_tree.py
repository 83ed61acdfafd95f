"""Every process a command started ends with it: on success, on error and on Ctrl-C or SIGTERM.

A round starts processes that can outlive the stage that started them when something goes wrong
in between: vLLM engine cores and ``vllm serve`` replicas, DeepSpeed ranks, sandbox workers, a judge
server. On a 2-core machine one left behind halves the speed of everything after it. Some of them
start their own session or daemonize, so they drop out of the process group and, once their parent
dies, out of the tree. ``become_subreaper`` keeps them in it: orphans are re-parented to this process
instead of init (Linux's PR_SET_CHILD_SUBREAPER), so ``end_descendants`` finds and ends every one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import psutil

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); True when the kernel agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def describe(process: psutil.Process) -> str:
    """``pid: command line`` (the first 160 characters), or the name when the command line is gone."""
    with contextlib.suppress(psutil.Error):
        command = " ".join(process.cmdline()) or process.name()
        return f"{process.pid}: {command[:160]}"
    return f"{process.pid}: (gone)"


def live_descendants(ignore: set[int] | None = None) -> list[psutil.Process]:
    """This process's descendants that are still running; zombies (already dead) are reaped, not listed."""
    found = []
    for child in psutil.Process().children(recursive=True):
        if ignore and child.pid in ignore:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                _reap(child.pid)
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
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, stubborn = psutil.wait_procs(alive, timeout=grace_seconds)
    for process in stubborn:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(stubborn, timeout=5.0)
    for process in alive:
        _reap(process.pid)
    return ended
