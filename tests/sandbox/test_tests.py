"""The host's half of the test contract (flywheel_sandbox.tests), in-process: which tests a source names before
it runs, and the output rules of stdin/stdout sets. test_test_idioms.py and test_humaneval run them for real."""

from __future__ import annotations

import pytest

from flywheel_sandbox.tests import prepare_tests, same_output

HUMANEVAL_CHECK = """
METADATA = {}
def check(candidate):
    assert candidate(1) == 2
    x = 3
    assert candidate(x) == 6
check(double)
"""


def test_test_functions_bare_asserts_and_a_split_checker_are_named():
    assert prepare_tests("def test_a():\n    assert f() == 1\n").names == ("test_a",)
    assert prepare_tests("assert f(1) == 2\nassert f(2) == 4\n").names == ("test_assert_1", "test_assert_2")
    prepared = prepare_tests(HUMANEVAL_CHECK)
    assert prepared.names == ("test_check_1", "test_check_2") == prepared.counted  # one per case, as HumanEval counts
    assert "x = 3" in prepared.source.split("def test_check_2")[1]  # a case keeps the statements before it
    assert prepare_tests("def helper():\n    return 1\n").names == ()  # nothing to run: 'no test ran', never a pass


def test_a_checker_with_work_after_its_last_assert_runs_whole():
    prepared = prepare_tests("def check(c):\n    assert c(1) == 2\n    c(3)\ncheck(f)\n")
    assert prepared.names == ("test_call_1",) and prepared.counted == ()


def test_tests_that_do_not_parse_raise():
    with pytest.raises(SyntaxError):
        prepare_tests("def test_a(:\n")


@pytest.mark.parametrize(("actual", "expected", "rule", "same"), [
    ("1 2\n3\n", "1  2\n\n3", "tokens", True),
    ("1 2 3\n", "1 2\n3\n", "tokens", False),  # lines are lines
    ("a\u3000b\n", "a b\n", "tokens", False),  # a Unicode blank is part of a token, as APPS/CodeContests read it
    ("1.0 2\n", "1.00 2\n", "livecodebench", True),  # LiveCodeBench compares tokens as Decimals
    ("1.0 2\n", "1.00 2\n", "tokens", False),
    ("  x  \n", "x", "livecodebench", True),
    ("x\n\ny\n", "x\ny\n", "livecodebench", False),  # ...and counts blank lines
])
def test_output_rules_follow_each_sets_own_checker(actual, expected, rule, same):
    assert same_output(actual, expected, rule) is same
