"""The pool skeleton both process pools share: checkout, retire, restart, bounded concurrency."""

import json
import os
import threading
import time

import pytest

from flywheel_sandbox.worker_pool import WorkerPool, shared


class Fake:
    """A worker double: what the pool does with workers is under test here, not the workers."""

    def __init__(self, slot):
        self.slot, self.stopped, self.healthy = slot, False, True


def make(size, **kwargs):
    started = []

    def start(slot):
        started.append(slot)
        return Fake(slot)

    pool = WorkerPool(size, start, lambda w: setattr(w, "stopped", True), lambda w: w.healthy, **kwargs)
    return pool, started


def test_workers_start_lazily_and_are_reused():
    pool, started = make(2)
    assert started == []
    with pool.worker() as (first, _):
        pass
    with pool.worker() as (again, _):
        assert again is first
    assert started == [0] and pool.replaced == 0


def test_a_retired_or_dead_worker_is_stopped_and_its_slot_started_afresh():
    pool, started = make(1)
    with pool.worker() as (worker, retire):
        retire()
    assert worker.stopped and pool.replaced == 1
    with pool.worker() as (fresh, _):
        fresh.healthy = False  # died during the job
    assert fresh is not worker and fresh.stopped and fresh.slot == 0
    with pytest.raises(ZeroDivisionError), pool.worker() as (third, _):
        raise ZeroDivisionError("mid-job")  # state unknown after an error: not reused
    assert third.stopped and pool.replaced == 3 and started == [0, 0, 0]


def test_restart_at_once_keeps_a_warm_replacement_ready():
    pool, started = make(1, restart_at_once=True)
    pool.warm()
    with pool.worker() as (_, retire):
        retire()
    assert started == [0, 0] and len(pool.idle_workers()) == 1


def test_at_most_size_jobs_hold_a_worker_and_slots_keep_their_numbers():
    pool, started = make(2)
    holding, most = [], [0]
    lock = threading.Lock()

    def job(_):
        with pool.worker() as (worker, _):
            with lock:
                holding.append(worker.slot)
                most[0] = max(most[0], len(holding))
            time.sleep(0.02)
            with lock:
                holding.remove(worker.slot)
        return worker.slot

    assert set(pool.map(job, list(range(12)))) <= {0, 1}
    assert most[0] <= 2 and sorted(set(started)) == [0, 1]


def test_a_worker_that_cannot_start_frees_its_slot():
    attempts = []

    def start(slot):
        attempts.append(slot)
        if len(attempts) == 1:
            raise OSError("no interpreter")
        return Fake(slot)

    pool = WorkerPool(1, start, lambda w: None)
    with pytest.raises(OSError), pool.worker():
        pass
    with pool.worker() as (worker, _):
        assert worker.slot == 0


def test_close_stops_idle_workers_and_one_in_use_when_it_returns():
    pool, _ = make(2)
    pool.warm()
    idle = pool.idle_workers()
    with pool.worker() as (busy, _):
        pool.close()
    assert all(w.stopped for w in idle) and busy.stopped
    with pytest.raises(RuntimeError, match="closed"), pool.worker():
        pass


def test_shared_makes_one_instance_per_name():
    made = []

    class Closable:
        def close(self):
            pass

    def make_one():
        made.append(1)
        return Closable()

    assert shared("test-pool", make_one) is shared("test-pool", make_one) and made == [1]


def test_two_pools_never_share_a_uid_in_one_process_or_two():
    """Process limits are per uid: two pools on one uid once starved each other (two test workers, or two rounds)."""
    import subprocess
    import sys
    import textwrap

    from flywheel_sandbox import SandboxPool
    from flywheel_sandbox.runner import bwrap_available

    if not bwrap_available() or os.getuid() != 0:
        pytest.skip("needs bubblewrap and root (without root every sandbox runs as the caller)")
    other = textwrap.dedent("""
        import sys
        from flywheel_sandbox import SandboxPool
        with SandboxPool(workers=2) as pool:
            print(sorted(uid for pair in pool._uids for uid in pair), flush=True)
            sys.stdin.read()  # hold the pool until told
    """)
    with SandboxPool(workers=2) as first, SandboxPool(workers=2) as second:
        child = subprocess.Popen([sys.executable, "-c", other], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            theirs = set(json.loads(child.stdout.readline()))
        finally:
            child.communicate("", timeout=60)
        ours = [uid for pool in (first, second) for pair in pool._uids for uid in pair]
        assert len(set(ours)) == len(ours) == 8
        assert not theirs & set(ours) and len(theirs) == 4
        assert first.run("print(1)").stdout.strip() == "1" and second.run("print(2)").stdout.strip() == "2"
    # closed pools give their uids back (another process may lease them the next moment: no re-lease race here)
    assert all(lease._fd is None for pool in (first, second) for lease in pool._leases)
