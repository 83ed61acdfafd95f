"""Bounded-time symbolic comparison in worker processes.

sympy can run for hours on ``9^{9^{9^9}}`` and ``signal.alarm`` only works on the main
thread of the main interpreter, so the slow half of the math checker runs in separate
worker processes. Each comparison has a budget in *CPU seconds of its worker*, read from
/proc while the caller waits: a loaded machine makes the wait longer but never changes
the verdict. A comparison over budget kills its worker (SIGKILL, then reaped) and is
"not shown equal"; the next call starts a fresh worker. The wall clock is only a
backstop (3x the budget + 5 s); a comparison it stops, a worker that cannot start and a
worker that crashes are reported as such (``Outcome``), never as a wrong answer. Workers are plain
subprocesses speaking length-prefixed pickle over pipes, so this works from any thread,
from daemonic processes and under any multiprocessing start method.

Run as ``python -m flywheel_verifiers.math_worker`` it is the worker loop itself.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time

from flywheel_sandbox.worker_pool import WorkerPool, shared

DEFAULT_TIMEOUT_SECONDS = 5.0  # CPU seconds per comparison
EQUAL, DIFFERENT, CPU_LIMIT, WALL_TIMEOUT, ERROR = "equal", "different", "cpu_limit", "wall_timeout", "error"
_TICKS = os.sysconf("SC_CLK_TCK")


def wall_backstop(cpu_seconds: float) -> float:
    return 3 * cpu_seconds + 5.0


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, from /proc (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None
STARTUP_TIMEOUT_SECONDS = 120.0
_WORKER_MEMORY_BYTES = 4 << 30
_HEADER = struct.Struct("!I")


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return None
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _Worker:
    def __init__(self, deadline: float) -> None:
        # The installed package (editable or not) maps flywheel_verifiers to its folder, in every interpreter.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flywheel_verifiers.math_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        ready = _read_exact(self.process.stdout.fileno(), 1, deadline)
        if ready != b"R":
            self.kill()
            raise RuntimeError("math worker did not start before the deadline")

    def compare(self, job: tuple, cpu_seconds: float, deadline: float) -> str:
        """An Outcome; past ``cpu_seconds`` of this worker's CPU time, or past ``deadline``, the worker is killed."""
        payload = pickle.dumps(job)
        try:
            self.process.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return ERROR
        fd, pid = self.process.stdout.fileno(), self.process.pid
        start = _cpu_seconds(pid) or 0.0
        while True:
            ready, _, _ = select.select([fd], [], [], 0.02)
            if ready:
                answer = os.read(fd, 1)
                if answer in (b"1", b"0"):
                    return EQUAL if answer == b"1" else DIFFERENT
                self.kill()
                return ERROR  # the worker crashed, or reported an exception of the checker itself
            used = _cpu_seconds(pid)
            if used is not None and used - start > cpu_seconds:
                self.kill()
                return CPU_LIMIT
            if time.monotonic() > deadline:
                self.kill()
                return WALL_TIMEOUT

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class WorkerStartFailed(RuntimeError):
    """No worker could start: the checker's environment is broken, which says nothing of the answer."""


def _start_worker(slot: int) -> _Worker:
    try:
        return _Worker(time.monotonic() + STARTUP_TIMEOUT_SECONDS)
    except Exception as error:  # an interpreter that is missing, crashes on import or never answers
        raise WorkerStartFailed(f"math worker {slot} did not start: {error}") from error


class MathWorkerPool:
    """Up to ``size`` workers shared by all threads; each comparison has its own deadline."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or max(1, min(4, os.cpu_count() or 1))
        self._pool: WorkerPool[_Worker] = WorkerPool(self.size, _start_worker, _Worker.kill, lambda w: w.alive)

    def warm(self) -> None:
        """Start every worker now, so that no later deadline pays for interpreter start-up."""
        self._pool.warm()

    def idle_workers(self) -> list[_Worker]:
        return self._pool.idle_workers()

    def check(self, job: tuple, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
        """The Outcome of ``job`` within ``timeout`` CPU seconds of a worker (a killed worker is not reused)."""
        try:
            with self._pool.worker() as (worker, _):
                return worker.compare(job, timeout, time.monotonic() + wall_backstop(timeout))
        except WorkerStartFailed:
            return ERROR

    def check_many(self, jobs: list[tuple], timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[str]:
        """Spread ``jobs`` over the workers; each job keeps its own budget."""
        return self._pool.map(lambda job: self.check(job, timeout), jobs)

    def compare(self, job: tuple, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bool:
        """True only when the worker showed the answers equal within ``timeout`` CPU seconds."""
        return self.check(job, timeout) == EQUAL

    def close(self) -> None:
        self._pool.close()


def default_pool() -> MathWorkerPool:
    """The process-wide pool, started on first use and closed at exit."""
    return shared("math-workers", MathWorkerPool)


def _serve() -> None:
    import resource
    import signal

    # Ctrl-C reaches the whole foreground process group: the parent stops the round (and this worker, with it)
    # and says so in one line; a KeyboardInterrupt here would print a traceback of its own under that line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    from flywheel_verifiers.math_equivalence import answers_equivalent

    resource.setrlimit(resource.RLIMIT_AS, (_WORKER_MEMORY_BYTES, _WORKER_MEMORY_BYTES))
    parent = os.getppid()

    def exit_with_parent() -> None:  # stdin EOF covers an idle worker; this covers a busy one
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed by a library may corrupt the reply stream
    replies.write(b"R")
    replies.flush()
    while True:
        header = requests.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        job = pickle.loads(requests.read(_HEADER.unpack(header)[0]))
        try:
            reply = b"1" if answers_equivalent(*job) else b"0"
        except (RecursionError, MemoryError):  # a pathological answer hit a resource bound: not shown equal
            reply = b"0"
        except Exception:  # noqa: BLE001 - a bug in the checker: the caller reports status 'error'
            reply = b"E"
        replies.write(reply)
        replies.flush()


if __name__ == "__main__":
    _serve()
