"""Public data sets read in their own published fields, and judged the way their own harnesses judge them.

Each reader takes one row as published and returns the parts of a prompt: the user's
message, a demonstration when the row carries a solution, the reference its verifier
reads, a default domain and the row's own id. A missing field raises ``KeyError(field)``,
which collect reports with the file and line.

| format | published fields read | reference (what the verifier runs) |
|---|---|---|
| ``humaneval`` (HumanEval, HumanEval+) | task_id, prompt, entry_point, canonical_solution, test; base_input, plus_input, atol | ``check(entry_point)``, one test per assert of ``check``; with ``*_input``, one test per input against the canonical solution's output |
| ``mbpp`` (MBPP, MBPP+) | task_id, text or prompt, code, test_list, test_setup_code, challenge_test_list; base_input, plus_input, atol, entry_point | one test per assert string; with ``*_input``, as HumanEval+ |
| ``apps`` (APPS, TACO, CodeContests) | question or description, input_output {inputs, outputs, fn_name?} or public/private/generated_tests {input, output}, starter_code | stdin/stdout cases, or one call per case of ``fn_name`` (``Solution().fn_name`` when the program defines ``Solution``) |
| ``livecodebench`` | question_id, question_content, starter_code, public_test_cases, private_test_cases (JSON, or base64 zlib pickle of JSON), metadata.func_name | stdin/stdout cases, or functional cases called as ``Solution().func_name`` |
| ``gsm8k`` | question, answer (reasoning then ``#### N``) | ``N`` (thousands separators dropped) |
| ``math`` (MATH, MATH-500) | problem, solution with ``\\boxed{}``, answer, unique_id | ``answer``, else the solution (the checker reads its last ``\\boxed{}``) |
| ``numina`` (NuminaMath-CoT, -1.5) | problem, solution, answer | as ``math``; a row with no boxed answer (a proof) has no reference |

A code reference is JSON: ``{"tests": SOURCE, "prefix": CODE}`` (the program is ``prefix`` and
then the response's code, so a HumanEval completion that is only a function body runs
as its harness runs it, and the prompt's helper functions exist) or ``{"io": [[stdin,
stdout], ...]}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flywheel.prompts.untrusted_data import loads_json, unpickle_base64_zlib

# evalplus's instruction for chat models (evalplus/codegen.py)
CODE_INSTRUCTION = ("Please provide a self-contained Python script that solves the following problem in a markdown "
                    "code block:\n```python\n{prompt}\n```")
_GSM8K_CALCULATOR = re.compile(r"<<[^<>]*>>")
# LeetCode-style starter code names List, Optional... unimported; LiveCodeBench's and TACO's harnesses put
# imports before the program (a shorter form of LiveCodeBench's import_string).
LEETCODE_PREFIX = ("from typing import *\nfrom collections import *\nfrom functools import *\n"
                   "from itertools import *\nfrom heapq import *\nfrom bisect import *\nimport math\n")


def _text(row: dict, *fields: str) -> str:
    """The first of ``fields`` the row has (a KeyError naming the first one when it has none)."""
    for field in fields:
        if row.get(field) is not None:
            value = row[field]
            if not isinstance(value, str):
                raise ValueError(f"field {field!r} must be a string, got {type(value).__name__}")
            return value
    raise KeyError(fields[0])


def _json_field(row: dict, field: str) -> Any:
    value = row[field]
    if isinstance(value, str):
        return loads_json(value, field) if value.strip() else None
    return value


def _string_list(row: dict, field: str) -> list[str]:
    value = row.get(field) or []
    if isinstance(value, str):
        value = _json_field(row, field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"field {field!r} must be a list of strings (asserts), got {type(value).__name__}")
    return value


def code_reference(tests: str | None = None, *, prefix: str = "", io_cases: list | None = None,
                   compare: str = "tokens") -> str:
    """The JSON reference the unit_tests verifier reads (flywheel_verifiers.unit_tests.parse_reference)."""
    if io_cases is not None:
        return json.dumps({"io": io_cases} if compare == "tokens" else {"io": io_cases, "compare": compare})
    return json.dumps({"tests": tests, "prefix": prefix} if prefix else {"tests": tests})


# --- tests written from published test data ------------------------------------------------------------------

_CALL_HELPERS = '''
def _fw_entry():
    # As APPS and LiveCodeBench pick it: Solution().{name} when the code defines a Solution class (a constructor
    # that raises fails the case; there is no second try), else the module-level {name}.
    try:
        solution = Solution
    except NameError:
        return {name}
    return solution().{name}


def _fw_same(output, expected):
    # {rule}'s comparison: a tuple is a list{apps_note}
    if isinstance(output, tuple):
        output = list(output)
    if output == expected:
        return True
    return {apps_rule}
'''

# What each grader accepts beyond output == expected (a tuple is always a list first). APPS's harness also accepts
# x for an expected [x] and a list of tuples for [[lists]]; LiveCodeBench's compares exactly (testing_util.py).
CALL_RULES = {
    "apps": ("isinstance(expected, list) and len(expected) == 1 and (output == expected[0] or ("
             "isinstance(output, list) and bool(output) and isinstance(output[0], tuple) "
             "and [list(x) for x in output] == expected[0]))", ", and an expected [x] also accepts x"),
    "livecodebench": ("False", "; nothing else"),
}


def call_tests(name: str, cases: list[tuple[list, Any]], rule: str = "apps") -> str:
    """One test per (arguments, expected) case, calling ``name`` (or ``Solution().name``) as APPS and LiveCodeBench
    do, compared by ``rule`` (a key of CALL_RULES: each set's own grader)."""
    if not name.isidentifier():
        raise ValueError(f"fn_name {name!r} is not a Python name")
    accepts, note = CALL_RULES[rule]
    lines = [_CALL_HELPERS.format(name=name, rule=rule, apps_rule=accepts, apps_note=note)]
    for number, (args, expected) in enumerate(cases, start=1):
        if not isinstance(args, list):
            args = [args]
        lines.append(f"\ndef test_case_{number}():\n    assert _fw_same(_fw_entry()(*{args!r}), {expected!r})\n")
    return "".join(lines)


_EVALPLUS_HELPERS = '''
import copy as _fw_copy
import math as _fw_math

_fw_reference_namespace = {{}}
exec({reference!r}, _fw_reference_namespace)
_fw_reference = _fw_reference_namespace[{entry!r}]
_fw_dataset, _fw_entry = {dataset!r}, {entry!r}

# evalplus's special oracles (evalplus/eval/_special_oracle.py and check_output in evalplus/eval/__init__.py), for
# tasks whose recorded output is not the only right one: compared as sets, graded on "returned something", or
# checked against an oracle of their own.
_FW_SET_EQ = {{"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
              "intersection_array", "find_dissimilar", "Diff"}}
_FW_NOT_NONE = {{"check_str", "text_match_three", "text_starta_endb"}}


def _fw_surface_Area(base_edge, height):  # Mbpp/581: height is the base-to-apex distance
    slant_height = _fw_math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 4 * (base_edge * slant_height) / 2)


def _fw_digit_distance_nums(num1, num2):  # Mbpp/558: both numbers zero-padded to one length
    left, right = str(num1), str(num2)
    width = max(len(left), len(right))
    return sum(abs(int(a) - int(b)) for a, b in zip(left.zfill(width), right.zfill(width)))


def _fw_poly(xs, x):  # HumanEval/32: find_zero is right when the polynomial is 0 there
    return sum(coeff * _fw_math.pow(x, power) for power, coeff in enumerate(xs))


def _fw_is_floats(value):
    return isinstance(value, float) or (isinstance(value, (list, tuple)) and bool(value)
                                        and all(isinstance(x, float) for x in value))


def _fw_allclose(output, expected, atol):
    # numpy.allclose(output, expected, rtol=1e-7, atol) without numpy: elementwise |o - e| <= atol + rtol * |e|
    if isinstance(expected, (list, tuple)):
        return (isinstance(output, (list, tuple)) and len(output) == len(expected)
                and all(_fw_allclose(o, e, atol) for o, e in zip(output, expected)))
    if not isinstance(output, (bool, int, float)) or not isinstance(expected, (bool, int, float)):
        return False
    return abs(output - expected) <= atol + 1e-7 * abs(expected)


def _fw_close(args, output, expected, atol):
    # evalplus's check_output, rule for rule: == first, then the special oracles; otherwise, when a tolerance
    # applies (the set's atol, or 1e-6 for a float or a list of floats), the output's type must be the expected
    # type, a list or tuple of the same length, and then allclose.
    if _fw_dataset == "humaneval" and _fw_entry == "find_zero":
        return abs(_fw_poly(*args, output)) <= atol
    if _fw_dataset == "mbpp" and _fw_entry in _FW_NOT_NONE:  # expected is already "the reference returned something"
        # (never == first here: the output may be a match object, which crosses as a handle that refuses ==)
        return output == expected if isinstance(output, bool) else expected == (output is not None)
    exact = output == expected
    if _fw_dataset == "mbpp":
        if _fw_entry == "are_equivalent":  # Mbpp/164: evalplus accepts any output (its reference is wrong)
            exact = True
        elif _fw_entry == "sum_div":  # Mbpp/295
            exact = exact or output == 0
        elif _fw_entry == "surface_Area":
            exact = exact or abs(output - _fw_surface_Area(*args)) <= atol
        elif _fw_entry == "digit_distance_nums":
            exact = exact or output == _fw_digit_distance_nums(*args)
        elif _fw_entry in _FW_SET_EQ:
            exact = set(output) == set(expected)
    if atol == 0 and _fw_is_floats(expected):
        atol = 1e-6
    if exact or atol == 0:
        return bool(exact)
    if type(output) is not type(expected):
        return False
    if isinstance(expected, (list, tuple)) and len(output) != len(expected):
        return False
    return _fw_allclose(output, expected, atol)


def _fw_check(args, atol):
    expected = _fw_reference(*_fw_copy.deepcopy(args))
    if _fw_dataset == "mbpp" and _fw_entry in _FW_NOT_NONE:
        expected = expected is not None
    output = {entry}(*_fw_copy.deepcopy(args))
    assert _fw_close(_fw_copy.deepcopy(args), output, expected, atol), "input %.300r" % (args,)
'''


def evalplus_tests(entry: str, reference_program: str, inputs: list, atol: float, dataset: str) -> str:
    """One test per input, the candidate's output against the canonical solution's (run beside the tests), by
    evalplus's rules for ``dataset`` (humaneval or mbpp)."""
    if not entry.isidentifier():
        raise ValueError(f"entry_point {entry!r} is not a Python name")
    lines = [_EVALPLUS_HELPERS.format(reference=reference_program, entry=entry, dataset=dataset)]
    for number, args in enumerate(inputs, start=1):
        lines.append(f"\ndef test_input_{number}():\n    _fw_check({args!r}, {float(atol or 0)!r})\n")
    return "".join(lines)


def _tuples_all_the_way(value):
    return tuple(_tuples_all_the_way(item) for item in value) if isinstance(value, list) else value


def _is_mbpp_plus(task_id) -> bool:
    """evalplus names MBPP+ tasks ``Mbpp/N`` (HumanEval+ ones ``HumanEval/N``); both are published in the fields
    the ``humaneval`` reader reads."""
    return str(task_id or "").startswith("Mbpp/") and str(task_id)[5:].isdigit()


def mbpp_plus_inputs(task_id: str, inputs: list) -> list:
    """MBPP+'s inputs with the types JSON could not carry (tuples, sets, complex numbers) put back, task by task,
    as evalplus's own mbpp_deserialize_inputs does (evalplus/data/mbpp.py): without it a candidate receives a list
    where the task promised a tuple. Quirks included (Mbpp/115's empty members become ``{}``)."""
    if not _is_mbpp_plus(task_id):
        return inputs  # the task numbers below are MBPP+'s
    number = int(str(task_id)[5:])
    if number in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
                  744, 809):
        return [[tuple(part) for part in args] for args in inputs]
    if number in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(item) for item in part] for part in args] for args in inputs]
    if number in (75, 413, 444, 753):
        return [[[tuple(item) for item in args[0]], args[1]] for args in inputs]
    if number in (106, 750):
        return [[args[0], tuple(args[1])] for args in inputs]
    if number == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in args[0]]] for args in inputs]
    if number == 124:
        return [(float(args[0]), complex(args[1])) for args in inputs]
    if number in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(args[0]), args[1]] for args in inputs]
    if number in (259, 401, 445):
        return [[tuple(tuple(item) for item in part) for part in args] for args in inputs]
    if number == 278:
        return [[tuple(tuple(item) if isinstance(item, list) else item for item in args[0])] for args in inputs]
    if number == 307:
        return [[tuple(args[0]), args[1], args[2]] for args in inputs]
    if number == 722:
        return [[{key: tuple(value) for key, value in args[0].items()}, *args[1:]] for args in inputs]
    if number == 252:
        return [[complex(args[0])] for args in inputs]
    if number in (580, 615, 791):
        return [_tuples_all_the_way(args) for args in inputs]
    return inputs


