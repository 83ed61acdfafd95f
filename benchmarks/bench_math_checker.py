"""Math checks per second: ``answers_match`` vs math-verify 0.9.0's parse+verify, side by side.

The same (gold, response) pairs go through both in one run: the project's test suite
(tests/verifiers/math_suite.jsonl) plus rejection-sampling-style responses (reasoning
followed by a boxed answer, half of them wrong, answers of every kind). Each checker sees
every pair once, cold, so neither's cache helps.

- one core: pairs checked one after another (our worker process and the caller never
  compute at the same time);
- batch: ``answers_match_batch`` spreading the sympy work over 2 worker processes.

Also prints each checker's accuracy on the suite, and with ``--suites`` the per-suite table on
public graders' own test cases (tests/verifiers/public_cases/), both checkers side by side.

    .venv/bin/python benchmarks/bench_math_checker.py [--pairs 400] [--suites]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from flywheel_verifiers.math import answers_match, answers_match_batch
from flywheel_verifiers.math_worker import MathWorkerPool

ROOT = Path(__file__).resolve().parent.parent

SUITE = Path(__file__).resolve().parent.parent / "tests" / "verifiers" / "math_suite.jsonl"
# (gold, an equivalent way to write it, a wrong answer) for generated responses
ANSWER_KINDS = [
    ("{a}", "{a}", "{b}"),
    ("\\frac{{{a}}}{{{c}}}", "\\dfrac{{{a}}}{{{c}}}", "\\frac{{{b}}}{{{c}}}"),
    ("{a}\\sqrt{{2}}", "\\sqrt{{{a2}}}", "{b}\\sqrt{{2}}"),
    ("({a}, {b}]", "\\left({a},{b}\\right]", "[{a}, {b}]"),
    ("\\{{{a}, {b}\\}}", "\\{{{b},{a}\\}}", "\\{{{a}, {c}\\}}"),
    ("x^2+{a}x", "x(x+{a})", "x^2+{b}x"),
    ("{a}.5", "{a}.50", "{b}.5"),
    ("{a},{b}00", "{a}{b}00", "{a}{c}00"),
    ("{a}\\%", "{a}", "{b}"),
    ("\\begin{{pmatrix}} {a} \\\\ {b} \\end{{pmatrix}}", "\\begin{{pmatrix}}{a}\\\\{b}\\end{{pmatrix}}",
     "\\begin{{pmatrix}} {b} \\\\ {a} \\end{{pmatrix}}"),
]


def generated_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        gold_form, same_form, wrong_form = ANSWER_KINDS[i % len(ANSWER_KINDS)]
        a, b, c = rng.randint(2, 40), rng.randint(41, 90), rng.randint(91, 99)
        values = {"a": a, "b": b, "c": c, "a2": 2 * a * a}
        answer = (same_form if i % 2 == 0 else wrong_form).format(**values)
        steps = " ".join(f"Step {k}: we have ${rng.randint(1, 99)} + {rng.randint(1, 99)}$." for k in range(4))
        pairs.append((gold_form.format(**values), f"{steps} Therefore the answer is $\\boxed{{{answer}}}$."))
    return pairs


def math_verify_check(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    # math-verify finds LaTeX only between delimiters; give a bare gold answer the "$...$" its
    # documentation asks for, so it is not penalised for our suite's bare references.
    if _undelimited(gold):
        gold = f"${gold}$"
    if _undelimited(response) and len(response) <= 100:  # a bare answer given as the whole reply
        response = f"${response}$"
    return bool(verify(parse(gold), parse(response)))


def _undelimited(text: str) -> bool:
    return not any(mark in text for mark in ("$", "\\boxed", "\\[", "\\("))


def timed(check, pairs) -> tuple[float, list[bool]]:
    started = time.perf_counter()
    verdicts = [check(gold, response) for gold, response in pairs]
    return len(pairs) / (time.perf_counter() - started), verdicts


def suite_table(pool: MathWorkerPool) -> list[dict]:
    """Per public grader's test suite: cases, answers_match correct, math-verify correct."""
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.verifiers.public_cases import SUITES, load

    rows = []
    for name in SUITES:
        source, cases = load(name)
        pairs = [(gold, response) for gold, response, _ in cases]
        expected = [bool(e) for _, _, e in cases]
        ours = answers_match_batch(pairs, pool=pool)
        theirs = [_safe_math_verify(gold, response) for gold, response in pairs]
        rows.append({"suite": name, "source": source, "cases": len(cases),
                     "answers_match": sum(o == e for o, e in zip(ours, expected)),
                     "math_verify": sum(t == e for t, e in zip(theirs, expected))})
    return rows


