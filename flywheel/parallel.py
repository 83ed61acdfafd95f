"""ordered_map: a stream of work items computed in worker processes, handed back in the stream's order.

The CPU stages (select, decontaminate) read a round as a stream of chunks whose work depends on nothing outside
the chunk; their order-dependent part (writing, deduplicating against what came before) stays in the stage's own
process. So the output is the same row for row on any number of processes.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from flywheel.process_tree import die_with_parent

_state = None  # a worker's read-only state (an index, a config), sent once when the worker starts


def _start_worker(parent: int, state) -> None:
    global _state
    die_with_parent(parent)  # a stage killed outright (OOM, SIGKILL) takes its workers with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle; the pool ends with it
    _state = state


def _call(fn: Callable, item: tuple):
    return fn(_state, *item)


def ordered_map(fn: Callable, items: Iterable[tuple], processes: int, state=None) -> Iterator:
    """``fn(state, *item)`` for each item, in the items' order, in ``processes`` spawned processes side by side
    (in this one when 1). ``state`` goes to each worker once. At most two items per process are in flight, so
    memory follows the chunk, not the stream. ``fn`` must be a module-level function (it is sent by name)."""
    if processes <= 1:
        for item in items:
            yield fn(state, *item)
        return
    # spawn, not fork: the stages hold DuckDB connections and their threads in this process
    context = multiprocessing.get_context("spawn")
    workers = ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker,
                                  initargs=(os.getpid(), state))
    try:
        pending: deque = deque()
        for item in items:
            pending.append(workers.submit(_call, fn, item))
            if len(pending) >= 2 * processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # also when the stage stops early (an error, Ctrl-C): what was not started is dropped, not run
        workers.shutdown(wait=True, cancel_futures=True)


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its affinity, bounded by its cgroup's CPU quota (a Kubernetes pod's limit:
    on a 64-core node a pod limited to 2 CPUs gets 2, not 64; cgroup v2's cpu.max or v1's cfs quota)."""
    cpus = len(os.sched_getaffinity(0))
    quota = None
    with contextlib.suppress(OSError, ValueError):
        limit, period = (cgroup / "cpu.max").read_text().split()[:2]
        quota = None if limit == "max" else int(limit) / int(period)
    if quota is None:
        with contextlib.suppress(OSError, ValueError):
            limit = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
            quota = None if limit <= 0 else limit / int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def default_processes(configured: int | None) -> int:
    """``configured``, or one per CPU this process may use (``usable_cpus``), at most 8."""
    return configured or min(8, usable_cpus())