def _plus_inputs(row: dict) -> list | None:
    if row.get("base_input") is None and row.get("plus_input") is None:
        return None
    inputs = []
    for field in ("base_input", "plus_input"):
        value = _json_field(row, field) if row.get(field) is not None else []
        if not isinstance(value, list):
            raise ValueError(f"field {field!r} must be a list of argument lists")
        inputs.extend(value)
    return inputs


# --- readers ----------------------------------------------------------------------------------------------------

def read_humaneval(row: dict) -> dict:
    prompt, entry = _text(row, "prompt"), _text(row, "entry_point")
    solution = row.get("canonical_solution")
    inputs = _plus_inputs(row)
    if inputs is not None:
        if solution is None:
            raise KeyError("canonical_solution")
        dataset = "mbpp" if _is_mbpp_plus(row.get("task_id")) else "humaneval"
        tests = evalplus_tests(entry, prompt + solution, mbpp_plus_inputs(row.get("task_id"), inputs),
                               row.get("atol") or 0, dataset)
    else:
        tests = f"{_text(row, 'test')}\n\ncheck({entry})\n"
    return {"id": row.get("task_id"), "domain": "code", "user": CODE_INSTRUCTION.format(prompt=prompt.strip()),
            "response": None if solution is None else f"```python\n{prompt}{solution}```",
            "reference": code_reference(tests, prefix=prompt)}


