"""The ``math`` verifier: does the response's final answer equal the gold answer?

:func:`answers_match` is the public checker. Extraction and normalisation
(:mod:`flywheel_verifiers.math_extract`) run in the caller; a fast path settles identical strings,
plain numbers, simple fractions and multiple-choice letters without sympy; everything
else is parsed and compared (:mod:`flywheel_verifiers.math_equivalence`) in a worker process with a
CPU budget (:mod:`flywheel_verifiers.math_worker`), so no input can hold a caller for long. The
verifier tells a wrong answer (status ``ok``) from a checker that failed (``error``) or a
comparison the wall-clock backstop stopped (``timeout``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from fractions import Fraction

from flywheel.verification.plugins import VerdictResult, VerifyItem
from flywheel_verifiers.math_extract import (
    Answer,
    choice_in_response,
    choice_letter,
    extract_answer,
    extract_gold,
    normalize_answer,
    plain_number,
)
from flywheel_verifiers.math_worker import (
    CPU_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    DIFFERENT,
    EQUAL,
    ERROR,
    WALL_TIMEOUT,
    MathWorkerPool,
    default_pool,
)

__all__ = ["MathPolicy", "MathVerifier", "answers_match", "answers_match_batch", "check_answers_batch", "extract_answer"]

REL_TOL = 1e-6
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\text\{\s*)?([ap])?\.?\s*(?:m\.?)?\s*\}?", re.IGNORECASE)


@dataclass(frozen=True)
class MathPolicy:
    """Where graders disagree, the choice this checker makes; each can be set per verifier.

    - ``rel_tol``: numbers closer than this (relative) are equal.
    - ``approximate_decimals``: a decimal answer equal to the exact gold rounded or truncated to
      the digits it shows, with at least 4 significant digits, is accepted (``1.732`` for
      ``\\sqrt{3}``; never ``3.14`` for ``\\pi``).
    - ``unordered_lists``: a bare list ``1, 2, 3`` (the "list all solutions" answer) is compared
      as a set; tuples ``(1, 2)`` are always ordered and ``\\{\\}`` sets never.
    - ``strip_units``: trailing units are dropped (``10 \\text{ cm}`` equals ``10``).
    """

    rel_tol: float = REL_TOL
    approximate_decimals: bool = True
    unordered_lists: bool = True
    strip_units: bool = True

    def for_worker(self) -> dict:
        return {"rel_tol": self.rel_tol, "approximate_decimals": self.approximate_decimals,
                "unordered_lists": self.unordered_lists}


DEFAULT_POLICY = MathPolicy()


def _clock_seconds(text: str) -> int | None:
    """Seconds after midnight for "20:34", "08:34 P.M.", "20:34:00"; None when not a time."""
    found = _TIME.fullmatch(text.strip())
    if not found:
        return None
    hours, minutes, seconds, half = int(found.group(1)), int(found.group(2)), int(found.group(3) or 0), found.group(4)
    if minutes > 59 or seconds > 59 or hours > 24 or (half and not 1 <= hours <= 12):
        return None
    if half:
        hours = hours % 12 + (12 if half.lower() == "p" else 0)
    return (hours * 60 + minutes) * 60 + seconds
_SIMPLE_FRACTION = re.compile(r"^(-?)(?:\\frac\{(\d+)\}\{(\d+)\}|(\d+)\s*/\s*(\d+))$")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?!.*=)")


_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")
MAX_EXPONENT = 400  # beyond this, exact rationals are too costly to build in the caller: the worker decides


def _rational(text: str) -> Fraction | None:
    exponent = _EXPONENT.search(text)
    if exponent and abs(int(exponent.group(1)[:12])) > MAX_EXPONENT:
        return None
    if plain_number(text):
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            return None
    found = _SIMPLE_FRACTION.match(text)
    if found and (found.group(3) or found.group(5)) not in ("0", None):
        sign, a, b, c, d = found.groups()
        value = Fraction(int(a or c), int(b or d))
        return -value if sign else value
    return None


def _close(a: Fraction, b: Fraction, rel_tol: float = REL_TOL) -> bool:
    return abs(a - b) <= Fraction(rel_tol) * max(1, abs(a), abs(b))


_DECIMAL = re.compile(r"^-?(\d*)\.(\d+)$")


def _approximates(exact: Fraction, decimal_text: str, exact_text: str) -> bool:
    """``decimal_text`` is the exact fraction rounded or truncated to the decimals it shows, with 4+ significant
    digits (``0.3333`` for ``1/3``; never ``0.33``): the worker's rule (math_equivalence._is_approximation)."""
    shown = _DECIMAL.match(decimal_text)
    if shown is None or _DECIMAL.match(exact_text) or plain_number(exact_text) and "." in exact_text:
        return False
    whole, decimals = shown.groups()
    if len((whole + decimals).lstrip("0")) < 4:
        return False
    step = Fraction(1, 10 ** len(decimals))
    target = Fraction(decimal_text)
    rounded = (exact / step + Fraction(1, 2)).__floor__() * step
    truncated = (1 if exact >= 0 else -1) * (abs(exact) / step).__floor__() * step
    return target in (rounded, truncated)


