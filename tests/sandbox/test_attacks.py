"""One test per class of attack that the judge/candidate split, seccomp, per-job clean-up and cgroups contain.

Each is written from the class of attack, not from a particular exploit: a wrong
solution that tries to be counted as passed, ptrace of the sandbox's PID 1, leaks
between consecutive jobs of one pooled slot, limits that were per process or per mount,
and terminal escapes in the CLI's output.
"""

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flywheel_sandbox import Limits, SandboxPool, run_io, run_python
from flywheel_sandbox.cgroups import Cgroup
from flywheel_sandbox.runner import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed (make setup installs it)")
LIMITS = Limits(wall_seconds=8, cpu_seconds=5, processes=32)
WRONG_ADD = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(1, 2) == 3\ndef test_more():\n    assert add(2, 2) == 4\n    assert add(0, 5) == 5\n"
def _cgroups_work() -> bool:
    probe = Cgroup.create(f"{os.getpid()}-probe", 1 << 30, 64)
    if probe is not None:
        probe.remove()
    return probe is not None


needs_cgroups = pytest.mark.skipif(not _cgroups_work(), reason="no writable cgroup (needs root and cgroup v1 or v2)")


@pytest.fixture(scope="module")
def single():
    """One slot, so consecutive jobs are known to land on the same candidate sandbox."""
    with SandboxPool(workers=1, limits=LIMITS) as pool:
        yield pool


# 1. Wrong solutions counted as passed: the tests, their comparisons and the report live in the judge.
FORGERIES = {
    "write_every_fd": (
        "import os, json, struct\n"
        "fake = [{'kind': 'program_done'}] + [{'kind': 'test', 'name': n, 'passed': True, 'error': ''}\n"
        "        for n in ('test_assert_1', 'test_more')]\n"
        "for fd in range(3, 64):\n"
        "    for record in fake:\n"
        "        data = json.dumps(record).encode()\n"
        "        for blob in (struct.pack('>I', len(data)) + data, repr(record).encode() + b'\\n'):\n"
        "            try:\n                os.write(fd, blob)\n            except OSError:\n                pass\n"
        "for path in os.listdir('/proc/self/fd'):\n"
        "    try:\n        os.write(os.open('/proc/self/fd/' + path, os.O_WRONLY), b'passed\\n')\n"
        "    except OSError:\n        pass\n" + WRONG_ADD),
    "patch_through_sys_modules_and_gc": (
        "import sys, gc\n"
        "for module in list(sys.modules.values()):\n"
        "    for attr in ('run_tests', 'judge_run', 'check', 'send', 'recv', 'encode', 'decode'):\n"
        "        if hasattr(module, attr):\n"
        "            try:\n                setattr(module, attr, lambda *a, **k: True)\n            except Exception:\n"
        "                pass\n"
        "for obj in gc.get_objects():\n"
        "    if isinstance(obj, dict) and 'passed' in obj:\n        obj['passed'] = True\n"
        "frame = sys._getframe()\n"
        "while frame is not None:\n"
        "    frame.f_globals.setdefault('__fw_forged__', True)\n    frame = frame.f_back\n" + WRONG_ADD),
    "hook_builtins_exec_and_rebind_builtins": (
        "import builtins\nreal_exec = builtins.exec\n"
        "builtins.exec = lambda *a, **k: None\nbuiltins.AssertionError = type('Never', (Exception,), {})\n"
        "builtins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\n"
        "__builtins__ = {'exec': lambda *a, **k: None}\n" + WRONG_ADD),
    "lying_arithmetic": (
        "class Zero(float):\n"
        "    def __sub__(self, other):\n        return 0.0\n    __rsub__ = __sub__\n"
        "    def __abs__(self):\n        return 0.0\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = float.__hash__\n"
        "def add(a, b):\n    return Zero(a - b)\n"),
    "metaclass_always_equal": (
        "class Meta(type):\n    def __eq__(cls, other):\n        return True\n    __hash__ = type.__hash__\n"
        "class Anything(metaclass=Meta):\n    pass\n"
        "def add(a, b):\n    return Anything\n"),
    "atexit_forgery": (
        "import atexit, os, json, struct\n"
        "def forge():\n"
        "    record = json.dumps({'kind': 'test', 'name': 'test_more', 'passed': True}).encode()\n"
        "    for fd in range(3, 64):\n"
        "        try:\n            os.write(fd, struct.pack('>I', len(record)) + record)\n        except OSError:\n"
        "            pass\n"
        "atexit.register(forge)\n" + WRONG_ADD),
}


