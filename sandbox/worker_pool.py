"""WorkerPool: up to ``size`` long-lived workers shared by threads, and one process-wide pool per kind.

Both hand-made pools of the project (sandbox slots, sympy workers) share this skeleton: a
job checks a worker out, uses it, and checks it back in; a worker that died or must not
be reused is stopped and its slot started afresh on the next checkout. Slots are numbered,
so a worker can be given per-slot resources (the sandbox's uids). Workers start lazily
unless ``warm`` is called.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

W = TypeVar("W")
T = TypeVar("T")
R = TypeVar("R")


class WorkerPool(Generic[W]):
    """``start(slot)`` makes a worker, ``stop(worker)`` ends it, ``alive(worker)`` says if it may be reused."""

    def __init__(self, size: int, start: Callable[[int], W], stop: Callable[[W], None],
                 alive: Callable[[W], bool] = lambda worker: True, *, restart_at_once: bool = False) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, not {size}")
        self.size, self._start, self._stop, self._alive = size, start, stop, alive
        self._restart_at_once = restart_at_once  # start a replacement when one retires, not at the next checkout
        self._idle: list[tuple[int, W]] = []  # most recently used last: a warm worker is reused first
        self._empty_slots = list(range(size - 1, -1, -1))
        self._changed = threading.Condition()
        self.replaced = 0  # workers stopped because they died or were retired, over the pool's life
        self._closed = False

    def _checkout(self) -> tuple[int, W]:
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the worker pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._empty_slots:
                    slot = self._empty_slots.pop()
                    break
                self._changed.wait()
        try:
            return slot, self._start(slot)
        except BaseException:
            self._release(slot)
            raise

    def _release(self, slot: int) -> None:
        with self._changed:
            self._empty_slots.append(slot)
            self._changed.notify()

    def _checkin(self, slot: int, worker: W, retire: bool) -> None:
        if retire or not self._alive(worker) or self._closed:
            try:
                self._stop(worker)
            except BaseException:
                self._release(slot)
                raise
            if self._closed:
                self._release(slot)
                return
            with self._changed:
                self.replaced += 1
            if not self._restart_at_once:
                self._release(slot)
                return
            try:
                worker = self._start(slot)
            except BaseException:
                self._release(slot)
                raise
        with self._changed:
            self._idle.append((slot, worker))
            self._changed.notify()

    @contextmanager
    def worker(self) -> Iterator[tuple[W, Callable[[], None]]]:
        """A checked-out worker and a ``retire()`` to call when it must not serve again.
        An exception inside the block retires it too: its state is unknown."""
        slot, worker = self._checkout()
        retired = []
        try:
            yield worker, lambda: retired.append(True)
        except BaseException:
            self._checkin(slot, worker, retire=True)
            raise
        self._checkin(slot, worker, retire=bool(retired))

    def warm(self) -> None:
        """Start every worker now, so that no job's deadline pays for a start-up."""
        started = []
        try:
            while True:
                with self._changed:
                    if not self._empty_slots:
                        break
                    slot = self._empty_slots.pop()
                try:
                    started.append((slot, self._start(slot)))
                except BaseException:
                    self._release(slot)
                    raise
        finally:
            with self._changed:
                self._idle.extend(started)
                self._changed.notify_all()

    def idle_workers(self) -> list[W]:
        """The workers waiting for a job now (for inspection: their pids, their health)."""
        with self._changed:
            return [worker for _, worker in self._idle]

    def map(self, function: Callable[[T], R], items: list[T]) -> list[R]:
        """``function`` over ``items`` from up to ``size`` threads, results in order."""
        if len(items) <= 1 or self.size == 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.size) as executor:
            return list(executor.map(function, items))

    def close(self) -> None:
        """Stop the idle workers; a worker checked out now is stopped when it is checked in."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for _, worker in idle:
            self._stop(worker)


_SHARED: dict[str, object] = {}
_SHARED_LOCK = threading.Lock()


def shared(name: str, make: Callable[[], T]) -> T:
    """The process-wide instance called ``name``: made on first use, closed at interpreter exit."""
    with _SHARED_LOCK:
        if name not in _SHARED:
            pool = make()
            atexit.register(pool.close)
            _SHARED[name] = pool
        return _SHARED[name]


def close_shared() -> list[str]:
    """Close every process-wide instance now (a test run's end, before its check that nothing is left running);
    the next ``shared`` call starts a new one. Returns the names closed."""
    with _SHARED_LOCK:
        closing, names = list(_SHARED.values()), sorted(_SHARED)
        _SHARED.clear()
    for pool in closing:
        atexit.unregister(pool.close)
        pool.close()
    return names
