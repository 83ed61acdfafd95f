"""Each public set judged exactly as its own harness judges it, never more leniently: the type and tolerance rule
(evalplus), the call comparison and the Solution rule (APPS, LiveCodeBench), the whitespace rule per format, the
checker's statements (HumanEval), and which tests count with which setup (MBPP). Every case runs in the sandbox."""

from __future__ import annotations

import json

import pytest

from flywheel.prompts.formats import load_prompts
from flywheel.records.schema import Sample
from flywheel.verification.plugins import VerifyItem
from flywheel_sandbox import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")


def judged(tmp_path, row: dict, answers: dict[str, str], fmt: str) -> dict[str, bool]:
    """``{label: passed}`` for each answer (Python code) to the one-row file ``row``, read as ``fmt``."""
    from flywheel_verifiers.unit_tests import UnitTestVerifier

    path = tmp_path / f"{fmt}.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (prompt,) = load_prompts(path, fmt=fmt)
    items = [VerifyItem(prompt=prompt, sample=Sample(prompt_id=prompt.id, sample_index=i, text=f"```python\n{code}\n```",
                                                      num_tokens=1, finish_reason="stop", round=1, checkpoint="c",
                                                      seed=0))
             for i, code in enumerate(answers.values())]
    results = UnitTestVerifier().verify_batch(items)
    assert all(r.status == "ok" for r in results), [r.reason for r in results]
    for label, result in zip(answers, results):
        print(f"{label}: {result.reason}")  # shown when an assertion below fails
    return {label: result.passed for label, result in zip(answers, results)}


def test_evalplus_checks_the_type_before_the_tolerance(tmp_path):
    row = {"task_id": "HumanEval/20", "entry_point": "closest",
           "prompt": "from typing import Tuple\n\ndef closest(a: float, b: float) -> Tuple[float, float]:\n",
           "canonical_solution": "    return (a, b)\n", "base_input": [[1.5, 2.25]], "plus_input": [], "atol": 0}
    assert judged(tmp_path, row, {
        "tuple": "    return (a, b)",
        "tuple, within 1e-6": "    return (a + 1e-9, b)",
        "list": "    return [a, b]",  # passed before: the tolerance was applied first
    }, "humaneval") == {"tuple": True, "tuple, within 1e-6": True, "list": False}
    row = {**row, "task_id": "HumanEval/2", "entry_point": "half", "prompt": "def half(x: float) -> float:\n",
           "canonical_solution": "    return x / 3\n", "base_input": [[1.0]]}
    assert judged(tmp_path, row, {
        "float": "    return x / 3 + 1e-9",
        "int": "    return 0",  # 0 for 0.333...: not equal, and an int is not a float
        "bool": "    return True",
    }, "humaneval") == {"float": True, "int": False, "bool": False}


def test_humaneval_find_zero_is_right_at_any_root_as_evalplus_checks_it(tmp_path):
    # HumanEval/32: evalplus checks poly(xs, output) == 0 within atol, not the recorded root
    row = {"task_id": "HumanEval/32", "entry_point": "find_zero",
           "prompt": "import math\n\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))\n\n"
                     "def find_zero(xs: list):\n",
           "canonical_solution": "    return 1.0\n", "base_input": [[[-2.0, 1.0, 1.0]]], "plus_input": [], "atol": 1e-6}
    assert judged(tmp_path, row, {"the recorded root": "    return 1.0", "the other root": "    return -2.0",
                                  "not a root": "    return 0.5"},
                  "humaneval") == {"the recorded root": True, "the other root": True, "not a root": False}


def mbpp_plus_row(number: int, entry: str, solution: str, inputs: list, atol: float = 0) -> dict:
    return {"task_id": f"Mbpp/{number}", "entry_point": entry, "prompt": f'"""\nWrite {entry}.\n"""\n',
            "canonical_solution": solution, "base_input": inputs, "plus_input": [], "atol": atol}


