import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flywheel.records.schema import Message, Prompt, Sample
from flywheel.verification.plugins import VerifyItem
from flywheel_verifiers.math import MathVerifier, answers_match, answers_match_batch, extract_answer
from flywheel_verifiers.math_extract import normalize_answer
from flywheel_verifiers.math_worker import MathWorkerPool, wall_backstop

SUITE = [json.loads(line) for line in (Path(__file__).parent / "math_suite.jsonl").read_text().splitlines()]
# Each of these must come back False within the bound, whatever sympy would make of it.
ADVERSARIAL = [
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{10^{10^{10}}!}",
    "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}",
    "$" + "+".join(["x"] * 5000) + "$",
    "\\boxed{2^{2^{40}}}",
    "\\boxed{99999999^{99999999}}",
    "\\boxed{1000000!}",
    "\\boxed{(x+1)^{3000} - (x+1)^{2999}}",
    "\\boxed{" * 10000,
    "\\[" * 50000,
    "$$" * 50000 + "x",
]


@pytest.fixture(scope="module")
def pool():
    workers = MathWorkerPool(size=2)
    workers.warm()
    yield workers
    workers.close()


@pytest.mark.parametrize("case", SUITE, ids=[f"{i}" for i in range(len(SUITE))])
def test_suite_case(case, pool):
    assert answers_match(case["gold"], case["response"], pool=pool) is case["expected"], case


def test_batch_agrees_with_single_calls(pool):
    pairs = [(case["gold"], case["response"]) for case in SUITE]
    assert answers_match_batch(pairs, pool=pool) == [case["expected"] for case in SUITE]


@pytest.mark.parametrize(("response", "answer"), [
    ("so \\boxed{1} then \\boxed{42}", "42"),
    ("We get 3 + 4 = 7. The answer is 7.", "7"),
    ("work\n#### 1,234", "1,234"),
    ("first 3 then 5", "5"),
    ("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", "120"),
    ("The final answer is $28 \\%$. I hope it is correct.", "28 \\%"),
    ("Answer \\[ \n 9 \n \\]", "9"),
    ("the last term is x^2+3x", "the last term is x^2+3x"),  # no lone number: a short reply is its own answer
    ("\\boxed 5", "5"),
    ("no numbers here, " * 10, None),
])
def test_extract_answer(response, answer):
    assert extract_answer(response) == answer


@pytest.mark.parametrize(("raw", "text"), [
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("\\frac12", "\\frac{1}{2}"),
    ("7,425,000", "7425000"),
    ("1 000", "1000"),
    ("12,\\!000,\\!023", "12000023"),
    ("4 4/9", "(4+\\frac{4}{9})"),
    ("15\\mbox{ cm}^2", "15"),
    ("90^\\circ", "90"),
    ("\\$1,000.99", "1000.99"),
    ("\\left( 3, \\frac{\\pi}{2} \\right).", "( 3, \\frac{\\pi}{2} )"),
    ("\\text{Evelyn}", "Evelyn"),
])
def test_normalize_answer(raw, text):
    assert normalize_answer(raw).text == text


def test_percent_is_remembered():
    assert normalize_answer("28\\%").percent and normalize_answer("28 percent").text == "28"