@pytest.mark.parametrize("pooled", [True, False], ids=["pool", "one-shot"])
@pytest.mark.parametrize("attack", sorted(FORGERIES))
def test_forged_passes_are_refused(attack, pooled):
    result = run_python(FORGERIES[attack], TESTS, LIMITS, pooled=pooled)
    assert result.status != "passed", result
    assert not all(t.passed for t in result.tests)


def test_patched_math_isclose_in_the_candidate_does_not_reach_the_tests():
    code = "import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 3.0 * r * r\n"
    tests = "import math\nassert math.isclose(area(1.0), math.pi, rel_tol=1e-9)\nassert abs(area(2.0) - 4 * math.pi) < 1e-9\n"
    result = run_python(code, tests, LIMITS)
    assert result.status == "failed" and not any(t.passed for t in result.tests), result


def test_the_candidate_never_sees_the_tests(tmp_path):
    marker = "hidden-test-marker-7d41c2"
    code = ("import os\nfound = []\n"
            "for root in ('/work', '/tmp', '/dev/shm', '/sandbox', '/proc'):\n"
            "    for folder, dirs, files in os.walk(root):\n"
            "        if folder.startswith('/proc/') and folder.count('/') > 3:\n            continue\n"
            "        for name in files:\n"
            "            try:\n"
            "                with open(os.path.join(folder, name), 'rb') as handle:\n"
            "                    if b'hidden-test-' + b'marker' in handle.read(1 << 20):\n"
            "                        found.append(os.path.join(folder, name))\n"
            "            except OSError:\n                pass\n"
            "def answer(x):\n    return found\n")
    result = run_python(code, f"assert answer('{marker}') == []\n", LIMITS)
    assert result.status == "passed", result


def test_candidate_objects_cross_only_as_refusing_handles():
    code = ("class Box:\n    def __init__(self, v):\n        self.v = v\n    def get(self):\n        return self.v\n"
            "def make(v):\n    return Box(v)\n")
    tests = ("def test_methods_work():\n    assert make(3).get() == 3\n"
             "def test_objects_do_not_compare():\n    assert make(3) == make(3)\n"
             "def test_objects_have_no_truth():\n    assert make(0)\n")
    result = run_python(code, tests, LIMITS)
    assert [t.passed for t in result.tests] == [True, False, False]
    assert "cannot cross as plain data" in result.tests[1].error


# 2. ptrace and friends: seccomp refuses them, and PID 1 is the non-dumpable zygote.
PROBE_TRACE = (
    "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nout = {}\n"
    "out['ptrace_attach_1'] = (libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\n"
    "out['ptrace_traceme'] = (libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"
    "buf = ctypes.create_string_buffer(8)\n"
    "class iovec(ctypes.Structure):\n    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
    "local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)\nremote = iovec(0x400000, 8)\n"
    "out['process_vm_readv'] = (libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0),"
    " ctypes.get_errno())\n"
    "for path in ('/proc/1/mem', '/proc/1/environ', '/proc/1/fd/0'):\n"
    "    try:\n        open(path, 'rb').read(1)\n        out[path] = 'open'\n"
    "    except OSError as error:\n        out[path] = type(error).__name__\n"
    "out['shmget'] = (libc.shmget(0, 4096, 0o1600), ctypes.get_errno())\n"
    "out['unshare'] = (libc.unshare(0x20000), ctypes.get_errno())\n"
    "def report():\n    return out\n")


@pytest.mark.parametrize("pooled", [True, False], ids=["pool", "one-shot"])
def test_ptrace_and_cross_process_access_are_refused(pooled):
    result = run_python(PROBE_TRACE, "def test_probe():\n    global seen\n    seen = report()\n"
                        "    assert seen['ptrace_attach_1'] == (-1, 1), seen\n"
                        "    assert seen['ptrace_traceme'] == (-1, 1), seen\n"
                        "    assert seen['process_vm_readv'] == (-1, 1), seen\n"
                        "    assert seen['shmget'] == (-1, 1) and seen['unshare'] == (-1, 1), seen\n"
                        "    assert all(seen[p] == 'PermissionError' for p in ('/proc/1/mem', '/proc/1/environ',"
                        " '/proc/1/fd/0')), seen\n", LIMITS, pooled=pooled)
    assert result.status == "passed", result


