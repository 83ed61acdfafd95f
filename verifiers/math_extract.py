"""Find the final answer in a model's output and normalise it, as a person grading would.

Everything here is plain string work in linear time (bounded regexes, one brace scan), so
it runs in the caller's process; only parsing and symbolic comparison go to the bounded
worker (:mod:`flywheel_verifiers.math_worker`). Output of :func:`normalize_answer` is LaTeX-ish
text that :mod:`flywheel_verifiers.math_equivalence` parses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Longer answers are not answers; refusing them keeps adversarial inputs cheap.
MAX_ANSWER_CHARS = 600
# Final answers sit at the end; searching only the tail for spans and numbers bounds the
# regex work on pathological inputs (many unclosed "$$") to a few milliseconds.
TAIL_CHARS = 3000

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_SPACE = re.compile(r"\\boxed +([^\s$]+)")
_MARKER = re.compile(r"(?:final\s+answer|answer\s*(?:is|:|=)|\#\#\#\#|réponse\s*(?:est|:)|respuesta\s*(?:es|:)|"
                     r"antwort\s*(?:ist|:)|答案\s*(?:是|为|:|：))", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])|\.\s*$|\n|I hope", re.MULTILINE)
_MATH_SPAN = re.compile(
    r"\$\$(?P<dd>.+?)\$\$|\\\[(?P<br>.+?)\\\]|\\\((?P<pa>[^\n]+?)\\\)|(?<!\\)\$(?P<d>(?:\\\$|[^$\n])+?)(?<!\\)\$",
    re.DOTALL,
)
# A number standing alone: not glued to letters, exponents, subscripts or other operands,
# so "x^2+3x" yields nothing while "so it is 12." yields 12.
_LONE_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_^\\.{/*+=-])(-?\d{1,3}(?:(?:,|\\,|\\!|,\\!| )\d{3})+(?:\.\d+)?(?![,\d])|-?\d+,\d{1,2}(?![,\d])"
    r"|-?\d+(?:\.\d+)?(?:/\d+)?|-?\.\d+)(?![A-Za-z0-9_^(\[{/*+=-]|\.\d)"
)
# A number glued to a squared or cubed unit ("1,000.99m²") is still a number.
_BOLD = re.compile(r"(?<![\w)])\*\*(\S[^*\n]{0,80}?)\*\*(?![\w(])")  # markdown bold, not Python powers
_GLUED_UNIT = re.compile(r"(\d)([A-Za-z]{1,3}[²³])")
_LONE_FRACTION = re.compile(r"(?<![\w{^])-?\\[dtc]?frac\{\d+\}\{\d+\}")
_CHOICE = re.compile(r"^\(?([A-J])\)?[.:]?$")
# A gold letter may carry its option's text: "(D) Alina", "C Cecile", "C. x = 42".
_CHOICE_WITH_TEXT = re.compile(r"^\(([A-J])\)\s|^([A-J])(?:\.\s|\s+[A-Z][a-z])")
_CHOICE_IN_TEXT = (
    re.compile(r"answer\s*(?:is|:)?\s*:?\s*(?:for sure|probably|definitely|clearly|option|choice)?\s*\(?\**\(?([A-J])\b\)?",
               re.IGNORECASE),
    re.compile(r"(?:^|\s)\(([A-J])\)(?!\w)"),
    re.compile(r"^\s*\**\(?([A-J])\)?\**[.:)]?(?:\s|$)"),
    re.compile(r"\b(?:it's|it is|is|option|choice)\s+\(?([A-J])\)?[.!]?\s*$", re.IGNORECASE),
)
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname|mathit|textnormal|textsf|mathsf)\s*\{([^{}]*)\}")
_UNITS = (
    "cm|mm|km|m|meters?|metres?|centimeters?|kilometers?|inch|inches|in|feet|foot|ft|yards?|miles?|"
    "mph|units?|square|sq|cubic|degrees?|hours?|hrs?|minutes?|mins?|seconds?|secs?|s|days?|weeks?|"
    "months?|years?|dollars?|cents?|pounds?|lbs?|ounces?|oz|grams?|g|kg|liters?|litres?|l|ml|"
    "people|students|persons?|ways|items|points|marbles|apples|books|pages|times"
)
# Units of one or two letters ("cm", "m", "s") read as units only after a space, a \\text{} or with
# a power ("10 cm", "1,000.99m²"): glued to a number ("10m") they may be a variable. Longer unit
# words may be glued ("10weeks").
_SHORT_UNITS = {u for u in _UNITS.split("|") if len(u.rstrip("?s")) <= 2}
_TRAILING_UNIT = re.compile(
    rf"(?<=[\d}}.)])(?:\s+(?:{_UNITS})|(?:{'|'.join(u for u in _UNITS.split('|') if u not in _SHORT_UNITS)})"
    rf"|(?:{'|'.join(sorted(_SHORT_UNITS))})(?=²|³))(?:\^?\{{?[23]\}}?|²|³)?(?:\s+(?:{_UNITS})(?:\^?\{{?[23]\}}?|²|³)?)*\s*$",
    re.IGNORECASE,
)
_TEXT_UNIT = re.compile(rf"\\(?:text|mbox|mathrm|textnormal|textrm)\s*\{{\s*(?:(?:{_UNITS})\s*)+\}}(?:\^?\{{?[23]\}}?|²|³)?\s*$",
                        re.IGNORECASE)
_PERCENT = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|(?<![A-Za-z])percent(?:age)?\b|(?<![A-Za-z])pct\b)\s*")
_DEGREE = re.compile(r"\s*(?:\^\s*\{?\\circ\}?|°|\\degree\b|\bdegrees?\b)")
_CURRENCY = re.compile(r"\\\$|\$|€|£|¥|\bUSD\b|\bEUR\b")
_MIXED = re.compile(r"^(-?)(\d{1,3}(?:[ ,]\d{3})+|\d+) +(\d+)/(\d+)$|^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
# "4 4/9" in a sentence: a whole number, one space, a fraction, on one line
_LONE_MIXED = re.compile(r"(?<![\d/.,\w])-?\d+ \d+/\d+(?![\d/.\w])")
_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


# Unicode that models write in answers, read as what it means (normalize_unicode).
_ALWAYS_MINUS = "\u2212\ufe63\uff0d\u2796\u02d7"  # minus sign, small/full-width hyphen-minus, heavy minus
_MINUS_BEFORE_NUMBER = re.compile(f"[{_ALWAYS_MINUS}] +(?=[\\d.])")
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015"  # hyphens and dashes, a minus only right before a number
# "x = –3", "(–2, 4)": a dash glued to the number after it, at the start or after a space or operator
# ("so — 5" is punctuation, and "3–5" is left as the range or difference it may be).
_DASH_MINUS = re.compile(rf"(?:^|(?<=[\s=(+*/\[{{,$^]))[{_DASHES}](?=[\d.(\\])")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WIDE_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_VULGAR = {"\u00bd": "1/2", "\u2153": "1/3", "\u2154": "2/3", "\u00bc": "1/4", "\u00be": "3/4", "\u2155": "1/5",
           "\u2156": "2/5", "\u2157": "3/5", "\u2158": "4/5", "\u2159": "1/6", "\u215a": "5/6", "\u2150": "1/7",
           "\u215b": "1/8", "\u215c": "3/8", "\u215d": "5/8", "\u215e": "7/8", "\u2151": "1/9", "\u2152": "1/10",
           "\u2189": "0/3"}
_VULGAR_RUN = re.compile("(\\d?)([" + "".join(_VULGAR) + "])")
_SUPERSCRIPTS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207a\u207b\u207c\u207d\u207e\u2071\u207f"
_SUBSCRIPTS = "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089\u208a\u208b\u208c\u208d\u208e"
_SUPER_RUN = re.compile(f"[{_SUPERSCRIPTS}]+")
_SUB_RUN = re.compile(f"[{_SUBSCRIPTS}]+")


def normalize_unicode(text: str) -> str:
    """Minus signs, vulgar fractions, super- and subscripts, full-width forms and invisible spaces as ASCII.

    ``−2`` (U+2212) is ``-2``, never ``2``; ``1½`` is ``1 1/2`` (a mixed number); ``3²`` is ``3^{2}`` and
    ``x₁`` is ``x_{1}``; full-width digits become digits (NFKC); zero-width characters vanish and
    non-breaking spaces are spaces. A squared unit glued to a number keeps its meaning (``10m²``).
    """
    if text.isascii():
        return text
    text = _INVISIBLE.sub("", text)
    text = _WIDE_SPACE.sub(" ", text)
    text = _MINUS_BEFORE_NUMBER.sub("-", text)  # "− 2" is minus two: the sign keeps its number
    text = text.translate({ord(c): "-" for c in _ALWAYS_MINUS})
    text = _DASH_MINUS.sub("-", text)
    text = _GLUED_UNIT.sub(r"\1 \2", text)
    text = _VULGAR_RUN.sub(lambda m: (m.group(1) + " " if m.group(1) else "") + _VULGAR[m.group(2)], text)
    text = text.replace("\u2044", "/").replace("\u2215", "/")  # fraction slash, division slash
    # NFKC reads a superscript minus as U+2212, so the sign is made ASCII after it
    text = _SUPER_RUN.sub(lambda m: "^{" + unicodedata.normalize("NFKC", m.group(0)).replace("\u2212", "-") + "}", text)
    text = _SUB_RUN.sub(lambda m: "_{" + unicodedata.normalize("NFKC", m.group(0)).replace("\u2212", "-") + "}", text)
    # NFKC last: full-width digits and letters; it leaves the rest (°, ×, π, √) as they are.
    return "".join(unicodedata.normalize("NFKC", c) if "\uff01" <= c <= "\uff5e" else c for c in text)


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


def _boxes(text: str, limit: int = 8) -> list[tuple[int, int, str]]:
    """(start, end, content) of the last few closed ``\\boxed{}``/``\\fbox{}`` (and ``\\boxed 5``)."""
    found = []
    for match in list(_BOXED.finditer(text))[-limit:]:  # a bounded number keeps "\\boxed{" * 10**4 linear
        content = _balanced_from(text, match.end() - 1)
        if content is not None:
            found.append((match.start(), match.end() + len(content) + 1, content))
    for match in list(_BOXED_SPACE.finditer(text))[-limit:]:
        found.append((match.start(), match.end(), match.group(1)))
    return sorted(found)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{}``/``\\fbox{}`` (or ``\\boxed 5``), or None."""
    boxes = _boxes(text)
    return boxes[-1][2] if boxes else None


