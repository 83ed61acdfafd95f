"""Function-level tests in C++, JavaScript and TypeScript (MultiPL-E's format), judged apart from the answer."""

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from flywheel_sandbox import Limits
from flywheel_sandbox.function_tests import HARNESSES, frames
from flywheel_sandbox.programs import run_function_tests
from flywheel_sandbox.runner import bwrap_available
from tests.sandbox.function_tests_by_language import PROBLEMS, STEERING

needs_sandbox = pytest.mark.skipif(not bwrap_available() or os.geteuid() != 0,
                                   reason="bubblewrap as root is needed (make setup installs it)")
LIMITS = Limits(cpu_seconds=2, wall_seconds=8)


@needs_sandbox
@pytest.mark.parametrize("language", sorted(PROBLEMS))
def test_right_answers_pass_and_wrong_ones_fail(language):
    jobs = [(name, prompt + answer, tests, right, prompt) for name, (prompt, tests, good, bad)
            in PROBLEMS[language].items() for answer, right in ((good, True), (bad, False))]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda job: run_function_tests(language, job[1], job[2], LIMITS, prompt=job[4]), jobs))
    for (name, _, _, right, _), result in zip(jobs, results):
        assert result.passed == right, (name, right, result.status, result.reason)
        assert result.status in {"passed", "failed"}, (name, result.reason)
    wrong_add = next(r for (name, _, _, right, _), r in zip(jobs, results) if name == "add" and not right)
    assert [t.passed for t in wrong_add.tests] == [False, False, False]  # x - y: -1, -2 and -6
    assert "gave -1, expected 1" in wrong_add.tests[0].error


@needs_sandbox
@pytest.mark.parametrize("language,attack", [(language, attack) for language, attacks in sorted(STEERING.items())
                                             for attack in sorted(attacks)])
def test_an_answer_cannot_steer_its_verdict(language, attack):
    prompt, tests, _, _ = PROBLEMS[language]["add"]
    result = run_function_tests(language, prompt + STEERING[language][attack], tests, LIMITS, prompt=prompt)
    assert not result.passed, (result.status, result.reason)
    assert sum(t.passed for t in result.tests) <= 1  # at most the check whose expected value is the forged 1


@pytest.mark.parametrize("language", sorted(PROBLEMS))
def test_the_answers_program_holds_no_expected_value(language):
    """The answer's program is the same whatever the checks expect: no expected value reaches its process."""
    harness = HARNESSES[language]
    for prompt, tests, good, _ in PROBLEMS[language].values():
        parsed = harness.parse(tests)
        assert parsed.checks and all(check.call and check.expected for check in parsed.checks)
        altered = dataclasses.replace(parsed, checks=[dataclasses.replace(c, expected="(424242)") for c in parsed.checks])
        assert harness.candidate_program(prompt + good, parsed) == harness.candidate_program(prompt + good, altered)
        judge = harness.judge_program(parsed, prompt) if language == "rust" else harness.judge_program(parsed)
        assert all(check.expected in judge for check in parsed.checks) and "candidate" not in judge


def test_frames_take_the_first_value_per_check_and_ignore_other_output():
    assert frames("noise\x1e0\x1f1\x1e\nmore\x1e0\x1f2\x1e\n\x1e1\x1f\"a\nb\"\x1e\n") == {0: "1", 1: '"a\nb"'}


@needs_sandbox
def test_tests_that_do_not_parse_or_languages_without_a_harness_are_the_references_fault():
    assert run_function_tests("cpp", "int f() {", "int main() { return 0; }", LIMITS).status == "error"
    with pytest.raises(ValueError, match="function-level tests in c are not judged yet"):
        run_function_tests("c", "int main() {}", "int main() {}", LIMITS)
