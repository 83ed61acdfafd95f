"""run_python on the bwrap backend: outcomes, isolation, and the reward hacks that must not pass."""


import pytest

from flywheel_sandbox.result import Limits
from flywheel_sandbox.runner import SandboxUnavailable, bwrap_available, run_python

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed (make setup installs it)")
FAST = Limits(wall_seconds=5)
ADD = "def add(a, b):\n    return a + b\n"


def test_passing_program_reports_each_test():
    result = run_python(ADD, "assert add(1, 2) == 3\nassert add(-1, 1) == 0", FAST)
    assert result.status == "passed" and result.exit_code == 0
    assert [(t.name, t.passed) for t in result.tests] == [("test_assert_1", True), ("test_assert_2", True)]


def test_failing_test_is_named_with_its_error():
    result = run_python(ADD, "def test_ok():\n    assert add(1, 1) == 2\ndef test_bad():\n    assert add(1, 1) == 3, 'off'", FAST)
    assert result.status == "failed"
    assert [(t.name, t.passed) for t in result.tests] == [("test_ok", True), ("test_bad", False)]
    assert "off" in result.tests[1].error


def test_program_error_and_syntax_error():
    assert run_python("raise ValueError('boom')", "assert True", FAST).status == "error"
    assert "SyntaxError" in run_python("def f(:", "assert True", FAST).reason


@pytest.mark.parametrize("early_exit", ["import sys; sys.exit(0)", "import os; os._exit(0)", "raise SystemExit(0)", "exit(0)"])
def test_exiting_before_the_tests_never_passes(early_exit):
    result = run_python(early_exit + "\n" + ADD, "assert add(1, 2) == 3", FAST)
    assert result.status != "passed"


def test_printing_fake_success_does_not_pass():
    result = run_python("print('all tests passed'); print('{\"kind\": \"test\"}')\n" + ADD, "assert add(1, 2) == 4", FAST)
    assert result.status == "failed"


def test_infinite_loop_times_out():
    result = run_python("while True:\n    pass", "assert True", Limits(wall_seconds=1.5, cpu_seconds=10))
    assert result.status == "timeout" and result.wall_seconds < 5


def test_waiting_on_stdin_does_not_hang():
    result = run_python("import sys; data = sys.stdin.read()\n" + ADD, "assert add(1, 2) == 3", FAST)
    assert result.status == "passed"  # stdin is empty, so read() returns at once


def test_no_network():
    # seccomp refuses the AF_INET socket itself (EPERM), before the empty network namespace could refuse connect
    code = ("import socket\ntry:\n    s = socket.socket()\n    s.settimeout(2)\n"
            "    s.connect(('127.0.0.1', 22)); print('connected')\nexcept OSError as e:\n    print('blocked', e)\n")
    assert "blocked" in run_python(code, None, FAST).stdout


def test_cannot_write_outside_work_dir(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("intact")
    code = f"open({str(target)!r}, 'w').write('pwned')"
    run_python(code, None, FAST)
    assert target.read_text() == "intact"


def test_output_is_capped():
    result = run_python("print('x' * 10_000_000)", None, Limits(wall_seconds=5, output_bytes=1000))
    assert len(result.stdout) <= 1000


def test_process_backend_refuses_without_opt_in():
    with pytest.raises(SandboxUnavailable, match="allow_unsafe"):
        run_python(ADD, "assert add(1, 2) == 3", FAST, backend="process")


def test_process_backend_runs_and_warns_when_allowed():
    with pytest.warns(UserWarning, match="unsafe"):
        assert run_python(ADD, "assert add(1, 2) == 3", FAST, backend="process", allow_unsafe=True).passed


WRONG_ADD = "def add(a, b):\n    return a - b\n"
HACKS = {
    "eq_always_true": "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
                      "def add(a, b):\n    return Yes()\n",
    "int_subclass": "class Liar(int):\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Liar(0)\n",
    "patch_assertion_error": "import builtins\nclass Never(Exception):\n    pass\nbuiltins.AssertionError = Never\n" + WRONG_ADD,
    "patch_builtins": "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.repr = lambda x: '3'\n"
                      "builtins.type = lambda x: int\nbuiltins.bool = lambda x: True\n" + WRONG_ADD,
    "fake_report": "print(\"{'kind': 'test', 'name': 'test_assert_1', 'passed': True}\")\nprint('all tests passed')\n" + WRONG_ADD,
    "exit_zero_in_function": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "stdin_wait": "import sys\ndef add(a, b):\n    return int(sys.stdin.readline() or 0)\n",
}


@pytest.mark.parametrize("pooled", [True, False], ids=["pool", "one-shot"])
@pytest.mark.parametrize("hack", sorted(HACKS))
def test_reward_hacks_never_pass(hack, pooled):
    result = run_python(HACKS[hack], "assert add(1, 2) == 3", FAST, pooled=pooled)
    assert result.status != "passed", result


@pytest.mark.parametrize("pooled", [True, False], ids=["pool", "one-shot"])
def test_plain_values_of_every_kind_compare_on_the_host(pooled):
    code = "def f():\n    return {'a': [1, 2.5, (3, 'x')], 'b': {4, 5}, 'c': None, 'd': b'z', 'e': float('nan')}\n"
    tests = ("def test_all():\n    v = f()\n    assert v['a'] == [1, 2.5, (3, 'x')]\n    assert v['b'] == {5, 4}\n"
             "    assert v['c'] is None\n    assert 'd' in v\n    assert v['e'] != v['e']\n    assert len(v) == 5\n")
    result = run_python(code, tests, FAST, pooled=pooled)
    assert result.status == "passed", result


def test_failed_assertions_show_both_values_and_big_numbers_cross():
    code = "import math\ndef f(n):\n    return math.factorial(n)\n"
    tests = "import math\nassert f(3000) == math.factorial(3000)\nassert f(3) == 7\n"
    result = run_python(code, tests, FAST)
    assert [(t.passed, t.error) for t in result.tests] == [(True, ""), (False, "AssertionError: 6 == 7")]


def test_each_side_of_an_assert_is_evaluated_once():
    code = "calls = []\ndef f():\n    calls.append(1)\n    return len(calls)\ndef count():\n    return len(calls)\n"
    assert run_python(code, "assert f() == 1\nassert count() == 1\n", FAST).status == "passed"


def test_stdlib_values_that_compare_like_plain_ones_cross_as_plain_data():
    code = ("import collections, enum, fractions, decimal\n"
            "Point = collections.namedtuple('Point', 'x y')\n"
            "class Colour(enum.IntEnum):\n    RED = 1\n"
            "def counts(s):\n    return collections.Counter(s)\n"
            "def groups():\n    d = collections.defaultdict(list)\n    d['a'].append(1)\n    return d\n"
            "def point():\n    return Point(1, 2)\n"
            "def colour():\n    return Colour.RED\n"
            "def third():\n    return fractions.Fraction(1, 3)\n"
            "def money():\n    return decimal.Decimal('1.10')\n")
    tests = ("from fractions import Fraction\nfrom decimal import Decimal\n"
             "assert counts('aab') == {'a': 2, 'b': 1}\nassert groups() == {'a': [1]}\nassert point() == (1, 2)\n"
             "assert colour() == 1\nassert third() == Fraction(1, 3)\nassert money() == Decimal('1.1')\n"
             "assert third() != Fraction(1, 4)\n")
    result = run_python(code, tests, FAST)
    assert result.status == "passed", result