# What may stand between boxes that together give one answer: "\boxed{-2} and \boxed{1}".
_BOX_JOINER = re.compile(r"[\s,;.$&\\]*(?:(?:and|or|\\quad|\\qquad|\\text\{[^{}\d]{0,30}\}|\\[,;()\[\]]|\\n)"
                         r"[\s,;.$&\\]*)*")


def _final_boxes(text: str) -> tuple[str, int] | None:
    """The answer the boxes give (several adjacent boxes join into a list) and where they end."""
    boxes = _boxes(text)
    if not boxes:
        return None
    parts = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        between = text[box[1]:parts[0][0]]
        if "$$" in between or not _BOX_JOINER.fullmatch(between):  # separate display blocks are separate answers
            break
        parts.insert(0, box)
    contents = [content.strip() for _, _, content in parts]
    joined = contents[0] if len(contents) == 1 else ", ".join(contents)
    return joined, parts[-1][1]


def _last_candidate(segment: str) -> str | None:
    """The last math span, boxed value, lone number or simple fraction in ``segment``."""
    found: list[tuple[int, str]] = []
    for match in _MATH_SPAN.finditer(segment):
        body = next(g for g in match.groups() if g is not None)
        if _is_prose(body, in_math=True):  # "$? just about 1$": a stray pair of dollars around words
            inner = [m.group(1) for m in _LONE_NUMBER.finditer(body)]
            if not inner:
                continue
            body = inner[-1]
        found.append((match.start(), body))
    for match in _LONE_NUMBER.finditer(segment):
        if not any(start <= match.start() < start + len(body) + 4 for start, body in found):
            found.append((match.start(), match.group(1)))
    for match in _LONE_MIXED.finditer(segment):  # "4 4/9" is one value, not 4 then 4/9
        found = [(start, body) for start, body in found if not match.start() <= start < match.end()]
        found.append((match.start(), match.group(0)))
    for match in _LONE_FRACTION.finditer(segment):
        if not any(start <= match.start() < start + len(body) + 4 for start, body in found):
            found.append((match.start(), match.group(0)))
    return max(found)[1] if found else None


