"""Hostile programs in every language, compiled and run in the sandbox (flywheel_sandbox.programs): one per attack
class, each contained (tests/sandbox/attacks_by_language.py says what each tries)."""

import os
import socket
import threading
import time

import psutil
import pytest

from flywheel_sandbox import Limits
from flywheel_sandbox.programs import run_io_program
from flywheel_sandbox.runner import bwrap_available
from tests.sandbox.attacks_by_language import ATTACKS, SLEEPER

pytestmark = pytest.mark.skipif(not bwrap_available() or os.geteuid() != 0,
                                reason="bubblewrap as root is needed (make setup installs it)")


@pytest.fixture
def targets(tmp_path):
    """What the attacks aim at on the host: a file with a secret, a folder anyone may write, a listening port."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the expected outputs 31337\n")
    secret.chmod(0o644)
    tmp_path.chmod(0o755)
    folder = tmp_path / "open"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted = []

    def accept():
        while listener.fileno() >= 0:
            try:
                accepted.append(listener.accept())
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield {"read_host": str(secret), "write_outside": str(folder), "network": str(listener.getsockname()[1])}, \
        folder, accepted
    listener.close()


def _sleepers(token: str) -> list[psutil.Process]:
    return [process for process in psutil.process_iter(["cmdline"]) if token in (process.info["cmdline"] or [])]


@pytest.mark.parametrize("language,attack", [(language, attack) for language, attacks in sorted(ATTACKS.items())
                                             for attack in sorted(attacks)])
def test_hostile_program_is_contained(language, attack, targets):
    aims, folder, accepted = targets
    limits = Limits(cpu_seconds=2, wall_seconds=4, memory_bytes=512 << 20, processes=32, tmpfs_bytes=32 << 20,
                    file_bytes=16 << 20)
    token = str(int(SLEEPER) + sorted(ATTACKS).index(language))  # its own: tests run side by side
    result = run_io_program(language, ATTACKS[language][attack].replace(SLEEPER, token),
                            [(aims.get(attack, "") + "\n", "ESCAPED")], limits, use_cache=False)
    everything = result.stdout + result.stderr + result.reason
    assert not result.passed and "ESCAPED" not in result.stdout, (result.status, result.reason, result.stdout)
    assert "31337" not in everything  # the host file never reached the job
    assert list(folder.iterdir()) == []  # nothing written outside the job
    assert accepted == []  # no connection reached the host
    if attack == "outlive":  # only it starts the sleeper (another language's test may run beside it: its own token)
        left = [(p.pid, p.info["cmdline"], p.create_time()) for p in _sleepers(token)]
        assert left == [], (left, time.time())  # nothing the job started outlives it
    if attack == "compiler_bomb":
        assert result.status in {"failed", "timeout", "memory_exceeded"} and result.reason.startswith("compile")
    if attack == "memory":  # bash builds its string with CPU: on a loaded machine its CPU may run out first
        assert result.status in {"memory_exceeded", "failed"} | ({"timeout"} if language == "bash" else set()), \
            result.reason
