"""Checks over the whole test run, so that it stays fast and clean as the project grows.

- Nothing it started is left running: every process the run starts (servers, engines, daemons,
  sandboxes, DeepSpeed ranks) is found at the end, even one that daemonized (the run is a child
  subreaper); each one still alive fails the run, named with the test during which it appeared.
- SIGTERM or SIGINT to the run ends every child it started at once, then stops the run as Ctrl-C does.
  (A stopped run once ran on for 20 minutes beside the next one: Dagster's handlers had caught SIGTERM.)
- A test over UNMARKED_LIMIT_SECONDS must be marked ``slow``, and the slow set is held against
  SLOW_BUDGET_SECONDS: CI prints its total.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict

import pytest

from flywheel import process_tree

UNMARKED_LIMIT_SECONDS = 60.0
SLOW_BUDGET_SECONDS = 20 * 60.0

_first_seen: dict[int, str] = {}  # pid -> the test during which it first appeared
_seconds: dict[str, float] = defaultdict(float)  # nodeid -> setup + call + teardown
_slow: set[str] = set()
_started = time.monotonic()
_problems: list[str] = []


def _is_controller(config) -> bool:
    """Not an xdist worker: the controller (or a plain run) sees every worker's reports and processes."""
    return not hasattr(config, "workerinput")


def _xdist_workers() -> set[int]:
    """xdist's own worker processes (they end after the session): not the tests' doing."""
    return {p.pid for p in process_tree.live_descendants() if _is_worker_command(p)}


def _is_worker_command(process) -> bool:
    try:
        return any("execnet" in part or "xdist" in part for part in process.cmdline()[:4])
    except Exception:  # noqa: BLE001 - a process that ended while we looked is not a worker
        return False


def _end_everything_and_stop(signum, frame):
    process_tree.end_descendants(grace_seconds=5.0)
    raise KeyboardInterrupt  # pytest tears down and reports as after Ctrl-C; the children are already gone


def pytest_configure(config):
    config.pluginmanager.register(_CloseSharedPools(), "flywheel-close-shared-pools")
    process_tree.become_subreaper()
    if _is_controller(config):
        signal.signal(signal.SIGTERM, _end_everything_and_stop)
        signal.signal(signal.SIGINT, _end_everything_and_stop)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    for process in process_tree.live_descendants():
        _first_seen.setdefault(process.pid, nodeid)


class _CloseSharedPools:
    """The library's process-wide pools (sandbox zygotes, math workers) live until exit by design: each process of
    the run (the controller, or an xdist worker before it reports its end) closes them first thing at the session's
    end, as a session fixture's teardown would, so that what the check below finds is what a test forgot."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        from flywheel_sandbox.worker_pool import close_shared

        close_shared()


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] += report.duration
    if "slow" in report.keywords:
        _slow.add(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if not _is_controller(session.config):
        return
    workers = _xdist_workers()
    deadline = time.monotonic() + 10.0  # a server stopped by the last teardown may take a moment to exit
    left = process_tree.live_descendants(ignore=workers)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = process_tree.live_descendants(ignore=workers)
    for process in left:
        _problems.append(f"still running after the tests: {process_tree.describe(process)} "
                         f"(appeared during {_first_seen.get(process.pid, 'the session')})")
    if left:
        process_tree.end_descendants(ignore=workers)
    too_slow = sorted((seconds, nodeid) for nodeid, seconds in _seconds.items()
                      if seconds > UNMARKED_LIMIT_SECONDS and nodeid not in _slow)
    for seconds, nodeid in too_slow:
        _problems.append(f"{nodeid} took {seconds:.0f} s, over {UNMARKED_LIMIT_SECONDS:.0f} s: mark it slow")
    if _problems and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _is_controller(config):
        return
    slow_total = sum(_seconds[nodeid] for nodeid in _slow)
    write = terminalreporter.write_line
    terminalreporter.section("test run budget")
    write(f"slow set: {len(_slow)} tests, {slow_total:.0f} s of its {SLOW_BUDGET_SECONDS:.0f} s budget"
          f"{'  OVER BUDGET' if slow_total > SLOW_BUDGET_SECONDS else ''}")
    write(f"all tests: {len(_seconds)}, {sum(_seconds.values()):.0f} s of test time; "
          f"wall time {time.monotonic() - _started:.0f} s")
    by_module: dict[str, float] = defaultdict(float)
    for nodeid, seconds in _seconds.items():
        by_module[nodeid.split("::")[0]] += seconds
    write("slowest modules (s): " + ", ".join(f"{module} {seconds:.0f}" for seconds, module in
                                             sorted(((s, m) for m, s in by_module.items()), reverse=True)[:15]))
    for problem in _problems:
        terminalreporter.write_line(f"FAILED (session check): {problem}", red=True)
    if os.environ.get("FLYWHEEL_DURATIONS_FILE"):  # CI keeps the per-test table for the next comparison
        with open(os.environ["FLYWHEEL_DURATIONS_FILE"], "w") as out:
            for nodeid, seconds in sorted(_seconds.items(), key=lambda item: -item[1]):
                out.write(f"{seconds:.2f}\t{'slow' if nodeid in _slow else 'fast'}\t{nodeid}\n")