def _joined_spans(text: str) -> str | None:
    """Several math spans that together are all of ``text`` ("$12$ and $13$"), joined as a list."""
    spans = list(_MATH_SPAN.finditer(text))
    if len(spans) < 2 or text[: spans[0].start()].strip() or text[spans[-1].end():].strip(" .,"):
        return None
    if not all(_BOX_JOINER.fullmatch(text[a.end():b.start()]) for a, b in zip(spans, spans[1:])):
        return None
    return ", ".join(next(g for g in m.groups() if g is not None).strip() for m in spans)


def _after_marker(text: str) -> tuple[str, bool] | None:
    """The answer after the last "answer is"/"####" marker, and whether it was math (not just words)."""
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
    joined = _joined_spans(sentence.replace('\\"', "").replace('"', ""))
    if joined is not None:  # "$12$ and $13$" is one answer
        return joined, True
    candidate = _last_candidate(sentence)
    return (candidate, True) if candidate is not None else (sentence, False)


# Words allowed in an answer given bare: units, "and", function names.
_ANSWER_WORDS = re.compile(
    r"(?:and|or|sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt|arcsin|arccos|arctan|sinh|cosh|tanh|pi|inf|oo|"
    r"square|cubic|units?|degrees?|percent(?:age)?|pct|weeks?|days?|hours?|minutes?|seconds?|months?|years?|"
    r"meters?|miles?|inches|feet|dollars?|cents?|cm|mm|km|m|ft|in|kg|g|mg|ml|oz|lbs?|hrs?|mins?|secs?|s|mph)",
    re.IGNORECASE,
)