@pytest.mark.parametrize("fmt", ["humaneval", "mbpp"])  # MBPP+ is published in HumanEval's fields
def test_mbpp_plus_special_oracles_grade_as_evalplus_does(tmp_path, fmt):
    same_elements = mbpp_plus_row(2, "similar_elements", "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
                                  [[[3, 4, 5, 6], [5, 7, 4, 10]]])
    assert judged(tmp_path, same_elements, {
        "another order": "def similar_elements(a, b):\n    return (5, 4) if 4 in a else ()",
        "as a list": "def similar_elements(a, b):\n    return [4, 5]",  # evalplus compares set(out) == set(exp)
        "one missing": "def similar_elements(a, b):\n    return (4,)",
        # MBPP+ stores tuples as JSON lists; evalplus hands the function tuples again (mbpp_deserialize_inputs)
        "needs tuples": "def similar_elements(a, b):\n    assert type(a) is tuple and type(b) is tuple\n"
                        "    return tuple(set(a) & set(b))",
    }, fmt) == {"another order": True, "as a list": True, "one missing": False, "needs tuples": True}
    matches = mbpp_plus_row(787, "text_match_three", "import re\ndef text_match_three(text):\n"
                                                       "    return re.search('ab{3}?', text)\n", [["ac"], ["dabbbba"]])
    assert judged(tmp_path, matches, {
        "a match object": "import re\ndef text_match_three(text):\n    return re.search('abbb', text)",
        "booleans": "def text_match_three(text):\n    return 'abbb' in text",
        "never": "def text_match_three(text):\n    return None",
    }, fmt) == {"a match object": True, "booleans": True, "never": False}
    complex_input = mbpp_plus_row(124, "angle_complex", "import cmath\ndef angle_complex(a, b):\n"
                                                       "    return cmath.phase(a + b)\n", [[0.0, "1j"], [2.0, "1+2j"]])
    assert judged(tmp_path, complex_input, {
        "phase": "import cmath\ndef angle_complex(a, b):\n    return cmath.phase(a + b)",
        "ignores b": "def angle_complex(a, b):\n    return 0.0",
    }, fmt) == {"phase": True, "ignores b": False}
    pyramid = mbpp_plus_row(581, "surface_Area", "def surface_Area(b, s):\n    return 2 * b * s + b * b\n", [[3, 4]])
    assert judged(tmp_path, pyramid, {
        "the recorded answer": "def surface_Area(b, s):\n    return 33",
        "height read as the apex's": "def surface_Area(b, s):\n    return 35",  # evalplus's own oracle
        "neither": "def surface_Area(b, s):\n    return 34",
    }, fmt) == {"the recorded answer": True, "height read as the apex's": True, "neither": False}


def livecodebench_row(tests: list[dict], func_name: str | None = None) -> dict:
    return {"question_id": "9001", "question_title": "t", "question_content": "Do it.", "platform": "leetcode",
            "starter_code": "", "public_test_cases": json.dumps(tests), "private_test_cases": "",
            "metadata": json.dumps({"func_name": func_name} if func_name else {})}


def test_livecodebench_compares_calls_exactly_and_never_falls_back_from_solution(tmp_path):
    row = livecodebench_row([{"input": "5", "output": "[5]", "testtype": "functional"}], "wrap")
    assert judged(tmp_path, row, {
        "list": "class Solution:\n    def wrap(self, x):\n        return [x]",
        "tuple": "class Solution:\n    def wrap(self, x):\n        return (x,)",  # LiveCodeBench: a tuple is a list
        "bare": "class Solution:\n    def wrap(self, x):\n        return x",  # passed before: APPS's [x] rule
        "constructor raises": "class Solution:\n    def __init__(self):\n        raise NameError('no')\n"
                              "    def wrap(self, x):\n        return [x]\n\ndef wrap(x):\n    return [x]",
    }, "livecodebench") == {"list": True, "tuple": True, "bare": False, "constructor raises": False}
    # APPS's own harness does accept x for [x]: the rule is per set
    apps = {"problem_id": 7, "question": "Wrap it.", "input_output": json.dumps(
        {"fn_name": "wrap", "inputs": [[5]], "outputs": [[5]]})}
    assert judged(tmp_path, apps, {"bare": "def wrap(x):\n    return x"}, "apps") == {"bare": True}


def test_stdin_stdout_whitespace_is_each_graders_own(tmp_path):
    lcb = livecodebench_row([{"input": "", "output": "1 2\n3\n", "testtype": "stdin"}])
    assert judged(tmp_path, lcb, {
        "plain": "print('1 2'); print(3)",
        "blanks at the ends": "print('  1 2\\t'); print('3 ')",
        "decimal": "print('1.0 2'); print('3.00')",  # LiveCodeBench compares numeric lines as Decimals
        "U+2028 for a newline": "print('1 2\\u20283')",  # passed before: splitlines() split there
        "one line": "print('1 2 3')",
    }, "livecodebench") == {"plain": True, "blanks at the ends": True, "decimal": True,
                            "U+2028 for a newline": False, "one line": False}
    apps = {"problem_id": 8, "question": "Print it.", "input_output": json.dumps({"inputs": [""],
                                                                                  "outputs": ["1 2\n3\n"]})}
    assert judged(tmp_path, apps, {
        "plain": "print('1 2'); print(3)",
        "tabs and blank lines": "print('1\\t2 '); print(); print(3)",
        "U+3000 between tokens": "print('1\\u30002'); print(3)",  # passed before: str.split() split there
        "NBSP between tokens": "print('1\\xa02'); print(3)",
        "\\x1e for a newline": "print('1 2\\x1e3')",
        "U+2028 for a newline": "print('1 2\\u20283')",
    }, "apps") == {"plain": True, "tabs and blank lines": True, "U+3000 between tokens": False,
                   "NBSP between tokens": False, "\\x1e for a newline": False, "U+2028 for a newline": False}


