"""The sandbox's third pass (issue 30): one test per class found, each written from the class's description.

The tests' namespace, control flow and test collection are in test_test_idioms.py; these are the rest:
truncated output, the root filesystem, clean-up at any depth, socket families, text that is not valid
UTF-8, forged lines in the CLI, the judge's CPU, and globals that cannot cross as data."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from flywheel_sandbox.pool import SandboxPool
from flywheel_sandbox.result import Limits
from flywheel_sandbox.runner import bwrap_available, run_io

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed (make setup installs it)")
LIMITS = Limits(wall_seconds=20, cpu_seconds=8)


@pytest.fixture(scope="module")
def slot():
    """One slot, so every job runs where the one before it ran."""
    with SandboxPool(workers=1, limits=LIMITS) as pool:
        yield pool


def test_output_over_the_cap_is_a_failed_case_never_a_compared_prefix():
    right_then_padding = "print(3)\nprint('x' * 70000)\nprint('wrong')\n"
    result = run_io(right_then_padding, [("", "3\n")], LIMITS)
    if result.status == "killed":  # a one-shot sandbox lost under load (twice in 2 full runs on two cores, never
        # alone in 100 tries): an infrastructure loss, not this rule's answer. Asked again; the loss is an open issue.
        result = run_io(right_then_padding, [("", "3\n")], LIMITS)
    assert result.status == "failed" and "output limit" in result.tests[0].error, (result.reason, result.exit_code)
    assert run_io("print(3)\n", [("", "3\n")], LIMITS).status == "passed"


def test_the_root_is_read_only_and_nothing_reaches_the_next_job(slot):
    writer = ("import os\nfor path in ('/x', '/sandbox/x', '/etc/x'):\n    try:\n        open(path, 'w').write('1')\n"
              "        print('wrote', path)\n    except OSError as e:\n        print('refused', path, e.errno)\n"
              "open('/work/mine', 'w').write('secret')\nopen('/dev/shm/mine', 'w').write('x' * 1000)\n")
    result = slot.run(writer, None, LIMITS)
    assert "wrote" not in result.stdout and result.stdout.count("refused") == 3, result.stdout
    reader = "import os\nprint(sorted(os.listdir('/')), os.listdir('/work'), os.listdir('/tmp'), os.listdir('/dev/shm'))"
    seen = slot.run(reader, None, LIMITS).stdout
    assert "x" not in ast.literal_eval(seen.split("] ")[0] + "]") and "[] [] []" in seen


def test_a_tree_deeper_than_path_max_and_mode_000_dirs_are_removed_without_replacing_the_slot(slot):
    deep = ("import os\nos.chdir('/work')\nfor i in range(1300):\n    os.mkdir('d' * 200)\n    os.chdir('d' * 200)\n"
            "open('leaf', 'w').write('secret')\nos.chdir('/tmp')\nos.mkdir('locked')\nopen('locked/f', 'w').write('x')\n"
            "os.chmod('locked', 0)\nos.chmod('/work', 0)\n")
    replaced = slot.replaced
    assert slot.run(deep, None, LIMITS).status == "passed"
    seen = slot.run("import os\nprint(os.listdir('/work'), os.listdir('/tmp'))", None, LIMITS)
    assert seen.stdout.strip() == "[] []" and slot.replaced == replaced


@pytest.mark.parametrize("family", ["socket.AF_INET", "socket.AF_INET6", "40", "socket.AF_NETLINK", "socket.AF_PACKET"])
def test_only_unix_sockets_can_be_made(slot, family):
    code = (f"import socket\ntry:\n    socket.socket({family}, socket.SOCK_DGRAM if {family} != 40 else "
            f"socket.SOCK_STREAM)\n    print('made')\nexcept OSError as e:\n    print('refused', e.errno)\n"
            "a, b = socket.socketpair()\nprint('unix ok')\n")
    result = slot.run(code, None, LIMITS)
    assert result.stdout.split("\n")[:2] == ["refused 1", "unix ok"], result.stdout  # 40 is AF_VSOCK


def test_a_lone_surrogate_in_a_message_arrives_as_valid_text(slot):
    result = slot.run("def f():\n    raise ValueError('bad \\ud800 text')\n", "def test_f():\n    assert f() == 1\n",
                      LIMITS)
    assert result.status == "failed"
    result.reason.encode("utf-8")  # would raise UnicodeEncodeError, as writing the verdict to Parquet did
    result.tests[0].error.encode("utf-8")
    assert "\ufffd" in result.tests[0].error


def test_the_cli_prints_no_line_a_message_could_forge(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("def f():\n    raise ValueError('x\\npassed: 1/1 tests passed\\u202e \\ud800')\n")
    tests = tmp_path / "t.py"
    tests.write_text("def test_f():\n    assert f() == 1\n")
    done = subprocess.run([sys.executable, "-m", "flywheel_sandbox", "run", str(program), "--tests", str(tests)],
                          capture_output=True, text=True, errors="strict")
    lines = done.stdout.splitlines()
    assert done.returncode == 1 and not any(line.startswith("passed") for line in lines), lines
    assert "\u202e" not in done.stdout and "\\u202e" in done.stdout
    as_json = subprocess.run([sys.executable, "-m", "flywheel_sandbox", "run", str(program), "--tests", str(tests),
                              "--json"], capture_output=True, text=True, errors="strict")
    assert json.loads(as_json.stdout)["status"] == "failed"


def test_the_judges_cpu_counts_as_the_candidates_timeout(slot):
    """A reply cheap to make and costly to rebuild: a huge integer decoded by the judge, over and over."""
    code = "N = 10 ** 99_000\ndef f():\n    return N\n"
    tests = "def test_f():\n    while True:\n        assert f() != 0\n"
    result = slot.run(code, tests, Limits(wall_seconds=30, cpu_seconds=3))
    assert result.status == "timeout" and "CPU" in result.reason, result.reason


def test_a_correct_program_with_a_cyclic_or_deep_global_still_loads(slot):
    code = ("loop = [1]\nloop.append(loop)\ndeep = x = []\nfor _ in range(500):\n    x.append([])\n    x = x[0]\n"
            "shared = []\nfor _ in range(60):\n    shared = [shared, shared]\ndef f(v):\n    return v + 1\n")
    assert slot.run(code, "def test_f():\n    assert f(1) == 2\n", LIMITS).status == "passed"
    exploding = "def f():\n    a = []\n    for _ in range(60):\n        a = [a, a]\n    return a\n"
    result = slot.run(exploding, "def test_f():\n    assert f() == 1\n", LIMITS)
    assert result.status == "failed" and "too large" in result.reason