def _is_prose(text: str, in_math: bool = False) -> bool:
    """True when ``text`` reads as words rather than a math answer (outside \\text{} and commands).

    Inside a math span letters side by side are a product (``$3 + xy$``, ``$abc$``): there it takes a
    word of four letters or more, or two words, to read as prose.
    """
    bare = re.sub(r"\\begin\{array\}\{[^{}]*\}|\\(?:text|mbox|textbf|mathrm|textnormal|operatorname|begin|end)\s*\{[^{}]*\}"
                  r"|\\[A-Za-z]+", " ", text)
    words = [w for w in re.findall(r"[^\W\d_]{2,}", bare) if not _ANSWER_WORDS.fullmatch(w)]
    if in_math:
        return len(words) > 1 or any(len(w) >= 4 for w in words)
    return bool(words)


def _bare_answer(response: str) -> str | None:
    """A short reply with nothing delimited ("x^2 + 2*x + 1", "[1, 2, 3]") is its own answer."""
    text = response.strip()
    if not text or len(text) > 200 or "$" in text or "\\[" in text or "\\(" in text or _is_prose(text):
        return None
    return text


def extract_answer(response: str) -> str | None:
    """The final answer in ``response``: boxed, after "answer is", last math span, last number.

    A "final answer is" sentence written after the last box wins over the box (models box
    intermediate values and then state the result); adjacent boxes form one list answer.
    """
    response = normalize_unicode(_GLUED_UNIT.sub(r"\1 \2", response[-TAIL_CHARS * 4:]))
    response = _BOLD.sub(r" \1 ", response)
    boxed = _final_boxes(response)
    if boxed is not None:
        answer, box_end = boxed
        marked = _after_marker(response[box_end:])
        if marked is not None and marked[1]:
            return marked[0].strip()
        return answer
    response = response[-TAIL_CHARS:]
    marked = _after_marker(response)
    if marked is not None:
        return marked[0].strip()
    bare = _bare_answer(response)
    if bare is not None:
        return bare
    candidate = _last_candidate(response)
    if candidate is not None:
        return candidate.strip()
    # A short reply with nothing delimited ("-\frac{10}{9}") is its own answer.
    return response.strip() if 0 < len(response.strip()) <= 120 else None


