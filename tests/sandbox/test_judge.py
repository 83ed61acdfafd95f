"""The judge's and the candidate's own rules, in-process (they run inside the sandboxes, beside their copy of
wire.py): which exceptions come back as what, which callables a test may hand the candidate, how an argument
changed in place comes back, and the candidate's rlimits. test_link.py and test_attacks.py run them for real."""

from __future__ import annotations

import math
import operator
import subprocess
import sys
from pathlib import Path

import flywheel_sandbox

# As in the sandbox, they import their sibling as `wire`; the folder leaves sys.path again at once, or its
# tests.py would shadow this suite's `tests` package.
sys.path.insert(0, str(Path(flywheel_sandbox.__file__).parent))
try:
    from flywheel_sandbox import candidate, judge
finally:
    sys.path.pop(0)


def test_a_candidates_exception_comes_back_as_a_builtin_or_as_candidate_error():
    assert type(judge._rebuild("ValueError", "bad", "call")) is ValueError
    assert type(judge._rebuild("MyError", "x", "call")) is judge.CandidateError
    assert type(judge._rebuild("SystemExit", "0", "call")) is judge.CandidateError  # never re-raised as itself
    # StopIteration ends a loop only where it is control flow: from next(), not from a plain call
    assert type(judge._rebuild("StopIteration", "", "next")) is StopIteration
    assert type(judge._rebuild("StopIteration", "", "call")) is judge.CandidateError


def test_only_computing_callables_may_be_handed_to_the_candidate():
    from_tests = eval(compile("lambda v: abs(v)", "tests.py", "eval"))
    elsewhere = eval(compile("lambda v: v", "candidate.py", "eval"))
    for allowed in (from_tests, abs, sorted, str.lower, dict.get, math.sqrt, operator.add, int):
        assert judge._allowed_callback(allowed), allowed
    for refused in (elsewhere, eval, exec, open, getattr, "{0.__class__}".format, print, __import__):
        assert not judge._allowed_callback(refused), refused


def test_an_argument_the_candidate_changed_in_place_comes_back_into_the_tests_own_object():
    rows, inner = [[3, 1], [2, 0]], None
    inner = rows[0]
    assert judge._update_in_place(rows, [[1, 3], [0, 2]])
    assert rows == [[1, 3], [0, 2]] and rows[0] is inner  # the tests' nested list itself, not a copy
    table = {"a": 0}
    assert judge._update_in_place(table, {"a": 0, "b": 1}) and table == {"a": 0, "b": 1}
    assert not judge._update_in_place((1,), (2,))  # a tuple cannot change: nothing to bring back


def test_the_names_the_tests_look_up_include_nested_functions():
    code = compile("def test_a():\n    assert helper(solve(1)) == 2\n", "tests.py", "exec")
    assert {"helper", "solve", "test_a"} <= judge._names_used(code)


def test_the_candidates_limits_hold_in_its_process():
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import resource, candidate\n"
             "candidate.apply_limits({'memory_bytes': 256 << 20, 'file_bytes': 1 << 20, 'open_files': 64,"
             " 'processes': 512, 'cpu_seconds': 5})\n"
             "print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_CORE)[0],"
             " resource.getrlimit(resource.RLIMIT_CPU))\n"
             "try:\n    bytearray(512 << 20)\nexcept MemoryError as e:\n    print(candidate.exception_text(e))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(Path(candidate.__file__).parent)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{256 << 20} 0 (5, 6)", "MemoryError"]