def _fast_verdict(gold: Answer, pred: Answer, policy: MathPolicy = DEFAULT_POLICY) -> bool | None:
    """True/False when decidable without sympy, None otherwise."""
    g, p = gold.text, pred.text
    if "=" not in g:
        p = _ASSIGNMENT.sub("", p)  # "x = 3" answers "3"
    if g == p:
        return True
    gold_time = _clock_seconds(g)
    if gold_time is not None or _clock_seconds(p) is not None:  # 12:00 is a time, not 12 divided by 00
        return gold_time is not None and gold_time == _clock_seconds(p)
    gv, pv = _rational(g), _rational(p)
    if pv is None and gv is not None and re.fullmatch(r"-?\d+,\d+", p):
        pv = _rational(p.replace(",", "."))  # decimal comma: 1,22 is 1.22
    if gv is None and pv is not None and re.fullmatch(r"-?\d+,\d+", g):
        gv = _rational(g.replace(",", "."))
    if gv is None or pv is None:
        return None
    if _close(gv, pv, policy.rel_tol):
        return True
    if policy.approximate_decimals and (_approximates(gv, p, g) or _approximates(pv, g, p)):
        return True
    if gold.percent != pred.percent:
        return _close(gv / 100, pv, policy.rel_tol) if gold.percent else _close(gv, pv / 100, policy.rel_tol)
    return False


def prepare_check(gold: str, response: str, policy: MathPolicy = DEFAULT_POLICY) -> bool | tuple:
    """A settled verdict, or the job the bounded worker must decide."""
    gold_answer = extract_gold(gold)
    if gold_answer is None:
        return False
    letter = choice_letter(gold_answer)
    if letter is not None:
        return choice_in_response(response) == letter
    predicted = extract_answer(response)
    if predicted is None:
        return False
    g = normalize_answer(gold_answer, strip_units=policy.strip_units)
    p = normalize_answer(predicted, strip_units=policy.strip_units)
    if g is None or p is None:
        return False
    fast = _fast_verdict(g, p, policy)
    if fast is not None:
        return fast
    pred_text = p.text if "=" in g.text else _ASSIGNMENT.sub("", p.text)
    return (g.text, pred_text, g.percent, p.percent, policy.for_worker())


def answers_match(gold: str, response: str, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                  pool: MathWorkerPool | None = None, policy: MathPolicy = DEFAULT_POLICY) -> bool:
    """True when the final answer in ``response`` equals ``gold`` (a bare answer or a solution).

    Takes at most ``timeout`` CPU seconds of a worker whatever the input, in any thread (3x that + 5 s of
    wall time on a machine so loaded that the worker gets little CPU).
    """
    return check_answers_batch([(gold, response)], timeout, pool, policy)[0] == EQUAL


