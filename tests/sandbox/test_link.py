"""The judge/candidate link: calls from several threads never get each other's answers, a call abandoned halfway
breaks the link instead of shifting every later answer by one, and nothing the candidate receives walks back into
the tests' namespace. Each test is written from the class of attack and runs in the real sandbox."""

import pytest

from flywheel_sandbox import Limits, run_python
from flywheel_sandbox.runner import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed (make setup installs it)")
LIMITS = Limits(wall_seconds=20, cpu_seconds=10, processes=32)
IDENTITY = "import time\ndef echo(x):\n    time.sleep(0.001 * (x % 3))\n    return x\n"


def outcome(code: str, tests: str):
    result = run_python(code, tests, LIMITS)
    return result.status, [(t.name, t.passed, t.error[:200]) for t in result.tests]


@pytest.mark.parametrize("caller", ["threading", "executor", "to_thread"])
def test_calls_from_several_threads_each_get_their_own_answer(caller):
    start = {
        "threading": "import threading\nthreads = [threading.Thread(target=lambda k=k: [ask(i) for i in range(k, 40, 8)])"
                     " for k in range(8)]\n[t.start() for t in threads]\n[t.join() for t in threads]\n",
        "executor": "from concurrent.futures import ThreadPoolExecutor\n"
                    "with ThreadPoolExecutor(8) as pool:\n    list(pool.map(ask, range(40)))\n",
        "to_thread": "import asyncio\nasync def main():\n    await asyncio.gather(*(asyncio.to_thread(ask, i) "
                     "for i in range(40)))\nasyncio.run(main())\n",
    }[caller]
    tests = ("answers = {}\ndef ask(i):\n    answers[i] = echo(i)\n" + start +
             "def test_every_answer_is_its_own():\n    assert answers == {i: i for i in range(40)}, answers\n")
    for _ in range(3):
        status, tests_run = outcome(IDENTITY, tests)
        assert status == "passed", tests_run


def test_a_call_abandoned_by_a_tests_timeout_breaks_the_link():
    # APPS's and LiveCodeBench's testing util: a SIGALRM handler raising TimeoutException mid-call. The slow first
    # call's late answer must never be read as the second call's.
    code = "import time\ndef f(x):\n    if x == 'slow':\n        time.sleep(1.5)\n    return x\n"
    tests = ("import signal\nclass TimeoutException(Exception):\n    pass\n"
             "def handler(signum, frame):\n    raise TimeoutException\n"
             "def test_slow_then_fast():\n    signal.signal(signal.SIGALRM, handler)\n    signal.alarm(1)\n"
             "    try:\n        f('slow')\n    except TimeoutException:\n        pass\n    signal.alarm(0)\n"
             "    assert f('fast') == 'slow'\n")  # passes only if the slow call's answer is taken for this one
    status, tests_run = outcome(code, tests)
    assert status != "passed" and not tests_run[0][1], tests_run
    assert "abandoned" in tests_run[0][2], tests_run


def test_str_format_is_never_a_callback_into_the_tests():
    # Handing str.format to the candidate let a format spec walk from a handle to the tests' globals.
    code = ("def leak(fmt, handle):\n"
            "    return fmt('{0.__class__.__init__.__globals__[__builtins__]}', handle)\n"
            "def leak_map(fmt_map):\n    return fmt_map({})\n")
    for tests in ("SECRET = 42\nclass Thing: pass\ndef test_leak():\n    leak(str.format, str.format)\n",
                  "def test_leak():\n    leak_map('{x}'.format_map)\n"):
        status, tests_run = outcome(code, tests)
        assert not tests_run[0][1] and "cannot be sent to the candidate" in tests_run[0][2], tests_run
    # what a callback is for still works: a key function, a builtin that only computes
    status, tests_run = outcome("def order(xs, key):\n    return sorted(xs, key=key)\n",
                                "def test_key():\n    assert order(['bb', 'a', 'ccc'], len) == ['a', 'bb', 'ccc']\n"
                                "    assert order([3, 1, 2], lambda x: -x) == [3, 2, 1]\n")
    assert status == "passed", tests_run