def read_mbpp(row: dict) -> dict:
    task = _text(row, "text", "prompt")
    tests = _string_list(row, "test_list")
    inputs = _plus_inputs(row)
    code = row.get("code") or row.get("canonical_solution")
    if inputs is not None:
        entry = _text(row, "entry_point")
        if code is None:
            raise KeyError("code")
        inputs = mbpp_plus_inputs(row.get("task_id") or "", inputs)
        reference = code_reference(evalplus_tests(entry, code, inputs, row.get("atol") or 0, "mbpp"))
    else:
        if not tests:
            raise ValueError("field 'test_list' is empty: MBPP rows are judged by their asserts")
        # As MBPP's own evaluation: the program is the imports (MBPP sanitized's test_imports) and the setup code,
        # then the code, then test_list. The setup is the candidate's too, so it goes before its code as well as
        # before the tests; challenge_test_list is not scored, as the prompt shows test_list only.
        setup = "\n".join([*_string_list(row, "test_imports"), row.get("test_setup_code") or ""]).strip()
        reference = code_reference("\n".join([setup, *tests]) + "\n", prefix=setup + "\n" if setup else "")
    shown = "\n".join(tests) if tests else (row.get("test") or "")
    user = f"{task.strip()}\nYour code should pass these tests:\n\n{shown}" if shown else task.strip()
    return {"id": row.get("task_id"), "domain": "code", "user": user,
            "response": None if code is None else f"```python\n{code}\n```", "reference": reference}


