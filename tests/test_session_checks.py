"""The test run's own checks (tests/session_checks.py), each tried on a small pytest run of its own:
a process a test leaves running fails the run by name, SIGTERM ends every child at once, and a slow
test without the ``slow`` mark fails the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _pytest(tmp_path: Path, body: str, **popen) -> subprocess.Popen:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.session_checks",
                             "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def test_a_process_left_running_fails_the_run_and_is_named(tmp_path):
    run = _pytest(tmp_path, """
        import subprocess
        def test_leaves_a_daemon_behind():
            # double fork: the sleeper's parent exits, so it leaves the process tree; the run's marker still finds it
            subprocess.run(["sh", "-c", "sleep 317 & exit 0"], check=True)
        def test_cleans_up_after_itself():
            subprocess.run(["sleep", "0.1"], check=True)
    """)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 1, out
    assert "2 passed" in out
    line = next(line for line in out.splitlines() if "still running after the tests" in line)
    assert "sleep 317" in line and "test_leaves_a_daemon_behind" in line
    deadline = time.monotonic() + 10  # killed at the run's end; on a loaded machine it can take a moment to go
    # 317 s, a length no other test's sleeper has: the other test worker may have its own `sleep 300` running
    while any("sleep 317" in " ".join(p.cmdline()) for p in psutil.process_iter() if _alive(p)):
        assert time.monotonic() < deadline, "the check ends what it found"
        time.sleep(0.2)


def test_sigterm_to_the_run_ends_every_child_within_seconds(tmp_path):
    marker = tmp_path / "started"
    run = _pytest(tmp_path, f"""
        import pathlib, subprocess, time
        def test_starts_servers():
            servers = [subprocess.Popen(["sleep", "600"]), subprocess.Popen(["sleep", "600"], start_new_session=True)]
            pathlib.Path({str(marker)!r}).write_text(" ".join(str(s.pid) for s in servers))
            time.sleep(600)
    """)
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and run.poll() is None, run.stdout.read() if run.poll() is not None else ""
        time.sleep(0.2)
    children = [psutil.Process(int(pid)) for pid in marker.read_text().split()]
    stopped = time.monotonic()
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=max(0.1, 30 - (time.monotonic() - stopped)))
    assert alive == [], [p.pid for p in alive]
    assert run.returncode != 0


def test_an_unmarked_test_over_the_limit_fails_the_run(tmp_path):
    run = _pytest(tmp_path, """
        import pytest, tests.session_checks as checks
        checks.UNMARKED_LIMIT_SECONDS = 0.5
        def test_takes_its_time():
            import time; time.sleep(1.0)
        @pytest.mark.slow
        def test_marked_slow():
            import time; time.sleep(1.0)
    """, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 1, out
    assert "test_takes_its_time took 1 s, over 0 s: mark it slow" in out
    assert "test_marked_slow took" not in out
    assert "slow set: 1 tests" in out


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_each_test_worker_computes_on_its_share_of_the_cores():
    """Two xdist workers on 2 cores, each with torch's default of one thread per core, spin-waited on each other
    (a small training loop: 11.5 s side by side against 1.1 s with one thread each). The conftest gives each
    worker, and what it starts, its share; a user's own OMP_NUM_THREADS is left alone."""
    probe = ("import tests.conftest, torch, subprocess, sys, os; print(torch.get_num_threads(), "
             "os.environ.get('VLLM_CPU_OMP_THREADS_BIND'), subprocess.run([sys.executable, '-c', "
             "'import torch; print(torch.get_num_threads())'], capture_output=True, text=True).stdout.strip())")
    # a fresh environment: the worker's own may carry what earlier tests or the libraries they imported set (in
    # one CI run torch in the probe saw 2 threads with the inherited one; not reproduced here)
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    share = max(1, (os.cpu_count() or 1) // 2)
    two_workers = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                                 env={**clean, "PYTEST_XDIST_WORKER_COUNT": "2"}, timeout=120)
    assert two_workers.stdout.split() == [str(share), "nobind", str(share)], two_workers.stderr[-2000:]
    users_own = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                               env={**clean, "PYTEST_XDIST_WORKER_COUNT": "4", "OMP_NUM_THREADS": "2"}, timeout=120)
    assert users_own.stdout.split() == ["2", "None", "2"], users_own.stderr[-2000:]