@pytest.mark.parametrize("response", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_input_returns_false_within_the_bound(response, pool):
    started = time.monotonic()
    assert answers_match("1", response, timeout=2.0, pool=pool) is False
    # the budget is the worker's CPU seconds; on a loaded machine wall time stretches, up to the backstop
    assert time.monotonic() - started < wall_backstop(2.0)


def test_overrunning_comparison_kills_its_worker_and_the_pool_recovers():
    workers = MathWorkerPool(size=1)
    workers.warm()
    worker = workers.idle_workers()[0]
    started = time.monotonic()
    assert answers_match("1", "\\boxed{(x+1)^{3000} - (x+1)^{2999}}", timeout=0.5, pool=workers) is False
    assert time.monotonic() - started < wall_backstop(0.5)
    assert worker.process.poll() is not None  # killed and reaped: no stray process computing on
    assert not Path(f"/proc/{worker.process.pid}").exists()
    assert answers_match("\\frac{1}{2}", "\\boxed{\\sin(\\pi/6)}", pool=workers) is True
    workers.close()


def test_a_ctrl_c_to_the_process_group_is_the_parents_to_handle_not_the_workers():
    """Ctrl-C at a terminal reaches every process of the foreground group: a worker that took it would die printing
    a KeyboardInterrupt traceback under the CLI's one 'interrupted' line (seen in CI). The worker ignores it, keeps
    answering, and goes with its parent."""
    import signal

    workers = MathWorkerPool(size=1)
    workers.warm()
    worker = workers.idle_workers()[0]
    os.kill(worker.process.pid, signal.SIGINT)
    time.sleep(0.3)
    assert worker.process.poll() is None
    assert answers_match("x+1", "\\boxed{1+x}", pool=workers) is True
    assert workers.idle_workers()[0] is worker  # the same worker answered: it was not replaced
    workers.close()


def test_bound_holds_off_the_main_thread(pool):
    results = {}

    def check():
        started = time.monotonic()
        results["verdict"] = answers_match("1", "\\boxed{(x+1)^{3000} - (x+1)^{2999}}", timeout=1.0, pool=pool)
        results["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=check)
    thread.start()
    thread.join(10)
    # Bounded: the expansion alone runs for minutes; on a loaded 2-core machine the kill and the worker's
    # replacement can add a second or more beyond the 1 s bound (2.1 s was seen with a benchmark beside it).
    assert results["verdict"] is False and 0.1 < results["seconds"] < 5.0, results


def test_no_worker_outlives_its_process(tmp_path):
    script = tmp_path / "use_checker.py"
    script.write_text(
        "from flywheel_verifiers.math import answers_match\n"
        "from flywheel_verifiers.math_worker import default_pool\n"
        "print(answers_match('1', '\\\\boxed{(x+1)^{3000} - (x+1)^{2999}}', timeout=0.5))\n"
        "print(answers_match('x+1', '\\\\boxed{1+x}'))\n"
        "print(' '.join(str(w.process.pid) for w in default_pool().idle_workers()))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120).stdout
    verdict_timeout, verdict_ok, pids = out.splitlines()
    assert (verdict_timeout, verdict_ok) == ("False", "True")
    time.sleep(0.2)
    assert pids and all(not Path(f"/proc/{pid}").exists() for pid in pids.split())


def test_verifier_batch():
    prompt = Prompt(id="p", domain="math", messages=[Message(role="user", content="3+4?")], reference="7", source="f:1")
    texts = ["The answer is 7.", "6", "\\boxed{\\frac{14}{2}}"]
    items = [VerifyItem(prompt, Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                       round=1, checkpoint="c", seed=0)) for i, t in enumerate(texts)]
    results = MathVerifier().verify_batch(items)
    assert [r.passed for r in results] == [True, False, True]
    assert "expected '7'" in results[1].reason


def test_a_checker_that_cannot_run_is_an_error_not_a_wrong_answer(monkeypatch):
    import flywheel_verifiers.math_worker as math_worker

    monkeypatch.setattr(math_worker.sys, "executable", "/bin/false")  # workers cannot start
    broken = MathWorkerPool(size=1)
    prompt = Prompt(id="p", domain="math", messages=[Message(role="user", content="?")], reference="x+1", source="f:1")
    item = VerifyItem(prompt, Sample(prompt_id="p", sample_index=0, text="\\boxed{1+x}", num_tokens=1,
                                     finish_reason="stop", round=1, checkpoint="c", seed=0))
    monkeypatch.setattr("flywheel_verifiers.math.default_pool", lambda: broken)
    (verdict,) = MathVerifier().verify_batch([item])
    assert verdict.status == "error" and not verdict.passed and "checker failed" in verdict.reason


def test_the_budget_is_cpu_time_and_an_overrun_is_a_model_failure(pool):
    from flywheel_verifiers.math import check_answers_batch

    heavy = ("1", "\\boxed{(x+1)^{3000} - (x+1)^{2999}}")
    assert check_answers_batch([heavy], timeout=0.5, pool=pool) == ["cpu_limit"]
    prompt = Prompt(id="p", domain="math", messages=[Message(role="user", content="?")], reference="1", source="f:1")
    item = VerifyItem(prompt, Sample(prompt_id="p", sample_index=0, text=heavy[1], num_tokens=1, finish_reason="stop",
                                     round=1, checkpoint="c", seed=0))
    (verdict,) = MathVerifier(timeout_seconds=0.5).verify_batch([item])
    assert verdict.status == "ok" and not verdict.passed and "CPU budget" in verdict.reason


@pytest.mark.parametrize("response", ["1e99999999", "1e9999", "10^{99999999}", "1e-99999999"])
def test_scientific_notation_never_stalls_the_caller(response, pool):
    started = time.monotonic()
    assert answers_match("1", response, timeout=1.0, pool=pool) is False
    assert time.monotonic() - started < 1.0 * 3 + 5


# Unicode that models write (issue 29): each is read as what it means, and a sign is never dropped.
UNICODE_CASES = [
    ("2", "The answer is \u22122", False),  # U+2212 MINUS SIGN: minus two, not two
    ("-2", "The answer is \u22122", True),
    ("-2", "The answer is \u2212 2", True),
    ("-2", "$\\boxed{\u22122}$", True),
    ("2", "$\\boxed{\u22122}$", False),
    ("-3", "so x = \u20133", True),  # an en dash glued to the number after '='
    ("-3", "so x = \uff0d3", True),  # full-width hyphen-minus
    ("5", "and so \u2014 5", True),  # an em dash with a space is punctuation
    ("1/2", "The answer is \u00bd", True),
    ("3/2", "The answer is 1\u00bd", True),  # a mixed number
    ("-1/2", "The answer is \u2212\u00bd", True),
    ("9", "The answer is 3\u00b2", True),  # 3 squared, not 32
    ("32", "The answer is 3\u00b2", False),
    ("x^2+1", "The answer is x\u00b2+1", True),
    ("1/x", "The answer is x\u207b\u00b9", True),
    ("x_1", "The answer is $x\u2081$", True),
    ("10", "The area is 10m\u00b2", True),
    ("7", "\\boxed{\u200b7\u200b}", True),  # zero-width spaces around a boxed number
    ("12", "The answer is \uff11\uff12", True),  # full-width digits
    ("1000", "The answer is 1\u00a0000", True),  # a non-breaking space as thousands separator
]


@pytest.mark.parametrize("gold,response,expected", UNICODE_CASES)
def test_unicode_in_answers_reads_as_it_means(gold, response, expected, pool):
    assert answers_match(gold, response, pool=pool) is expected


@pytest.mark.parametrize("gold,response,expected", [
    ("\u22122", "The answer is -2", True), ("\u22122", "The answer is 2", False), ("\u00be", "The answer is 0.75", True),
    ("2\u00b3", "The answer is 8", True), ("\uff14\uff12", "The answer is 42", True), ("\u200b\u22125", "$\\boxed{-5}$", True),
])
def test_unicode_in_the_gold_answer(gold, response, expected, pool):
    assert answers_match(gold, response, pool=pool) is expected


# Classes where math-verify's own suite held cases this checker got wrong (issue 29).
@pytest.mark.parametrize("gold,response,expected", [
    ("\\frac{1}{3}", "$0.3333$", True), ("0.3333", "$\\frac{1}{3}$", True), ("2/3", "$0.6667$", True),
    ("\\frac{1}{3}", "$0.333$", False), ("1/3", "$0.3334$", False), ("-1/3", "The answer is $-0.3333$", True),
    ("\\begin{pmatrix} 0.5 & 0.3333 \\\\ 1 & 2 \\end{pmatrix}",
     "$\\begin{pmatrix} \\frac{1}{2} & \\frac{1}{3} \\\\ 1 & 2 \\end{pmatrix}$", True),
    ("2xy + 3", "$3 + 2yx$", True), ("xy + 3", "The answer is $3 + xy$", True), ("ab + c", "$c + ba$", True),
    ("xy + 3", "$3 + xy + 1$", False),
])
def test_decimal_approximations_and_swapped_products(gold, response, expected, pool):
    assert answers_match(gold, response, pool=pool) is expected


def test_a_reason_shows_the_gold_answer_not_the_whole_reference_solution():
    solution = ("We have $x^2 - 5x + 6 = (x-2)(x-3)$, so the roots are 2 and 3, and their sum is "
                "$\\boxed{5}$. " + "Checking each root by substitution confirms it. " * 10)
    prompt = Prompt(id="p", domain="math", source="s", messages=[Message(role="user", content="Sum of roots?")],
                    reference=solution)
    sample = Sample(prompt_id="p", sample_index=0, text="The answer is 6.", num_tokens=1, finish_reason="stop",
                    round=1, checkpoint="c", seed=0)
    (result,) = MathVerifier().verify_batch([VerifyItem(prompt, sample)])
    assert not result.passed and result.reason.startswith("expected '5', extracted '6'"), result.reason
    assert "substitution" not in result.reason
