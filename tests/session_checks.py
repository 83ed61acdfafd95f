"""Checks over the whole test run, so that it stays fast and clean as the project grows.

- Nothing it started is left running: every process the run starts (servers, engines, daemons,
  sandboxes, DeepSpeed ranks) inherits RUN_MARKER in its environment, so it is found at the end even
  after it left the process tree (daemonized, or orphaned by a killed parent); each one still alive
  fails the run, named with the test during which it appeared.
- SIGTERM or SIGINT to the run ends every child it started at once, then stops the run as Ctrl-C does.
  (A stopped run once ran on for 20 minutes beside the next one: Dagster's handlers had caught SIGTERM.)
- A test over UNMARKED_LIMIT_SECONDS must be marked ``slow``, and the slow set is held against
  SLOW_BUDGET_SECONDS: CI prints its total.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import defaultdict

import psutil
import pytest

from flywheel import process_tree

RUN_MARKER = "FLYWHEEL_TEST_RUN"  # set to a token per test run; every process it starts inherits it
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


def started_by_this_run(ignore: set[int] = frozenset()) -> list[psutil.Process]:
    """Live processes that carry this run's marker: whatever the tests started, in the tree or out of it."""
    token = os.environ.get(RUN_MARKER)
    return marked_processes(RUN_MARKER, token, ignore) if token else []


def marked_processes(key: str, value: str, ignore: set[int] = frozenset()) -> list[psutil.Process]:
    """Live processes whose environment has ``key=value`` (inherited by everything they start)."""
    found = []
    for process in psutil.process_iter():
        if process.pid in ignore:
            continue
        try:
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(key) == value:
                found.append(process)
        except psutil.Error:  # gone, or not ours to read
            continue
    return found


def tagged_environment() -> tuple[dict, str]:
    """An environment for one command a test starts, tagged so that ``left_by`` finds what it leaves running."""
    tag = uuid.uuid4().hex
    return {**os.environ, "FLYWHEEL_TEST_COMMAND": tag}, tag


def left_by(tag: str) -> list[str]:
    """Processes of a command started with ``tagged_environment`` that are still alive, described."""
    return [process_tree.describe(p) for p in marked_processes("FLYWHEEL_TEST_COMMAND", tag)]


# Helpers an interpreter keeps for its whole life and ends at its exit: multiprocessing's resource tracker and
# wandb's service. A child of the run's own process running one of them is the run's, not a test's leftover.
INTERPRETER_HELPERS = ("multiprocessing.resource_tracker", "wandb-core")


def _run_itself() -> set[int]:
    """The test run's own processes: this one, its parents, xdist's workers (they end after the session) and the
    interpreter helpers of this process (they end with it)."""
    me = psutil.Process()
    own = {me.pid, *(p.pid for p in me.parents())}
    return own | {p.pid for p in process_tree.live_descendants() if _is_worker_command(p) or _is_helper_of(p, me.pid)}


def _is_helper_of(process, pid: int) -> bool:
    try:
        return process.ppid() == pid and any(h in " ".join(process.cmdline()[:4]) for h in INTERPRETER_HELPERS)
    except Exception:  # noqa: BLE001 - a process that ended while we looked is not a helper
        return False


def _is_worker_command(process) -> bool:
    try:
        return any("execnet" in part or "xdist" in part for part in process.cmdline()[:4])
    except Exception:  # noqa: BLE001 - a process that ended while we looked is not a worker
        return False


def _end_everything_and_stop(signum, frame):
    process_tree.end_processes(started_by_this_run(ignore={os.getpid()}), grace_seconds=5.0)  # xdist's workers included: the run is over
    raise KeyboardInterrupt  # pytest tears down and reports as after Ctrl-C; the children are already gone


def pytest_configure(config):
    config.pluginmanager.register(_CloseSharedPools(), "flywheel-close-shared-pools")
    if _is_controller(config):
        os.environ[RUN_MARKER] = uuid.uuid4().hex  # xdist's workers, started later, inherit it too
        signal.signal(signal.SIGTERM, _end_everything_and_stop)
        signal.signal(signal.SIGINT, _end_everything_and_stop)
    else:
        # xdist starts its workers with SIGINT ignored, and children inherit an ignored signal: a test that
        # interrupts its child (Ctrl-C handling is tested that way) would find it deaf
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    # every pid new since the last test, ours or not (listing /proc is cheap; reading environments is not):
    # the end of the run looks up only those still alive with the run's marker
    for pid in psutil.pids():
        _first_seen.setdefault(pid, nodeid)


def pytest_sessionstart(session):
    for pid in psutil.pids():
        _first_seen.setdefault(pid, "before the tests")


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
    itself = _run_itself()
    deadline = time.monotonic() + 10.0  # a server stopped by the last teardown may take a moment to exit
    left = started_by_this_run(ignore=itself)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = started_by_this_run(ignore=itself)
    for process in left:
        _problems.append(f"still running after the tests: {process_tree.describe(process)} "
                         f"(appeared during {_first_seen.get(process.pid, 'a test that let it leave the process tree')})")
    process_tree.end_processes(left, grace_seconds=5.0)
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
