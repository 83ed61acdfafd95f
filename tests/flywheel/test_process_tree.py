"""Every process a command started ends with it: descendants in sessions of their own and ones that ignore
SIGTERM included. Run in a child interpreter, so that the test run's own workers are not its descendants."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil

# Starts a grandchild in a session of its own that ignores SIGTERM, and a plain child; then ends them all.
PROBE = r"""
import json, subprocess, sys, time
from flywheel import process_tree
stubborn = subprocess.Popen([sys.executable, "-c",
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); time.sleep(300)"],
    start_new_session=True)
plain = subprocess.Popen(["sleep", "300"])
while len(process_tree.live_descendants()) < 3:
    time.sleep(0.05)
pids = [p.pid for p in process_tree.live_descendants()]
ended = process_tree.end_descendants(grace_seconds=1.0)
print(json.dumps({"pids": pids, "ended": ended, "left": [p.pid for p in process_tree.live_descendants()]}))
"""


def test_every_descendant_ends_even_one_in_its_own_session_that_ignores_sigterm():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert len(found["pids"]) == 3 and found["left"] == []
    assert any("sleep 300" in line for line in found["ended"])
    assert not [pid for pid in found["pids"] if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