def _lines(value: Any) -> str:
    return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _apps_cases(row: dict) -> tuple[str | None, list]:
    if row.get("input_output") is not None:  # APPS and TACO
        spec = _json_field(row, "input_output") or {}
        if not isinstance(spec, dict) or "inputs" not in spec or "outputs" not in spec:
            raise ValueError("field 'input_output' must be JSON with 'inputs' and 'outputs'")
        return spec.get("fn_name"), list(zip(spec["inputs"], spec["outputs"]))
    cases = []  # CodeContests: public, private and generated tests, each {input: [...], output: [...]}
    for field in ("public_tests", "private_tests", "generated_tests"):
        tests = _json_field(row, field) if row.get(field) is not None else None
        if tests:
            cases.extend(zip(tests["input"], tests["output"]))
    if not cases:
        raise KeyError("input_output")
    return None, cases


def read_apps(row: dict) -> dict:
    question = _text(row, "question", "description")
    fn_name, cases = _apps_cases(row)
    if not cases:
        raise ValueError("the row has no test cases")
    if fn_name:
        reference = code_reference(call_tests(fn_name, cases), prefix=LEETCODE_PREFIX)
    else:
        reference = code_reference(io_cases=[[_lines(given), _lines(expected)] for given, expected in cases])
    starter = row.get("starter_code") or ""
    user = question.strip() + (f"\n\nStart from this code:\n```python\n{starter}\n```" if starter.strip() else "")
    solutions = _json_field(row, "solutions") if row.get("solutions") else None
    if isinstance(solutions, dict):  # CodeContests: {language: [...], solution: [...]}, 3 is Python 3
        solutions = [code for language, code in zip(solutions.get("language", []), solutions.get("solution", []))
                     if language == 3]
    response = f"```python\n{solutions[0]}\n```" if isinstance(solutions, list) and solutions else None
    return {"id": row.get("problem_id", row.get("name")), "domain": "code", "user": user, "response": response,
            "reference": reference}


