"""Find the final answer in a model's output and normalise it, as a person grading would.

Everything here is plain string work in linear time (bounded regexes, one brace scan), so
it runs in the caller's process; only parsing and symbolic comparison go to the bounded
worker (:mod:`verifiers.math_worker`). Output of :func:`normalize_answer` is LaTeX-ish
text that :mod:`verifiers.math_equivalence` parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longer answers are not answers; refusing them keeps adversarial inputs cheap.
MAX_ANSWER_CHARS = 600
# Final answers sit at the end; searching only the tail for spans and numbers bounds the
# regex work on pathological inputs (many unclosed "$$") to a few milliseconds.
TAIL_CHARS = 3000

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_SPACE = re.compile(r"\\boxed +([^\s$]+)")
_MARKER = re.compile(r"(?:final\s+answer|answer\s*(?:is|:|=)|\#\#\#\#)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])|\.\s*$|\n|I hope", re.MULTILINE)
_MATH_SPAN = re.compile(
    r"\$\$(?P<dd>.+?)\$\$|\\\[(?P<br>.+?)\\\]|\\\((?P<pa>[^\n]+?)\\\)|(?<!\\)\$(?P<d>(?:\\\$|[^$\n])+?)(?<!\\)\$",
    re.DOTALL,
)
# A number standing alone: not glued to letters, exponents, subscripts or other operands,
# so "x^2+3x" yields nothing while "so it is 12." yields 12.
_LONE_NUMBER = re.compile(
    r"(?<![\w^_\\.{/*+=-])(-?\d{1,3}(?:(?:,|\\,|\\!|,\\!| )\d{3})+(?:\.\d+)?(?![,\d])|-?\d+,\d{1,2}(?![,\d])"
    r"|-?\d+(?:\.\d+)?(?:/\d+)?|-?\.\d+)(?![\w^_(\[{/*+=-]|\.\d)"
)
_CHOICE = re.compile(r"^\(?([A-J])\)?[.:]?$")
_CHOICE_IN_TEXT = (
    re.compile(r"answer\s*(?:is|:)?\s*:?\s*\(?\**\(?([A-J])\b\)?", re.IGNORECASE),
    re.compile(r"(?:^|\s)\(([A-J])\)(?!\w)"),
    re.compile(r"^\s*\**\(?([A-J])\)?\**[.:)]?(?:\s|$)"),
)
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname|mathit|textnormal|textsf|mathsf)\s*\{([^{}]*)\}")
_UNITS = (
    "cm|mm|km|m|meters?|metres?|centimeters?|kilometers?|inch|inches|in|feet|foot|ft|yards?|miles?|"
    "mph|units?|square|sq|cubic|degrees?|hours?|hrs?|minutes?|mins?|seconds?|secs?|s|days?|weeks?|"
    "months?|years?|dollars?|cents?|pounds?|lbs?|ounces?|oz|grams?|g|kg|liters?|litres?|l|ml|"
    "people|students|persons?|ways|items|points|marbles|apples|books|pages|times"
)
_TRAILING_UNIT = re.compile(rf"(?<=[\d}}.)])\s*(?:(?:{_UNITS})(?:\^?\{{?[23]\}}?|²|³)?\s*)+$", re.IGNORECASE)
_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|\bpercent(?:age)?\b|\bpct\b)\s*")
_DEGREE = re.compile(r"\s*(?:\^\s*\{?\\circ\}?|°|\\degree\b|\bdegrees?\b)")
_CURRENCY = re.compile(r"\\\$|\$|€|£|¥|\bUSD\b|\bEUR\b")
_THOUSANDS = re.compile(r"(?<![\d.])([1-9]\d{0,2})((?:(?:,|\{,\}|\\,|\\!|\\ |\s)\d{3})+)(?![\d])")
_MIXED = re.compile(r"^(-?)(\d+)\s+(\d+)\s*/\s*(\d+)$|^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Answer:
    """A normalised answer. ``percent`` remembers a stripped % so 28% may equal 0.28."""

    text: str
    percent: bool = False


def _balanced_from(text: str, open_index: int) -> str | None:
    depth = 0
    for j in range(open_index, len(text)):
        char = text[j]
        if char == "{" and text[j - 1] != "\\":
            depth += 1
        elif char == "}" and text[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : j]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{}``/``\\fbox{}`` (or ``\\boxed 5``), or None."""
    matches = list(_BOXED.finditer(text))
    spaced = list(_BOXED_SPACE.finditer(text))
    if spaced and (not matches or spaced[-1].start() > matches[-1].start()):
        return spaced[-1].group(1)
    for match in reversed(matches[-3:]):  # a few tries keep "\\boxed{" * 10**4 linear
        content = _balanced_from(text, match.end() - 1)
        if content is not None:
            return content
    return None


def _last_candidate(segment: str) -> str | None:
    """The last math span, boxed value or lone number in ``segment``."""
    found: list[tuple[int, str]] = []
    for match in _MATH_SPAN.finditer(segment):
        found.append((match.start(), next(g for g in match.groups() if g is not None)))
    for match in _LONE_NUMBER.finditer(segment):
        if not any(start <= match.start() < start + len(body) + 4 for start, body in found):
            found.append((match.start(), match.group(1)))
    return max(found)[1] if found else None


