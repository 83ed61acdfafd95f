"""Runs one server command and guarantees that it, and every process it starts, dies with us.

`vllm serve` starts an engine-core process and workers of its own. Killing only the API
server (what PR_SET_PDEATHSIG would do when the orchestrator is SIGKILLed) leaves those
running. So the orchestrator starts this small supervisor instead; it puts the server in a
new process group, prints the group id, and then watches: when its parent goes away (the
orchestrator was killed), on SIGTERM/SIGINT (a normal stop), or when the server exits, it
kills the whole group and exits.

    python -m flywheel.generation.serve_supervisor -- <command> [args...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 10.0


def _kill_group(server: subprocess.Popen) -> None:
    group = server.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        server.poll()  # reap our own child, or its zombie keeps the group alive
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    parent = os.getppid()
    server = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
    print(server.pid, flush=True)  # the group id, for an orchestrator that must kill it itself
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    try:
        while not stopping and os.getppid() == parent and server.poll() is None:
            time.sleep(0.25)
    finally:
        _kill_group(server)
        server.wait()
    return server.returncode if server.returncode is not None else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