def _livecodebench_cases(value: Any, field: str) -> list[dict]:
    if isinstance(value, str) and value.strip() and not value.lstrip().startswith("["):
        value = unpickle_base64_zlib(value, field)  # bounded: see flywheel.prompts.untrusted_data
    if isinstance(value, str):
        value = loads_json(value, field) if value.strip() else []
    if not isinstance(value, list):
        raise ValueError(f"field {field!r} must be a list of test cases")
    return value


def read_livecodebench(row: dict) -> dict:
    question = _text(row, "question_content")
    cases = _livecodebench_cases(row.get("public_test_cases") or [], "public_test_cases")
    cases += _livecodebench_cases(row.get("private_test_cases") or [], "private_test_cases")
    if not cases:
        raise KeyError("public_test_cases")
    kinds = {case.get("testtype", "stdin") for case in cases}
    if kinds == {"functional"}:
        metadata = _json_field(row, "metadata") if row.get("metadata") else {}
        name = (metadata or {}).get("func_name")
        if not name:
            raise KeyError("metadata.func_name")
        calls = [([loads_json(line, "input") for line in case["input"].split("\n") if line.strip()],
                  loads_json(case["output"], "output")) for case in cases]
        reference = code_reference(call_tests(name, calls, rule="livecodebench"), prefix=LEETCODE_PREFIX)
    elif kinds == {"stdin"}:
        reference = code_reference(io_cases=[[case["input"], case["output"]] for case in cases],
                                   compare="livecodebench")
    else:
        raise ValueError(f"test cases mix kinds {sorted(kinds)}")
    starter = row.get("starter_code") or ""
    user = question.strip() + (f"\n\nStart from this code:\n```python\n{starter}\n```" if starter.strip() else "")
    return {"id": row.get("question_id"), "domain": "code", "user": user, "response": None, "reference": reference}


def read_gsm8k(row: dict) -> dict:
    question, answer = _text(row, "question"), _text(row, "answer")
    if "####" not in answer:
        raise ValueError("field 'answer' has no '#### N' final answer")
    reasoning, final = answer.rsplit("####", 1)
    final = final.strip().replace(",", "")
    if not final:
        raise ValueError("field 'answer' has nothing after '####'")
    response = f"{_GSM8K_CALCULATOR.sub('', reasoning).strip()}\nThe answer is {final}."
    return {"id": row.get("id"), "domain": "math", "user": question.strip(), "response": response, "reference": final}


def _boxed_solution(solution: str | None) -> str | None:
    """The solution itself as the reference, when it boxes its answer: the math checker reads the last box."""
    return solution if solution and ("\\boxed" in solution or "\\fbox" in solution) else None


def read_math(row: dict) -> dict:
    problem = _text(row, "problem")
    solution = row.get("solution")
    answer = row.get("answer")
    reference = str(answer).strip() if answer not in (None, "") else _boxed_solution(solution)
    if reference is None:
        raise ValueError("no 'answer' field and no \\boxed{} answer in 'solution'")
    return {"id": row.get("unique_id", row.get("id")), "domain": "math", "user": problem.strip(),
            "response": solution, "reference": reference}


_NOT_AN_ANSWER = {"", "proof", "notfound", "none", "null"}


def read_numina(row: dict) -> dict:
    problem = _text(row, "problem")
    solution = row.get("solution")
    answer = row.get("answer")
    usable = answer is not None and str(answer).strip().lower() not in _NOT_AN_ANSWER
    reference = str(answer).strip() if usable else _boxed_solution(solution)
    return {"id": row.get("id"), "domain": "math", "user": problem.strip(), "response": solution,
            "reference": reference}


READERS = {"humaneval": read_humaneval, "mbpp": read_mbpp, "apps": read_apps, "livecodebench": read_livecodebench,
           "gsm8k": read_gsm8k, "math": read_math, "numina": read_numina}


def detect_public_format(row: dict) -> str | None:
    """The public data set a row comes from, by its distinctive fields; None for chat formats."""
    keys = set(row)
    if {"prompt", "entry_point"} <= keys and ({"test"} & keys or {"base_input", "plus_input"} & keys):
        return "humaneval"
    if "test_list" in keys and keys & {"text", "prompt"}:
        return "mbpp"
    if "question_content" in keys and "public_test_cases" in keys:
        return "livecodebench"
    if "input_output" in keys and "question" in keys or "description" in keys and "public_tests" in keys:
        return "apps"
    if {"question", "answer"} <= keys and "####" in str(row["answer"]):
        return "gsm8k"
    if {"problem", "solution"} <= keys or {"problem", "answer"} <= keys:
        return "numina" if keys & {"source", "problem_type", "question_type"} else "math"
    return None
