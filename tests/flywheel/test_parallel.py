"""ordered_map: items computed in spawned worker processes come back in the items' order, with the state sent once,
errors raised in the caller, and Ctrl-C left to the parent."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from flywheel.parallel import default_processes, ordered_map

ROOT = Path(__file__).resolve().parents[2]


def where(state, value):
    return state, value * value, os.getpid(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def fails_on_three(state, value):
    if value == 3:
        raise ValueError(f"item {value} is bad")
    return value


@pytest.mark.parametrize("processes", [1, 2])
def test_results_come_back_in_order_with_the_state(processes):
    results = list(ordered_map(where, ((n,) for n in range(12)), processes, state="index"))
    assert [(state, square) for state, square, *_ in results] == [("index", n * n) for n in range(12)]
    pids = {pid for _, _, pid, _ in results}
    if processes == 1:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids and all(ignored for *_, ignored in results)  # workers leave SIGINT to us


def test_an_error_in_a_worker_is_raised_in_the_caller():
    with pytest.raises(ValueError, match="item 3 is bad"):
        list(ordered_map(fails_on_three, ((n,) for n in range(6)), 2))


def test_the_default_is_one_per_usable_cpu_at_most_eight(tmp_path):
    from flywheel.parallel import usable_cpus

    assert default_processes(3) == 3
    assert default_processes(None) == min(8, usable_cpus())
    cores = len(os.sched_getaffinity(0))
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")  # a pod limited to 1.5 CPUs
    assert usable_cpus(v2) == min(cores, 2)
    (v2 / "cpu.max").write_text("max 100000\n")  # no limit
    assert usable_cpus(v2) == cores
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cpus(v1) == cores
    assert usable_cpus(tmp_path / "none") == cores  # no cgroup files: the affinity


def test_workers_end_when_their_stage_is_killed_outright(tmp_path):
    # SIGKILL to the stage's process alone (the OOM killer's way): its workers must not wait on forever
    import subprocess
    import sys

    import psutil

    child = tmp_path / "stage.py"
    child.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from flywheel.parallel import ordered_map\n"
        "from tests.flywheel.test_parallel import slow\n"
        "if __name__ == '__main__':\n"
        "    for _ in ordered_map(slow, ((n,) for n in range(100)), 2):\n"
        "        print('working', flush=True)\n")
    stage = subprocess.Popen([sys.executable, str(child)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert stage.stdout.readline().strip() == "working"  # the workers are up and have done one item
        workers = [w for w in psutil.Process(stage.pid).children() if "spawn_main" in " ".join(w.cmdline())]
        assert len(workers) == 2, [w.cmdline() for w in workers]
        stage.kill()
        stage.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], [w.pid for w in alive]
    finally:
        if stage.poll() is None:
            stage.kill()


def slow(state, value):
    import time

    time.sleep(1)
    return value


def marks(_state, folder, value):
    import time

    (Path(folder) / f"{value}.done").write_text("")
    time.sleep(0.2)
    return value


def test_a_stage_that_stops_early_drops_the_items_not_started(tmp_path):
    results = ordered_map(marks, ((str(tmp_path), n) for n in range(200)), 2)
    assert next(results) == 0
    results.close()  # the stage failed or was interrupted after its first chunk
    done = len(list(tmp_path.glob("*.done")))
    assert done <= 8, done  # what was in flight (2 per process) finished; the other 190-odd never ran