def _safe_math_verify(gold: str, response: str) -> bool:
    try:
        return math_verify_check(gold, response)
    except Exception:  # noqa: BLE001 - a crash is a wrong verdict for the baseline, as it would be for us
        return False


def print_suite_table(rows: list[dict]) -> None:
    print("| suite | cases | answers_match | math-verify 0.9.0 |")
    print("|---|---|---|---|")
    for row in rows + [{"suite": "**all**", "cases": sum(r["cases"] for r in rows),
                        "answers_match": sum(r["answers_match"] for r in rows),
                        "math_verify": sum(r["math_verify"] for r in rows)}]:
        print(f"| {row['suite']} | {row['cases']} | {row['answers_match']} | {row['math_verify']} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=400, help="total pairs: the suite plus generated ones")
    parser.add_argument("--suites", action="store_true", help="also score the public graders' suites, per suite")
    args = parser.parse_args()
    if args.suites:
        table_pool = MathWorkerPool(size=2)
        print_suite_table(suite_table(table_pool))
        table_pool.close()
    suite = [json.loads(line) for line in SUITE.read_text().splitlines()]
    pairs = [(c["gold"], c["response"]) for c in suite] + generated_pairs(max(0, args.pairs - len(suite)))

    one_core = MathWorkerPool(size=1)
    one_core.warm()
    ours_rate, ours = timed(lambda g, r: answers_match(g, r, pool=one_core), pairs)
    one_core.close()
    theirs_rate, theirs = timed(math_verify_check, pairs)
    two = MathWorkerPool(size=2)
    two.warm()
    started = time.perf_counter()
    batch = answers_match_batch(pairs, pool=two)
    batch_rate = len(pairs) / (time.perf_counter() - started)
    two.close()
    assert batch == ours, "batch and single checks disagree"

    expected = [c["expected"] for c in suite]
    ours_acc = sum(v == e for v, e in zip(ours, expected)) / len(suite)
    theirs_acc = sum(v == e for v, e in zip(theirs, expected)) / len(suite)
    generated_expected = [i % 2 == 0 for i in range(len(pairs) - len(suite))]
    ours_gen = sum(v == e for v, e in zip(ours[len(suite):], generated_expected)) / max(1, len(generated_expected))
    theirs_gen = sum(v == e for v, e in zip(theirs[len(suite):], generated_expected)) / max(1, len(generated_expected))
    print(f"pairs: {len(pairs)} ({len(suite)} from the suite, {len(pairs) - len(suite)} generated)")
    print(f"accuracy on the suite: answers_match {ours_acc:.3f}   math-verify {theirs_acc:.3f}")
    print(f"accuracy on the generated pairs: answers_match {ours_gen:.3f}   math-verify {theirs_gen:.3f}")
    print(f"one core:  answers_match {ours_rate:7.1f} checks/s   math-verify {theirs_rate:7.1f} checks/s   "
          f"ratio {ours_rate / theirs_rate:.2f}x")
    print(f"batch, 2 worker processes: answers_match_batch {batch_rate:7.1f} checks/s   "
          f"ratio {batch_rate / theirs_rate:.2f}x vs math-verify on one core")


if __name__ == "__main__":
    main()
