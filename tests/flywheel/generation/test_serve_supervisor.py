"""The supervisor that every `vllm serve` replica runs under: the server's whole process group dies with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

SUPERVISOR = [sys.executable, "-m", "flywheel.generation.serve_supervisor", "--"]
# A "server" that starts a grandchild of its own, as `vllm serve` starts its engine core, and then waits.
SERVER_WITH_A_CHILD = [sys.executable, "-c",
                       "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; "
                       "time.sleep(300)']); time.sleep(300)"]


def _group_members(group: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, ProcessLookupError):
            continue
    return found


def _wait_for(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_sigterm_to_the_supervisor_ends_the_server_and_what_it_started():
    supervisor = subprocess.Popen([*SUPERVISOR, *SERVER_WITH_A_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        group = int(supervisor.stdout.readline())
        assert _wait_for(lambda: len(_group_members(group)) == 2), "the server and its child should be running"
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=20)
        assert _wait_for(lambda: not _group_members(group)), [p.cmdline() for p in _group_members(group)]
    finally:
        supervisor.kill()
        supervisor.wait()
        supervisor.stdout.close()


def test_a_killed_orchestrator_takes_the_server_group_with_it():
    # The orchestrator (here a shell) starts the supervisor and is then SIGKILLed: no handler of its runs.
    orchestrator = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time; p = subprocess.Popen(sys.argv[1:]); time.sleep(300)",
         *SUPERVISOR, *SERVER_WITH_A_CHILD], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        group = int(orchestrator.stdout.readline())
        assert _wait_for(lambda: len(_group_members(group)) == 2)
        orchestrator.kill()
        orchestrator.wait()
        assert _wait_for(lambda: not _group_members(group)), [p.cmdline() for p in _group_members(group)]
    finally:
        for leftover in _group_members(orchestrator.pid):  # the supervisor, had it failed to notice
            leftover.kill()
        orchestrator.kill()
        orchestrator.wait()
        orchestrator.stdout.close()


def test_the_supervisor_exits_with_the_servers_code_when_the_server_ends():
    finished = subprocess.run([*SUPERVISOR, sys.executable, "-c", "raise SystemExit(7)"], capture_output=True,
                              text=True, timeout=30)
    assert finished.returncode == 7
    assert finished.stdout.strip().isdigit()  # the group id comes first, for the orchestrator