def extract_gold(gold: str) -> str | None:
    """A reference is a bare answer ("(1, 3]") or a full solution with a boxed/marked answer."""
    stripped = normalize_unicode(gold).strip()
    if "\\boxed" in stripped or "\\fbox" in stripped or _MARKER.search(stripped):
        return extract_answer(stripped)
    joined = _joined_spans(stripped)
    if joined is not None:  # "$1$ and $2$ and $3$", "$21,16$ or $11$"
        return joined
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
    if found:
        return found.group(1)
    found = _CHOICE_WITH_TEXT.match(text)
    return next(g for g in found.groups() if g) if found else None


def choice_in_response(response: str) -> str | None:
    """The multiple-choice letter a response commits to, looking at its last lines first."""
    response = normalize_unicode(response)
    boxed = last_boxed(response)
    if boxed is not None:
        letter = choice_letter(boxed) or (re.match(r"\s*\(?([A-J])\)", boxed) or [None, None])[1]
        if letter:
            return letter
    whole = choice_letter(response)
    if whole is not None:  # the reply is the letter itself ("\\mathrm{E}", "C. x = 42")
        return whole
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


_LATEX_COMMANDS = ("frac|dfrac|tfrac|cfrac|sqrt|begin|end|pi|text|textbf|mathrm|mbox|left|right|cdot|times|infty|le|leq|"
                   "ge|geq|ne|neq|pm|in|cup|cap|sin|cos|tan|log|ln|circ|boxed|approx|lt|gt|dots|ldots|cdots")
_DOUBLED_COMMAND = re.compile(rf"(?<!\\)\\\\(?=(?:{_LATEX_COMMANDS})(?![A-Za-z]))")
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\ufe63": "-", "\uff0d": "-", "\u2013": "-"})
_WHOLE_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?:(?:,| )\d{3})+(?:\.\d+)?")
_LATEX_THOUSANDS = re.compile(r"(?<=\d)\s*(?:\{\s*,\s*\}|,\s*\\!|\\!|\\,)\s*(?=\d{3}(?!\d))")
_FUNCTION_LHS = re.compile(r"^[a-zA-Z]\s*\(\s*[a-z]\s*\)\s*=(?!=)")
_ELLIPSIS = re.compile(r",\s*(?:\.\.\.|\\[lc]?dots)\s*$")


_RATIO_OF_NAMES = re.compile(r"^[^=]*[A-Za-z][^=]*:[^=]*=\s*(\d+\s*:\s*\d+)$")
_NAMES_TUPLE_LHS = re.compile(r"^\(\s*[A-Za-z]\s*(?:,\s*[A-Za-z]\s*)+\)\s*=(?!=)\s*")


def split_top_level(text: str, separator: str) -> list[str]:
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("{", "}"):
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _semicolon_lists(text: str) -> str:
    """';' inside brackets separates coordinates; at the top level it separates answers."""
    if ";" not in text:
        return text
    parts = [part.replace(";", ",") for part in split_top_level(text, ";")]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(f"({p.strip()})" if "," in p and not p.strip().startswith(("(", "[")) else p.strip()
                     for p in parts if p.strip())