def test_a_humaneval_checker_runs_its_trailing_statements_and_a_helper_is_not_a_case(tmp_path):
    def row(test: str) -> dict:
        return {"task_id": "HumanEval/900", "entry_point": "f", "prompt": "def f(x):\n",
                "canonical_solution": "    return x + 1\n", "test": test}
    helper = ("def check(candidate):\n    def same(a, b):\n        assert a == b\n"
              "    assert candidate(0) == 1\n    same(candidate(1), 2)\n    same(candidate(5), 6)\n")
    raising = ("def check(candidate):\n    assert candidate(0) == 1\n"
               "    if candidate(41) != 42:\n        raise AssertionError('41')\n")
    answers = {"right": "    return x + 1", "zero": "    return 0", "only the first case": "    return 1"}
    expected = {"right": True, "zero": False, "only the first case": False}  # the last passed before
    assert judged(tmp_path, row(helper), answers, "humaneval") == expected
    assert judged(tmp_path, row(raising), answers, "humaneval") == expected


def test_mbpp_runs_its_imports_and_setup_with_the_code_and_scores_test_list_only(tmp_path):
    sanitized = {"task_id": 82, "prompt": "Write a function to find the volume of a sphere.",
                 "code": "import math\ndef volume_sphere(r):\n  return (4/3)*math.pi*r*r*r",
                 "test_imports": ["import math"], "test_list": [
                     "assert math.isclose(volume_sphere(10), 4188.790204786391, rel_tol=0.001)",
                     "assert math.isclose(volume_sphere(25), 65449.84694978735, rel_tol=0.001)"]}
    assert judged(tmp_path, sanitized, {"reference": sanitized["code"]}, "mbpp") == {"reference": True}
    full = {"task_id": 9002, "text": "Write a function that doubles with SCALE.", "test_setup_code": "SCALE = 2",
            "code": "def double(x):\n    return SCALE * x",
            "test_list": ["assert double(2) == 4", "assert double(0) == 0"],
            "challenge_test_list": ["assert double('a') == 'aa' and False"]}
    assert judged(tmp_path, full, {"reference": full["code"], "wrong": "def double(x):\n    return x"}, "mbpp") == {
        "reference": True, "wrong": False}


def test_a_humaneval_case_counts_only_when_one_of_its_asserts_ran(tmp_path):
    """A checker's statement whose asserts sit in a branch the candidate steers past, or in a loop over nothing,
    ran no assert: it is no passing case. The judge counts executed asserts on its side of the link."""
    from flywheel_verifiers.unit_tests import UnitTestVerifier

    test = ("def check(candidate):\n    assert candidate(0) == 1\n"
            "    if candidate(2) == 0:\n        assert candidate(3) == 4\n"
            "    for x in []:\n        assert candidate(x) == x + 1\n    assert candidate(1) == 2\n")
    path = tmp_path / "humaneval.jsonl"
    path.write_text(json.dumps({"task_id": "HumanEval/901", "entry_point": "f", "prompt": "def f(x):\n",
                                "canonical_solution": "    return x + 1\n", "test": test}) + "\n")
    (prompt,) = load_prompts(path, fmt="humaneval")
    answers = {"right": "    return x + 1", "constant": "    return 7", "only the first": "    return 1"}
    items = [VerifyItem(prompt=prompt, sample=Sample(prompt_id=prompt.id, sample_index=i, text=f"```python\n{code}\n```",
                                                      num_tokens=1, finish_reason="stop", round=1, checkpoint="c",
                                                      seed=0)) for i, code in enumerate(answers.values())]
    results = dict(zip(answers, UnitTestVerifier().verify_batch(items)))
    # the two cases that ran an assert count; the branch not taken and the empty loop do not (they were 4 of 4,
    # 2 of 4 and 3 of 4 before: a constant answer scored a half)
    assert {label: (r.passed, r.score) for label, r in results.items()} == {
        "right": (True, 1.0), "constant": (False, 0.0), "only the first": (False, 0.5)}
    assert [t["name"] for t in results["right"].details["tests"]] == ["test_check_1", "test_check_4"]
