"""The ``math`` verifier: does the response's final answer equal the gold answer?

First version: extraction of the final answer (\\boxed{}, "the answer is", "####", the
last number), light normalisation, a numeric fast path, then sympy for symbolic
equality. Inputs that could make sympy run away (long strings, power towers,
factorials of large numbers) are refused before parsing.
"""

from __future__ import annotations

import re
import time

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

from flywheel.verify import VerdictResult, VerifyItem

MAX_ANSWER_CHARS = 200
_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _last_boxed(text: str) -> str | None:
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def extract_answer(response: str) -> str | None:
    """The final answer as a grader would read it, or None."""
    boxed = _last_boxed(response)
    if boxed is not None:
        return boxed.strip()
    for pattern in (r"####\s*(.+)", r"answer is[:\s]*(.+)", r"final answer[:\s]*(.+)"):
        found = re.findall(pattern, response, flags=re.IGNORECASE)
        if found:
            return found[-1].strip().splitlines()[0].strip()
    numbers = _NUMBER.findall(response)
    return numbers[-1] if numbers else None


def normalize(answer: str) -> str:
    text = answer.strip().strip("$").strip()
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text)
    text = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = text.replace("\\left", "").replace("\\right", "").replace("\\cdot", "*").replace("\\times", "*")
    text = text.replace("\\pi", "pi").replace("^\\circ", "").replace("°", "").replace("\\%", "").replace("%", "")
    text = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", text)
    text = re.sub(r"^[a-zA-Z]\s*=\s*", "", text)  # "x = 3" -> "3"
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 7,425 -> 7425
    return text.rstrip(".").strip()


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _too_risky(text: str) -> bool:
    # Power towers and factorials can take sympy minutes; refuse rather than hang.
    return len(text) > MAX_ANSWER_CHARS or text.count("^") + text.count("**") > 2 or "!" in text


def _sympy_equal(a: str, b: str) -> bool:
    if _too_risky(a) or _too_risky(b):
        return False
    try:
        left = parse_expr(a, transformations=_TRANSFORMS, evaluate=True)
        right = parse_expr(b, transformations=_TRANSFORMS, evaluate=True)
        difference = sympy.simplify(left - right)
    except Exception:  # noqa: BLE001 - unparseable means "not shown equal"
        return False
    if difference == 0:
        return True
    try:
        return abs(complex(difference.evalf())) < 1e-9
    except (TypeError, ValueError):
        return False


def answers_match(gold: str, response: str, rel_tol: float = 1e-6) -> bool:
    """True when the response's final answer equals ``gold`` (a bare answer or a full solution)."""
    gold_answer = extract_answer(gold) if len(gold) > MAX_ANSWER_CHARS or "\\boxed" in gold else gold
    predicted = extract_answer(response)
    if gold_answer is None or predicted is None:
        return False
    g, p = normalize(gold_answer), normalize(predicted)
    if g == p:
        return True
    gn, pn = _as_number(g), _as_number(p)
    if gn is not None and pn is not None:
        return abs(gn - pn) <= rel_tol * max(1.0, abs(gn))
    return _sympy_equal(g, p)


class MathVerifier:
    """Applies :func:`answers_match` to math samples; the prompt's reference is the gold answer."""

    name = "math"
    domains = ("math",)

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        results = []
        for item in items:
            started = time.perf_counter()
            gold = item.prompt.reference
            if gold is None:
                results.append(VerdictResult(False, 0.0, "prompt has no reference answer", "error"))
                continue
            predicted = extract_answer(item.sample.text)
            passed = answers_match(gold, item.sample.text)
            reason = f"expected {gold!r}, extracted {predicted!r}"
            results.append(VerdictResult(passed, float(passed), reason, "ok", time.perf_counter() - started))
        return results
