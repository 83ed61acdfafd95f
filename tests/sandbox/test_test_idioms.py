"""What public test suites do, judged right: nothing-ran is never a pass, a checker called at load judges the
program, callables cross as callbacks into the tests, and arguments changed in place come back. Also the tests'
namespace: a candidate's names never replace the tests' builtins, and control flow cannot be forged."""

from __future__ import annotations

import pytest

from flywheel_sandbox import bwrap_available, run_python

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")


def run(code: str, tests: str):
    return run_python(code, tests)


@pytest.mark.parametrize("tests", ["x = 1\n", "def check(candidate):\n    assert candidate(1) == 2\n", ""])
def test_tests_that_run_nothing_are_an_error_not_a_pass(tests):
    result = run("def f(x):\n    return x + 1\n", tests)
    assert result.status == "error" and "no test ran" in result.reason


def test_humaneval_check_is_one_test_per_assert_with_partial_credit():
    tests = "def check(candidate):\n    import math\n    assert candidate(1) == 2\n    assert candidate(2) == 4\n" \
            "    for x in range(3):\n        assert candidate(x) == x + 1\n\ncheck(f)\n"
    result = run("def f(x):\n    return x + 1\n", tests)
    assert [(t.name, t.passed) for t in result.tests] == [("test_check_1", True), ("test_check_2", False),
                                                           ("test_check_3", True)]
    assert result.status == "failed"


def test_an_assertion_that_fails_while_the_tests_load_is_failed_not_error():
    result = run("def f(x):\n    return 0\n", "def check(c, extra):\n    assert c(1) == 2\n\ncheck(f, 1)\n"
                 "for x in [1]:\n    assert f(x) == 2\n")
    assert result.status == "failed", result.reason
    result = run("def f(x):\n    return 0\n", "for x in [1]:\n    assert f(x) == 2\ndef test_a():\n    pass\n")
    assert result.status == "failed" and "while the tests loaded" in result.reason


def test_an_argument_changed_in_place_comes_back():
    code = "def sort_in_place(xs):\n    xs.sort()\n\ndef fill(d, key):\n    d[key] = [1, 2]\n    d['n'] = len(d)\n"
    tests = "def test_list():\n    xs = [3, 1, 2]\n    assert sort_in_place(xs) is None\n    assert xs == [1, 2, 3]\n" \
            "def test_dict():\n    d = {'a': 0}\n    fill(d, key='b')\n    assert d == {'a': 0, 'b': [1, 2], 'n': 2}\n" \
            "def test_nested():\n    rows = [[3, 1], [2, 0]]\n    inner = rows[0]\n    for r in rows:\n" \
            "        sort_in_place(r)\n    assert rows == [[1, 3], [0, 2]] and inner == [1, 3]\n"
    result = run(code, tests)
    assert result.status == "passed", result.reason


def test_a_callable_argument_runs_in_the_tests_as_a_callback():
    code = "def order(xs, key):\n    return sorted(xs, key=key)\n\ndef twice(g, x):\n    return g(g(x))\n"
    tests = "def test_key():\n    assert order([3, -4, 1], key=lambda v: abs(v)) == [1, 3, -4]\n" \
            "    assert order(['b', 'A'], str.lower) == ['A', 'b']\n    assert order([2, 1], key=int) == [1, 2]\n" \
            "def helper(v):\n    return v * 10\n" \
            "def test_nested():\n    assert twice(helper, 2) == 200\n    assert twice(lambda v: twice(helper, v), 1) == 10000\n"
    result = run(code, tests)
    assert result.status == "passed", result.reason
    # a wrong program still fails through a callback
    assert run("def order(xs, key):\n    return xs\n", "def test_k():\n    assert order([2, 1], key=abs) == [1, 2]\n"
               ).status == "failed"


def test_a_callback_that_could_reach_the_judge_is_refused():
    result = run("def f(g):\n    return g('1')\n", "def test_k():\n    assert f(eval) == 1\n")
    assert result.status == "failed" and "cannot be sent" in result.reason
    result = run("def f(g):\n    return g('/etc/hostname')\n", "def test_k():\n    assert f(open) == 1\n")
    assert result.status == "failed" and "cannot be sent" in result.reason


@pytest.mark.parametrize("shadow", ["range = lambda *a: []", "def abs(x):\n    return 0",
                                    "def sorted(x):\n    return [1]", "zip = lambda *a: iter(())",
                                    "def __builtins__():\n    pass"])
def test_a_candidate_name_never_replaces_a_builtin_of_the_tests(shadow):
    code = f"{shadow}\ndef f(x):\n    return -1\n"
    tests = "def test_uses_builtins():\n    for i in range(3):\n        assert abs(f(i) - i) < 1e-9\n" \
            "    assert sorted([f(1), f(2)]) == [1, 2]\n    assert all(a == b for a, b in zip([f(0)], [0]))\n"
    result = run(code, tests)
    assert result.status == "failed"


def test_stop_iteration_from_a_plain_call_is_not_control_flow():
    code = "def f(x):\n    raise StopIteration\n"
    tests = "def test_all():\n    assert all(f(x) == 5 for x in [1, 2])\n" \
            "def test_map():\n    assert list(map(f, [1, 2])) == [5, 5]\n"
    result = run(code, tests)
    assert result.status == "failed" and all(not t.passed for t in result.tests)
    # an iterator's own StopIteration still ends a loop
    assert run("def gen():\n    yield 1\n    yield 2\n", "def test_i():\n    assert list(gen()) == [1, 2]\n"
               ).status == "passed"


def test_async_tests_run_and_generator_tests_are_refused():
    assert run("def f(x):\n    return x\n", "async def test_a():\n    assert f(1) == 2\n").status == "failed"
    assert run("def f(x):\n    return x\n", "async def test_a():\n    assert f(1) == 1\n").status == "passed"
    result = run("def f(x):\n    return x\n", "def test_g():\n    yield\n    assert f(1) == 1\n")
    assert result.status == "failed" and "generator" in result.reason


def test_a_case_that_raises_fails_alone_and_no_case_reruns_another():
    code = "calls = []\ndef f(x):\n    calls.append(x)\n    if x == 1:\n        raise ValueError('one')\n    return x + 1\n" \
           "def seen():\n    return list(calls)\n"
    tests = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n    assert candidate(3) == 4\n" \
            "\ncheck(f)\ndef test_calls():\n    assert seen() == [1, 2, 3]\n"
    result = run(code, tests)
    assert [(t.name, t.passed) for t in result.tests] == [("test_check_1", False), ("test_check_2", True),
                                                           ("test_check_3", True), ("test_calls", True)], result.reason


def test_a_candidate_that_bypasses_its_own_filter_still_cannot_name_the_tests_globals():
    """The dunder and builtin filter runs in the judge: a candidate that patches its side of the hello to send
    __builtins__ or range gets neither into the tests' namespace."""
    code = ("import sys\nwire = sys.modules['wire']\n_send = wire.send\n"
            "def send(fd, message):\n    if 'names' in message:\n"
            "        message['names']['__builtins__'] = {'d': [['isclose', True]]}\n"
            "        message['names']['range'] = []\n        message['names']['__name__'] = 'x'\n"
            "    return _send(fd, message)\nwire.send = send\n"
            "def f(x):\n    return -1\n")
    tests = "import math\ndef test_f():\n    for i in range(2):\n        assert math.isclose(f(i), i)\n"
    result = run(code, tests)
    assert result.status == "failed" and "AssertionError" in result.tests[0].error, result.reason