def _after_marker(text: str) -> str | None:
    markers = list(_MARKER.finditer(text))
    if not markers:
        return None
    tail = text[markers[-1].end() :]
    tail = re.sub(r"^\s*(?::|is|=)?\s*(?:the\s+final\s+answer\s+is|the\s+answer\s+is)?\s*:?\s*", "", tail, flags=re.I)
    end = _SENTENCE_END.search(tail)
    # A dollar-delimited answer may contain ". " (e.g. "$0.5 . $"); keep the span whole.
    sentence = tail[: end.start()] if end and tail[: end.start()].count("$") % 2 == 0 else tail
    sentence = sentence.strip()
    if not sentence:
        return None
    candidate = _last_candidate(sentence)
    return candidate if candidate is not None else sentence


def extract_answer(response: str) -> str | None:
    """The final answer in ``response``: boxed, after "answer is", last math span, last number."""
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed.strip()
    response = response[-TAIL_CHARS:]
    marked = _after_marker(response)
    if marked is not None:
        return marked.strip()
    candidate = _last_candidate(response)
    if candidate is not None:
        return candidate.strip()
    # A short reply with nothing delimited ("-\frac{10}{9}") is its own answer.
    return response.strip() if 0 < len(response.strip()) <= 120 else None


def extract_gold(gold: str) -> str | None:
    """A reference is a bare answer ("(1, 3]") or a full solution with a boxed/marked answer."""
    stripped = gold.strip()
    if "\\boxed" in stripped or "\\fbox" in stripped or _MARKER.search(stripped):
        return extract_answer(stripped)
    span = re.fullmatch(r"\$\$?(.+?)\$?\$|\\\[(.+)\\\]|\\\((.+)\\\)", stripped, flags=re.DOTALL)
    if span:
        return next(g for g in span.groups() if g is not None).strip()
    if len(stripped) > 120 or re.search(r"[.!?]\s+[A-Z]", stripped):
        return extract_answer(stripped)
    return stripped


def choice_letter(answer: str) -> str | None:
    """"B", "(B)", "\\text{(B)}" -> "B"; None when the answer is not a bare choice."""
    text = _TEXT_WRAPPERS.sub(r"\1", answer).strip().strip("*$ ")
    found = _CHOICE.match(text)
    return found.group(1) if found else None


def choice_in_response(response: str) -> str | None:
    """The multiple-choice letter a response commits to, looking at its last lines first."""
    boxed = last_boxed(response)
    if boxed is not None:
        letter = choice_letter(boxed) or (re.match(r"\s*\(?([A-J])\)", boxed) or [None, None])[1]
        if letter:
            return letter
    tail = response[-400:]
    for pattern in _CHOICE_IN_TEXT:
        found = pattern.findall(tail)
        if found:
            return found[-1].upper()
    return None


def _fix_fracs_and_roots(text: str) -> str:
    text = re.sub(r"\\[dtc]frac", r"\\frac", text)
    # \frac12 -> \frac{1}{2}; \frac1{2} and \frac{1}2 likewise.
    text = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", text)
    text = re.sub(r"\\frac\s*(\{[^{}]*\})\s*(\d)", r"\\frac\1{\2}", text)
    text = re.sub(r"\\sqrt\s*(\d+|[a-zA-Z])", r"\\sqrt{\1}", text)
    return text


def normalize_answer(answer: str) -> Answer | None:
    """Canonical LaTeX-ish text for ``answer``: wrappers, units, separators and styling removed."""
    text = answer.strip()
    if len(text) > MAX_ANSWER_CHARS:
        return None
    inner = last_boxed(text)
    if inner is not None and text.startswith(("\\boxed", "\\fbox")):
        text = inner
    text = text.strip().strip("$").strip()
    text = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?=[()\[\]|.]|\\[{}]|\\[lr]?vert)", "", text)
    text = re.sub(r"\\(?:left|right)\.", "", text)
    text = re.sub(r"\\displaystyle|\\mathrm\{d\}", "", text)
    if "\\approx" in text:  # "x = 1/3 \approx 0.33": the exact value is the answer
        text = text.split("\\approx")[0] if "=" in text.split("\\approx")[0] else text.replace("\\approx", "=")
    text = re.sub(r"(?<!\\)\\!", "", text)
    text = re.sub(r"(?<!\\)\\[,;: ]|~", " ", text).replace("{,}", ",")
    percent = bool(_PERCENT.search(text))
    text = _PERCENT.sub("", text)
    text = _DEGREE.sub("", text)
    text = _CURRENCY.sub("", text)
    for _ in range(3):  # nested \text{\textbf{...}}
        text = _TEXT_WRAPPERS.sub(r"\1", text)
    text = re.sub(r"\s+and\s+", ", ", text)
    text = _TRAILING_UNIT.sub("", text.strip())
    text = _fix_fracs_and_roots(text)
    text = _THOUSANDS.sub(lambda m: m.group(1) + re.sub(r"\D", "", m.group(2)), text)
    text = text.strip().rstrip(".,;:").strip()
    text = re.sub(r"\s+", " ", text)
    mixed = _MIXED.match(text)
    if mixed:
        sign, whole, num, den = [g for g in mixed.groups() if g is not None]
        if int(num) < int(den):  # a proper fraction after a whole number reads as a mixed number
            text = f"{sign}({whole}+\\frac{{{num}}}{{{den}}})"
    return Answer(text, percent) if text else None


def plain_number(text: str) -> str | None:
    """The text when it is a plain decimal number (after normalisation), else None."""
    return text if _NUMBER.match(text) else None
