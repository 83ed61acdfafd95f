"""Hostile programs against the pooled bwrap backend: each is contained, answered in time, and the pool serves on."""

import os
import subprocess
import time

import pytest

from flywheel_sandbox.pool import SandboxPool
from flywheel_sandbox.result import Limits
from flywheel_sandbox.runner import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed (make setup installs it)")
LIMITS = Limits(wall_seconds=4, cpu_seconds=4, processes=32)
ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(workers=2, limits=LIMITS) as pool:
        yield pool


def still_serving(pool):
    for _ in range(3):  # both workers, whichever is free
        result = pool.run(ADD, "assert add(2, 3) == 5", LIMITS)
        assert result.status == "passed", result


def run_contained(pool, code, tests="assert True"):
    started = time.monotonic()
    result = pool.run(code, tests, LIMITS)
    assert time.monotonic() - started < LIMITS.wall_seconds + 6
    assert result.status != "passed"
    still_serving(pool)
    return result


FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"
FORK_BOMB_SETSID = ("import os\nwhile True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n"
                    "    except OSError:\n        pass\n")


@pytest.mark.parametrize("code", [FORK_BOMB, FORK_BOMB_SETSID], ids=["plain", "setsid"])
def test_fork_bomb(pool, code):
    run_contained(pool, code)


def test_memory_bomb(pool):
    assert run_contained(pool, "blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))\n").status == "memory_exceeded"
    assert run_contained(pool, "x = bytearray(10**11)").status == "memory_exceeded"


def test_infinite_loop(pool):
    assert run_contained(pool, "while True:\n    pass\n").status == "timeout"


def test_two_gigabyte_file(pool):
    code = "with open('big', 'wb') as f:\n    for _ in range(2048):\n        f.write(b'0' * 2**20)\n"
    result = run_contained(pool, code)
    assert result.status in {"killed", "error"}  # SIGXFSZ at the file-size limit, or ENOSPC on the tmpfs


def test_many_small_files(pool):
    run_contained(pool, "i = 0\nwhile True:\n    open(f'f{i}', 'w').close()\n    i += 1\n")


def test_stdout_flood_is_capped(pool):
    result = run_contained(pool, "while True:\n    print('x' * 10000)\n")
    assert len(result.stdout) <= LIMITS.output_bytes


@pytest.mark.parametrize("address", ["127.0.0.1", "192.0.2.1"])  # loopback, and TEST-NET-1 (never routed)
def test_no_network(pool, address):
    code = (f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(({address!r}, 80))\n")
    result = run_contained(pool, code)
    assert result.status == "error"
    # seccomp refuses an AF_INET socket outright (EPERM); the empty network namespace would refuse the connect
    assert any(word in result.reason for word in ("Operation not permitted", "Connection refused", "Network is unreachable",
                                                  "OSError")), result.reason


def test_host_secrets_and_files_unreadable(pool, tmp_path):
    os.environ["FLYWHEEL_TEST_SECRET"] = "hunter2"
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    code = (f"import os\nprint(sorted(os.environ))\n"
            f"for p in ['/etc/shadow', '/root', {str(secret)!r}]:\n"
            "    try:\n        print(p, open(p).read()[:20] if not os.path.isdir(p) else os.listdir(p))\n"
            "    except Exception as e:\n        print(p, type(e).__name__)\n")
    result = pool.run(code, None, LIMITS)
    assert "hunter2" not in result.stdout and "FLYWHEEL_TEST_SECRET" not in result.stdout
    assert "top secret" not in result.stdout and "/etc/shadow PermissionError" in result.stdout
    still_serving(pool)


def test_signals_to_the_zygote_are_dropped(pool):
    """The zygote is PID 1 of the sandbox: signals from inside, SIGKILL included, never reach it."""
    before = pool.replaced
    code = ("import os\nfor number in (9, 15, 2, 1, 10, 19):\n    try:\n        os.kill(os.getppid(), number)\n"
            "    except OSError:\n        pass\n" + ADD)
    assert pool.run(code, "assert add(2, 3) == 5", LIMITS).status == "passed"
    assert pool.replaced == before
    still_serving(pool)


def test_kill_everything_spares_the_host(pool):
    uid = pool._uids[0][0]  # the candidate uid of the pool's first slot, leased for this pool

    def as_worker_uid():
        os.setgid(uid)
        os.setuid(uid)

    # A host process of the very uid the first worker runs as: kill(-1) inside must not reach it.
    bystander = subprocess.Popen(["sleep", "60"], preexec_fn=as_worker_uid if os.getuid() == 0 else None)
    try:
        run_contained(pool, "import os, signal\nos.kill(-1, signal.SIGKILL)\nimport time\ntime.sleep(1)\n")
        assert bystander.poll() is None
    finally:
        bystander.kill()


def test_cannot_write_or_delete_outside(pool, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("intact")
    code = (f"import os, shutil\nfor p in [{str(target)!r}, '/usr/bin/python3', '/etc/hostname']:\n"
            "    try:\n        os.remove(p)\n    except OSError:\n        pass\n"
            f"open({str(target)!r}, 'w').write('pwned')\n")
    run_contained(pool, code)
    assert target.read_text() == "intact" and os.path.exists("/usr/bin/python3")


def test_daemon_does_not_outlive_its_job():
    with SandboxPool(workers=1, limits=LIMITS) as single:
        daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                  "        time.sleep(1.0)\n        open('/tmp/leak', 'w').write('still here')\n        time.sleep(60)\n"
                  "    os._exit(0)\n")
        single.run(daemon, None, LIMITS)
        time.sleep(1.5)
        probe = ("import os\nprint(os.path.exists('/tmp/leak'))\n"
                 "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\nprint(os.getpid(), os.getppid())\n")
        result = single.run(probe, None, LIMITS)
        leak, pids, me = result.stdout.splitlines()
        assert leak == "False"
        own, parent = map(int, me.split())
        assert set(eval(pids)) <= {1, own, parent}  # bwrap's init, the zygote, this job


def test_no_nested_user_namespaces(pool):
    code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"
            "import subprocess\nprint('cli', subprocess.run(['unshare', '-U', 'true']).returncode)\n")
    result = pool.run(code, None, LIMITS)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["unshare"].split()[0] == "-1" and lines["cli"] != "0"
    still_serving(pool)


def test_workers_outlive_the_thread_that_first_used_the_pool():
    """--die-with-parent follows the creating thread; a pool first touched from a short-lived thread must survive it."""
    import threading

    holder = {}
    thread = threading.Thread(target=lambda: holder.setdefault("pool", SandboxPool(workers=1, limits=LIMITS)))
    thread.start()
    thread.join()
    with holder["pool"] as late:
        time.sleep(0.3)
        assert late.run(ADD, "assert add(1, 1) == 2", LIMITS).status == "passed"
        assert late.replaced == 0


def test_folders_of_killed_pools_are_removed_at_the_next_start(tmp_path):
    import tempfile
    from pathlib import Path

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists
    leftover = Path(tempfile.gettempdir()) / f"flywheel-pool-{dead.pid}-leftover"
    leftover.mkdir()
    (leftover / "zygote.py").write_text("")
    with SandboxPool(workers=1, limits=LIMITS) as fresh:
        assert not leftover.exists()
        assert fresh.run(ADD, "assert add(1, 1) == 2", LIMITS).status == "passed"
