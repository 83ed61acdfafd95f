"""Bounded-time symbolic comparison in worker processes.

sympy can run for hours on ``9^{9^{9^9}}`` and ``signal.alarm`` only works on the main
thread of the main interpreter, so the slow half of the math checker runs in separate
worker processes. A call that overruns its deadline kills its worker (SIGKILL, then
reaped) and returns False; the next call starts a fresh one. Workers are plain
subprocesses speaking length-prefixed pickle over pipes, so this works from any thread,
from daemonic processes and under any multiprocessing start method.

Run as ``python -m verifiers.math_worker`` it is the worker loop itself.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_TIMEOUT_SECONDS = 5.0
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
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "verifiers.math_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        ready = _read_exact(self.process.stdout.fileno(), 1, deadline)
        if ready != b"R":
            self.kill()
            raise RuntimeError("math worker did not start before the deadline")

    def compare(self, job: tuple, deadline: float) -> bool | None:
        """The worker's answer, or None when it overran ``deadline`` (the worker is then dead)."""
        payload = pickle.dumps(job)
        try:
            self.process.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return None
        answer = _read_exact(self.process.stdout.fileno(), 1, deadline)
        if answer is None:
            self.kill()
            return None
        return answer == b"1"

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


class MathWorkerPool:
    """Up to ``size`` workers shared by all threads; each comparison has its own deadline."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or max(1, min(4, os.cpu_count() or 1))
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._started = 0
        self._lock = threading.Lock()

    def _checkout(self, deadline: float) -> _Worker:
        with self._lock:
            if self._idle.empty() and self._started < self.size:
                self._started += 1
                create = True
            else:
                create = False
        if create:
            try:
                return _Worker(deadline)
            except Exception:
                with self._lock:
                    self._started -= 1
                raise
        return self._idle.get()

    def _checkin(self, worker: _Worker) -> None:
        if worker.alive:
            self._idle.put(worker)
        else:
            with self._lock:
                self._started -= 1

    def warm(self) -> None:
        """Start every worker now, so that no later deadline pays for interpreter start-up."""
        started = []
        while True:
            with self._lock:
                if self._started >= self.size:
                    break
                self._started += 1
            try:
                started.append(_Worker(time.monotonic() + STARTUP_TIMEOUT_SECONDS))
            except Exception:
                with self._lock:
                    self._started -= 1
                raise
        for worker in started:
            self._idle.put(worker)

    def compare(self, job: tuple, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bool:
        """The worker's verdict on ``job``, or False when it takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            worker = self._checkout(deadline)
        except RuntimeError:  # could not even start a worker before the deadline
            return False
        try:
            return bool(worker.compare(job, deadline))
        finally:
            self._checkin(worker)

    def compare_many(self, jobs: list[tuple], timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[bool]:
        """Spread ``jobs`` over the workers; each job keeps its own deadline."""
        if len(jobs) <= 1 or self.size == 1:
            return [self.compare(job, timeout) for job in jobs]
        with ThreadPoolExecutor(self.size) as executor:
            return list(executor.map(lambda job: self.compare(job, timeout), jobs))

    def close(self) -> None:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            worker.kill()
        with self._lock:
            self._started = 0


_DEFAULT_POOL: MathWorkerPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> MathWorkerPool:
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None:
            _DEFAULT_POOL = MathWorkerPool()
            atexit.register(_DEFAULT_POOL.close)
        return _DEFAULT_POOL


def _serve() -> None:
    import resource

    from verifiers.math_equivalence import answers_equivalent

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
            verdict = answers_equivalent(*job)
        except (Exception, RecursionError, MemoryError):  # noqa: BLE001 - any failure is "not shown equal"
            verdict = False
        replies.write(b"1" if verdict else b"0")
        replies.flush()


if __name__ == "__main__":
    _serve()