def check_answers_batch(pairs: list[tuple[str, str]], timeout: float = DEFAULT_TIMEOUT_SECONDS,
                        pool: MathWorkerPool | None = None, policy: MathPolicy = DEFAULT_POLICY) -> list[str]:
    """An outcome per (gold, response) pair: equal, different, cpu_limit, wall_timeout or error."""
    outcomes: list = []
    for gold, response in pairs:
        try:
            verdict = prepare_check(gold, response, policy)
        except Exception:  # noqa: BLE001 - a bug in extraction is the checker's failure, not the answer's
            verdict = ERROR
        outcomes.append((EQUAL if verdict else DIFFERENT) if isinstance(verdict, bool) else verdict)
    pending = [i for i, v in enumerate(outcomes) if isinstance(v, tuple)]
    if pending:
        decided = (pool or default_pool()).check_many([outcomes[i] for i in pending], timeout)
        for i, result in zip(pending, decided):
            outcomes[i] = result
    return outcomes


def answers_match_batch(pairs: list[tuple[str, str]], timeout: float = DEFAULT_TIMEOUT_SECONDS,
                        pool: MathWorkerPool | None = None, policy: MathPolicy = DEFAULT_POLICY) -> list[bool]:
    """:func:`answers_match` over many (gold, response) pairs, sympy work spread over processes."""
    return [outcome == EQUAL for outcome in check_answers_batch(pairs, timeout, pool, policy)]


_STATUS = {EQUAL: "ok", DIFFERENT: "ok", CPU_LIMIT: "ok", WALL_TIMEOUT: "timeout", ERROR: "error"}
_NOTE = {CPU_LIMIT: " (not shown equal within the CPU budget)", WALL_TIMEOUT: " (stopped by the wall-clock backstop)",
         ERROR: " (the checker failed)"}


class MathVerifier:
    """Applies :func:`answers_match` to math samples; the prompt's reference is the gold answer."""

    name = "math"
    domains = ("math",)

    def __init__(self, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, **policy) -> None:
        """``policy``: any :class:`MathPolicy` field (rel_tol, approximate_decimals, unordered_lists, strip_units)."""
        self.timeout_seconds = timeout_seconds
        self.policy = MathPolicy(**policy)

    def check_reference(self, prompt) -> str | None:
        """Why this prompt cannot be checked, or None (flywheel check reads every one before a round)."""
        return None if prompt.reference and prompt.reference.strip() else "the prompt has no gold answer"

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        started = time.perf_counter()
        checkable = [item for item in items if item.prompt.reference is not None]
        outcomes = iter(check_answers_batch([(i.prompt.reference, i.sample.text) for i in checkable],
                                            timeout=self.timeout_seconds, policy=self.policy))
        per_item = (time.perf_counter() - started) / max(1, len(items))
        results = []
        for item in items:
            if item.prompt.reference is None:
                results.append(VerdictResult(False, 0.0, "prompt has no reference answer", "error"))
                continue
            outcome = next(outcomes)
            ok = outcome == EQUAL
            try:
                extracted = extract_answer(item.sample.text)
            except Exception:  # noqa: BLE001
                extracted = None
            reason = f"expected {_gold_shown(item.prompt.reference)!r}, extracted {extracted!r}{_NOTE.get(outcome, '')}"
            results.append(VerdictResult(ok, float(ok), reason, _STATUS[outcome], per_item))
        return results


def _gold_shown(reference: str, limit: int = 80) -> str:
    """The gold answer as a reason shows it: a full reference solution (MATH's) by its answer, not its text."""
    try:
        gold = extract_gold(reference)
    except Exception:  # noqa: BLE001 - a reason is never worth failing a verdict over
        gold = None
    shown = gold if gold else reference
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