def _approximation(text: str) -> str:
    """ "A \\approx B": the exact A is the answer, unless A is only a name ("x \\approx 11")."""
    parts = text.split("\\approx")
    left = parts[0].strip()
    value = re.sub(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*", "", left) if left.count("=") == 1 else left
    return parts[-1] if re.fullmatch(r"[A-Za-z]?(?:_\{?\w+\}?)?\s*", value) else left


def normalize_answer(answer: str, strip_units: bool = True) -> Answer | None:
    """Canonical LaTeX-ish text for ``answer``: wrappers, units, separators and styling removed."""
    text = normalize_unicode(answer).strip().translate(_MINUS_SIGNS)
    if len(text) > MAX_ANSWER_CHARS:
        return None
    text = _DOUBLED_COMMAND.sub("\\\\", text)  # "\\\\frac" written with an escaped backslash
    inner = last_boxed(text)
    if inner is not None and text.startswith(("\\boxed", "\\fbox")):
        text = inner
    text = text.strip().strip("$").strip()
    text = re.sub(r"(?<!\\)\\$", "", text).strip()  # "185\\": a stray line-break backslash
    text = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?=[()\[\]|.]|\\[{}]|\\[lr]?vert)", "", text)
    text = re.sub(r"\\(?:left|right)\.", "", text)
    text = re.sub(r"\\displaystyle|\\mathrm\{d\}", "", text)
    if "\\approx" in text:
        text = _approximation(text)
    text = _LATEX_THOUSANDS.sub("", text)
    text = re.sub(r"(?<!\\)\\!", "", text)
    text = re.sub(r"(?<!\\)\\[,;: ]|~", " ", text).replace("{,}", ",")
    percent = bool(_PERCENT.search(text))
    text = _PERCENT.sub("", text)
    text = _DEGREE.sub("", text)
    text = _CURRENCY.sub("", text)
    if strip_units:
        text = _TEXT_UNIT.sub("", text)
        # "17\\text{ any text}": words written after a number are a unit or a remark, not the answer
        text = re.sub(r"^(-?[\d.,/]+)\s*\\(?:text|mbox|textnormal|textrm)\s*\{[^{}]*\}\s*$", r"\1", text)
    for _ in range(3):  # nested \text{\textbf{...}}
        text = _TEXT_WRAPPERS.sub(r"\1", text)
    text = re.sub(r"\s+(?:and|or)\s+|(?<=\))\s*or\s*(?=\()|(?<=\d)or(?=[A-Z])", ", ", text)
    if re.search(r"<|>|\\[lg]eq?\b", text):  # "0 < f(x) < 1": the function's value is the variable
        text = re.sub(r"\b[a-zA-Z]\(\s*[a-z]\s*\)", "y", text)
    text = _RATIO_OF_NAMES.sub(r"\1", text)  # "V_1:V_2 = 11:21": the ratio is the answer
    text = _NAMES_TUPLE_LHS.sub("", text)  # "(p,q) = (3,2)": the tuple of values is the answer
    text = _semicolon_lists(text)
    text = _TRAILING_UNIT.sub("", text.strip()) if strip_units else text.strip()
    text = _fix_fracs_and_roots(text)
    ellipsis = bool(_ELLIPSIS.search(text))
    text = _ELLIPSIS.sub("", text)
    text = text.strip().rstrip(".,;:").strip()
    if ellipsis:  # "1, 2, 3, ..." is an unending list, not the finite answer "1, 2, 3"
        text += ", \\ldots"
    text = re.sub(r"(?<=\d)[ \t]*[\r\n]+\s*(?=[\d-])", ", ", text)  # numbers on separate lines are a list
    text = re.sub(r"\s+", " ", text)
    if _WHOLE_THOUSANDS.fullmatch(text):  # thousands separators only where the whole answer is one number
        text = re.sub(r"[, ]", "", text)
    text = re.sub(r"^\+(?=[\d.])", "", text)
    text = _FUNCTION_LHS.sub("y =", text)  # f(x) = 2x+3 and y = 2x+3 define the same function
    mixed = _MIXED.match(text)
    if mixed:
        sign, whole, num, den = [g for g in mixed.groups() if g is not None]
        whole = re.sub(r"[ ,]", "", whole)
        if int(num) < int(den):  # a proper fraction after a whole number reads as a mixed number
            text = f"{sign}({whole}+\\frac{{{num}}}{{{den}}})"
        else:  # "11 6/6", "4 4/0": not a mixed number, and not 11 times 6/6 either
            text = f"\\notamixednumber{{{text}}}"
    return Answer(text, percent) if text else None


def plain_number(text: str) -> str | None:
    """The text when it is a plain decimal number (after normalisation), else None."""
    return text if _NUMBER.match(text) else None