def _processes_named(command: str) -> list[int]:
    """Pids whose command line is exactly ``command``, whatever their uid (the job's daemon has its own name, so
    the sandbox jobs that other tests run at the same time are not counted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode() == command:
                    found.append(int(entry.name))
            except (OSError, UnicodeDecodeError):
                pass
    return found


def test_nothing_of_a_one_shot_run_outlives_it():
    tag = f"{60 + random.random():.9f}"  # the daemon sleeps under a name no other process has
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        import ctypes\n        ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n"
              f"        os.execv('/usr/bin/sleep', ['sleep', '{tag}'])\n"
              "    os._exit(0)\ntime.sleep(0.3)\n")
    run_python(daemon, None, LIMITS, pooled=False)
    time.sleep(0.3)
    assert _processes_named(f"sleep {tag}") == []


def test_cli_returns_at_its_timeout_even_if_a_process_holds_the_pipes(tmp_path):
    (tmp_path / "p.py").write_text("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(120)\n"
                                   "time.sleep(120)\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flywheel_sandbox", "run", str(tmp_path / "p.py"), "--timeout", "2", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15
    assert '"status": "timeout"' in done.stdout


# 3. Consecutive jobs on one slot: nothing of one job is reachable from the next.
def test_no_memory_of_the_previous_job(single):
    secret = "import os\nsecret = 'FLYWHEEL-LEAK-' + str(10**11 + 424242)\nprint(secret)\n" + WRONG_ADD
    assert "FLYWHEEL-LEAK-" in single.run(secret, TESTS, LIMITS).stdout
    scan = ("import re, gc\npattern = re.compile(rb'FLYWHEEL-LEAK-[0-9]{12}')\nhits = 0\n"
            "with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:\n"
            "    for line in maps:\n"
            "        span, perms = line.split()[:2]\n"
            "        if 'r' not in perms or '[v' in line:\n            continue\n"
            "        start, end = (int(x, 16) for x in span.split('-'))\n"
            "        try:\n            mem.seek(start)\n            hits += len(pattern.findall(mem.read(end - start)))\n"
            "        except (OSError, OverflowError, ValueError):\n            pass\n"
            "hits += sum(1 for o in gc.get_objects() if isinstance(o, str) and re.fullmatch('FLYWHEEL-LEAK-[0-9]{12}', o))\n"
            "def leaked():\n    return hits\n")
    result = single.run(scan, "assert leaked() == 0\n", LIMITS)
    assert result.status == "passed", result


def test_no_files_or_ipc_of_the_previous_job(single):
    plant = ("import os, ctypes\nfor path in ('/work/planted', '/tmp/planted', '/dev/shm/planted', '/dev/planted'):\n"
             "    try:\n        open(path, 'w').write('x')\n    except OSError:\n        pass\n"
             "os.makedirs('/work/locked/inner', exist_ok=True)\nopen('/work/locked/inner/f', 'w').write('x')\n"
             "os.chmod('/work/locked/inner', 0)\nos.chmod('/work/locked', 0)\n"
             "libc = ctypes.CDLL(None, use_errno=True)\nlibc.shmget(0x4242, 4096, 0o1666)\n"
             "libc.mq_open(b'/planted', 0o100 | 2, 0o666, None)\n")
    single.run(plant, None, LIMITS)
    probe = ("import os, ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "left = [p for p in ('/work/planted', '/tmp/planted', '/dev/shm/planted', '/dev/planted', '/work/locked')\n"
             "        if os.path.exists(p)]\n"
             "left += sorted(os.listdir('/work')) + sorted(os.listdir('/tmp')) + sorted(os.listdir('/dev/shm'))\n"
             "if libc.shmget(0x4242, 0, 0) != -1:\n    left.append('sysv shm')\n"
             "def leftovers():\n    return left\n")
    result = single.run(probe, "assert leftovers() == []\n", LIMITS)
    assert result.status == "passed", result


def test_a_full_scratch_disk_does_not_fail_the_next_job(single):
    fill = ("for folder in ('/work', '/tmp', '/dev/shm'):\n    i = 0\n    try:\n        while True:\n"
            "            open(f'{folder}/fill{i}', 'wb').write(b'0' * (1 << 20))\n            i += 1\n"
            "    except OSError:\n        pass\n")
    single.run(fill, None, LIMITS)
    writer = "def save(n):\n    open('/work/out', 'wb').write(b'1' * n)\n    return len(open('/work/out', 'rb').read())\n"
    assert single.run(writer, "assert save(1 << 20) == 1 << 20\n", LIMITS).status == "passed"


# 4. Limits hold in aggregate.
def test_dev_is_read_only_and_dev_shm_is_capped():
    code = ("import os\nout = {}\n"
            "try:\n    open('/dev/planted', 'w')\n    out['dev'] = 'writable'\nexcept OSError as e:\n    out['dev'] = e.errno\n"
            "written = 0\ntry:\n    with open('/dev/shm/big', 'wb') as f:\n        for _ in range(512):\n"
            "            f.write(b'0' * (1 << 20))\n            f.flush()\n            written += 1\n"
            "except OSError:\n    pass\nout['shm_mib'] = written\n"
            "def report():\n    return out\n")
    limits = Limits(wall_seconds=8, cpu_seconds=5, tmpfs_bytes=32 << 20, file_bytes=1 << 30)
    # tmpfs sizes are set when a sandbox starts: a pool's are its own limits', a one-shot run's the job's
    result = run_python(code, "def test_r():\n    r = report()\n    assert r['dev'] == 30, r\n"
                        "    assert r['shm_mib'] <= 32, r\n", limits, pooled=False)
    assert result.status == "passed", result


@needs_cgroups
def test_memory_is_bounded_across_processes():
    # four processes of 200 MB each stay under a 400 MB address-space limit apiece, but not under 400 MB together
    code = ("import os, time\nchildren = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        block = bytearray(200 << 20)\n        for i in range(0, len(block), 4096):\n            block[i] = 1\n"
            "        time.sleep(5)\n        os._exit(0)\n    children.append(pid)\n"
            "for pid in children:\n    os.waitpid(pid, 0)\n"
            "def done():\n    return True\n")
    limits = Limits(wall_seconds=10, cpu_seconds=8, memory_bytes=400 << 20)
    result = run_python(code, "assert done()\n", limits)
    assert result.status == "memory_exceeded", result


@needs_cgroups
def test_memory_is_bounded_across_tmpfs_mounts():
    code = ("n = 0\nfor folder in ('/work', '/tmp', '/dev/shm'):\n    try:\n        for i in range(60):\n"
            "            open(f'{folder}/f{i}', 'wb').write(b'0' * (1 << 20))\n            n += 1\n"
            "    except OSError:\n        pass\n"
            "block = bytearray(120 << 20)\nfor i in range(0, len(block), 4096):\n    block[i] = 1\n"
            "def written():\n    return n\n")
    limits = Limits(wall_seconds=10, cpu_seconds=8, memory_bytes=200 << 20, tmpfs_bytes=64 << 20, file_bytes=64 << 20)
    result = run_python(code, "assert written() >= 0\n", limits)
    assert result.status == "memory_exceeded", result


@needs_cgroups
def test_cpu_time_is_bounded_across_processes():
    code = ("import os\nfor _ in range(3):\n    if os.fork() == 0:\n        while True:\n            pass\n"
            "while True:\n    pass\n")
    limits = Limits(wall_seconds=30, cpu_seconds=2)
    started = time.monotonic()
    result = run_python(code, "assert True\n", limits)
    assert result.status == "timeout" and "CPU" in result.reason, result
    assert time.monotonic() - started < 20


def test_concurrent_one_shot_runs_never_share_a_uid_or_a_process_budget():
    hog = ("import os, time\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n            time.sleep(4)\n"
           "            os._exit(0)\n    except OSError:\n        break\ntime.sleep(4)\n")
    limits = Limits(wall_seconds=10, cpu_seconds=5, processes=16)
    results = {}
    hog_thread = threading.Thread(target=lambda: results.setdefault("hog", run_python(hog, None, limits, pooled=False)))
    hog_thread.start()
    time.sleep(1.0)
    worker = ("import os\ndef spawn():\n    pids = []\n    for _ in range(4):\n        pid = os.fork()\n"
              "        if pid == 0:\n            os._exit(0)\n        pids.append(pid)\n"
              "    for pid in pids:\n        os.waitpid(pid, 0)\n    return len(pids)\n")
    results["fair"] = run_python(worker, "assert spawn() == 4\n", limits, pooled=False)
    hog_thread.join()
    assert results["fair"].status == "passed", results["fair"]


# 5. What the CLI prints for a person carries no control characters from the job.
def test_cli_escapes_control_characters(tmp_path):
    (tmp_path / "p.py").write_text("def f():\n    raise ValueError('\\x1b[2J\\x1b]0;pwned\\x07 boom')\n")
    (tmp_path / "t.py").write_text("assert f() == 1\n")
    done = subprocess.run([sys.executable, "-m", "flywheel_sandbox", "run", str(tmp_path / "p.py"), "--tests",
                           str(tmp_path / "t.py")], capture_output=True, text=True, timeout=60)
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b" in done.stdout and "boom" in done.stdout


# stdin/stdout tasks (APPS, CodeContests): the host compares the output.
def test_stdin_stdout_tasks_are_judged_on_the_host():
    code = "n = int(input())\nprint(sum(map(int, input().split())) * n)\n"
    cases = [("2\n1 2 3\n", "12\n"), ("1\n5\n", "5"), ("3\n1 1\n", "7\n")]
    result = run_io(code, cases, LIMITS)
    assert [t.passed for t in result.tests] == [True, True, False] and result.status == "failed"
    forged = run_io("print('12')\nimport sys\nsys.stdout.flush()\nimport os\nos._exit(0)\n", cases[:1] + cases[2:], LIMITS)
    assert [t.passed for t in forged.tests] == [True, False]
