"""Test cases transcribed from public math graders' own unit tests, one module per suite.

Each module holds ``SOURCE`` (repository and file the cases come from) and ``CASES``, a list
of ``(gold, response, expected)`` with ``expected`` the verdict the grader's test asserts.
The cases are data only: the graders' code is not copied. Where a grader's test asserts a
symmetric relation (``f(a, b)`` and ``f(b, a)``), both directions are listed.

Transcription rules, so a reader can check them against the sources:
- Strings are copied as the source's Python literals (raw or not), so escapes mean the same.
- Cases that only hold under a non-default option of that grader (another float precision,
  LaTeX-only extraction, a set/relation flag) are left out; so are cases whose literal is
  broken in the source (``"$\\text{13}$"`` written with ``\\t`` as a tab).
- A few very long model outputs are shortened in their repetitive middle; every ``\\boxed``,
  "final answer" sentence and distractor near the end is kept. Those cases say so.

``tests/verifiers/test_public_graders.py`` runs every suite; ``benchmarks/bench_math_checker.py
--suites`` prints the per-suite table beside math-verify's.
"""

from __future__ import annotations

import importlib

SUITES = ("math_verify", "math_verify_numina", "math_verify_more", "lighteval", "mario", "nemo_skills", "hendrycks", "qwen25_math", "verl", "trl",
          "adversarial")


def load(name: str):
    """The (SOURCE, CASES) of one suite."""
    module = importlib.import_module(f"tests.verifiers.public_cases.{name}")
    return module.SOURCE, module.CASES


def all_cases() -> list[tuple[str, str, str, bool]]:
    """(suite, gold, response, expected) over every suite."""
    rows = []
    for name in SUITES:
        _, cases = load(name)
        rows.extend((name, gold, response, bool(expected)) for gold, response, expected in cases)
    return rows
