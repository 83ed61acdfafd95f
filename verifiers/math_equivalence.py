"""Parse normalised answers into sympy objects and decide whether two are equivalent.

This is the slow half of the math checker, so it runs inside the bounded worker process
(:mod:`flywheel_verifiers.math_worker`). Parsing tries a small LaTeX-to-Python rewrite plus
``sympy.parse_expr`` first (about 10x cheaper than an ANTLR parse) and falls back to
``latex2sympy2_extended`` for LaTeX it does not know. Structure (sets, tuples, intervals,
matrices, relations) is split off at the top level before any expression is parsed, so
the comparison knows what the writer meant.
"""

from __future__ import annotations

import cmath
import functools
import random
import re
from dataclasses import dataclass

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

from flywheel_verifiers.math_extract import split_top_level

_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)
_LOCALS = {"e": sympy.E, "E": sympy.E, "pi": sympy.pi, "oo": sympy.oo, "I": sympy.I, "i": sympy.I,
           "sqrt": sympy.sqrt, "root": sympy.root, "log": sympy.log, "ln": sympy.log, "exp": sympy.exp,
           "binom": sympy.binomial, "N": sympy.Symbol("N"), "S": sympy.Symbol("S"), "Q": sympy.Symbol("Q"),
           "beta": sympy.Symbol("beta"), "gamma": sympy.Symbol("gamma"), "lambda": sympy.Symbol("lambda")}
_FUNCTIONS = ("sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
              "log", "ln", "exp")
_GREEK = ("alpha", "beta", "gamma", "delta", "theta", "phi", "lambda", "mu", "sigma", "omega", "rho", "tau")
_RELATIONS = (("\\leq", "<="), ("\\le", "<="), ("\\geq", ">="), ("\\ge", ">="), ("\\neq", "!="), ("\\ne", "!="),
              ("\\lt", "<"), ("\\gt", ">"), ("≤", "<="), ("≥", ">="))
_OPEN, _CLOSE = "([{", ")]}"
REL_TOL = 1e-6
# The comparison policy of the answer being checked (see flywheel_verifiers.math.MathPolicy). A worker
# compares one pair at a time, so a module-level setting made by answers_equivalent is enough.
_POLICY = {"rel_tol": REL_TOL, "approximate_decimals": True, "unordered_lists": True}
_MAX_DIGITS = 5000  # larger integers/powers are not answers anyone grades; refuse them


class Unparseable(ValueError):
    pass


@dataclass(frozen=True)
class Sequence:
    """A comma-separated answer. ``brackets`` is "()", "[]", "{}" (a set) or "" (bare list)."""

    items: tuple
    brackets: str

    @property
    def unordered(self) -> bool:
        return self.brackets == "{}" or (self.brackets == "" and _POLICY["unordered_lists"])


@dataclass(frozen=True)
class Text:
    """An answer that is words, compared case-insensitively."""

    value: str


def _matching_close(text: str) -> bool:
    """True when the first bracket of ``text`` closes at its last character."""
    depth = 0
    for i, char in enumerate(text):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


def _braced(text: str, start: int) -> tuple[str, int]:
    """Content of the ``{...}`` group opening at ``start`` and the index after it."""
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : j], j + 1
    raise Unparseable("unbalanced braces")


def latex_to_python(text: str) -> str:
    """Rewrite the common LaTeX subset into Python syntax; raise on anything else."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\frac", i):
            i += 5
            while i < len(text) and text[i] == " ":
                i += 1
            num, i = _braced(text, i)
            while i < len(text) and text[i] == " ":
                i += 1
            den, i = _braced(text, i)
            out.append(f"(({latex_to_python(num)})/({latex_to_python(den)}))")
        elif text.startswith("\\sqrt", i):
            i += 5
            index = None
            if text[i : i + 1] == "[":
                close = text.index("]", i)
                index, i = text[i + 1 : close], close + 1
            body, i = _braced(text, i)
            body = latex_to_python(body)
            out.append(f"root({body},{latex_to_python(index)})" if index else f"sqrt({body})")
        elif text.startswith("\\binom", i) or text.startswith("\\dbinom", i):
            i = text.index("{", i)
            top, i = _braced(text, i)
            bottom, i = _braced(text, i)
            out.append(f"binom({latex_to_python(top)},{latex_to_python(bottom)})")
        elif text[i] == "\\":
            name = re.match(r"\\([a-zA-Z]+)", text[i:])
            if not name:
                raise Unparseable(f"unknown command at {text[i:i + 10]!r}")
            word = name.group(1)
            simple = {"cdot": "*", "times": "*", "div": "/", "pi": "pi", "infty": "oo", "infinity": "oo"}
            if word in simple:
                out.append(f" {simple[word]} ")
            elif word in _FUNCTIONS or word in _GREEK:
                out.append(f" {word} ")
            else:
                raise Unparseable(f"unknown command \\{word}")
            i += len(word) + 1
        elif text[i] in "{}":
            out.append("(" if text[i] == "{" else ")")
            i += 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _guard(python: str) -> None:
    if re.search(r"\d_", python):  # 204_5 is a base-5 numeral, not Python's 2045
        raise Unparseable("numeral with a base subscript")
    # Power towers and big factorials make sympy compute for minutes; they are never answers.
    if python.count("^") + python.count("**") > 8 or re.search(r"\d{5,}\s*!|\)\s*!|\d\s*!\s*!", python):
        raise Unparseable("expression too costly to evaluate")
    if re.search(r"(?:\^|\*\*)[\s({]*[\d.]+\s*(?:\^|\*\*)", python):  # 9^{9^9}: a tower of numbers
        raise Unparseable("power tower")
    for exponent in re.findall(r"(?:\^|\*\*)\s*[({]?\s*(\d+)", python):
        if len(exponent) > 5:
            raise Unparseable("exponent too large")
    digits = re.findall(r"\d+", python)
    if sum(len(d) for d in digits) > _MAX_DIGITS:
        raise Unparseable("number too long")


def _expression(text: str) -> sympy.Expr:
    text = text.strip()
    if not text:
        raise Unparseable("empty")
    _guard(text)
    text = re.sub(r"([A-Za-z])_\{(\w+)\}", r"\1_\2", text)  # v_{0} and v_0 name one symbol
    try:
        python = latex_to_python(text)
        _guard(python)
    except Unparseable:  # LaTeX our rewrite does not know: ask the full parser
        return _latex2sympy(text)
    python = re.sub(r"(\d+|\))\s*!", r"factorial(\1)", python)
    try:
        return parse_expr(python, local_dict=_LOCALS, transformations=_TRANSFORMS, evaluate=True)
    except Exception:  # noqa: BLE001 - e.g. "(+5)(b+2)" style input sympy's grammar rejects
        return _latex2sympy(text)


def _latex2sympy(text: str) -> sympy.Basic:
    from latex2sympy2_extended import latex2sympy  # lazy: ANTLR import costs ~0.3 s

    _guard(text)
    try:
        value = latex2sympy(text, normalization_config=None)
    except Exception as error:
        raise Unparseable(str(error)) from error
    try:  # the parser leaves e.g. sums of matrices unevaluated
        return value.doit() if isinstance(value, sympy.Basic) else value
    except Exception as error:
        raise Unparseable(str(error)) from error


def _matrix(text: str) -> sympy.Matrix | None:
    found = re.fullmatch(r"[(\[]?\s*\\begin\{([pbvB]?matrix|array)\}(?:\{[^}]*\})?((?:(?!\\begin).)*)\\end\{\1\}\s*[)\]]?", text, re.S)
    if not found:
        return None
    rows = [row for row in re.split(r"\\\\", found.group(2)) if row.strip()]
    return sympy.Matrix([[_expression(cell) for cell in row.split("&")] for row in rows])


@functools.lru_cache(maxsize=4096)
def parse_answer(text: str):
    """A normalised answer as a sympy object, :class:`Sequence` or :class:`Text`."""
    text = text.strip()
    while text.startswith("{") and _matching_close(text):  # plain braces group; "\\{...\\}" is a set
        text = text[1:-1].strip()
    matrix = _matrix(text)
    if matrix is not None:
        return matrix
    for latex, python in _RELATIONS:
        text = text.replace(latex, python)
    if "\\in " in text or "\\in(" in text or "\\in[" in text:
        text = text.split("\\in", 1)[1].strip()
    if not re.search(r"[<>!]", text) and len(split_top_level(text, ",")) == 1:
        chain = split_top_level(text, "=")
        if len(chain) > 2:  # "x = 5+5+1 = 11": the last link is the answer
            text = f"{chain[0]}={chain[-1]}" if re.fullmatch(r"\s*[A-Za-z]\s*", chain[0]) else chain[-1]
    unions = split_top_level(text, "\\cup")
    if len(unions) > 1:
        return sympy.Union(*[_interval_or_set(parse_answer(part)) for part in unions])
    if len(split_top_level(text, ",")) > 1 or (text[:1] in "([" and _matching_close(text)):
        # "x = 1, y = 2" and "(p=5, q=2)": a list of relations, not one relation
        sequence = _sequence(text)
        if sequence is not None:
            return sequence
    relation = _relation(text)
    if relation is not None:
        return relation
    if "\\pm" in text and len(split_top_level(text, "\\pm")) == 2:
        left, right = split_top_level(text, "\\pm")
        base = _expression(left) if left.strip() else sympy.Integer(0)
        return Sequence((base + _expression(right), base - _expression(right)), "{}")
    sequence = _sequence(text)
    if sequence is not None:
        return sequence
    if re.fullmatch(r"[A-Za-z][A-Za-z ]{2,}", text) and text.split()[0].lower() not in _FUNCTIONS:
        return Text(text.lower().replace(" ", ""))
    return _expression(text)


def _relation(text: str):
    parts = re.split(r"(<=|>=|!=|(?<![<>!])=|<|>)", text)
    if len(parts) == 1:
        return None
    sides = [parse_answer(part) for part in parts[::2]]
    operators = parts[1::2]
    make = {"<=": sympy.Le, ">=": sympy.Ge, "<": sympy.Lt, ">": sympy.Gt, "=": sympy.Eq, "!=": sympy.Ne}
    relations = [make[op](left, right, evaluate=False) for left, op, right in zip(sides, operators, sides[1:])]
    return relations[0] if len(relations) == 1 else sympy.And(*relations, evaluate=False)


def _sequence(text: str):
    if text.startswith("\\{") and text.endswith("\\}"):
        inner = text[2:-2]
        return Sequence(_flatten(parse_answer(p) for p in split_top_level(inner, ",") if p.strip()), "{}")
    if text[:1] in "([" and text[-1:] in ")]" and _matching_close(text):
        items = split_top_level(text[1:-1], ",")
        if len(items) > 1:
            brackets = text[0] + text[-1]
            if len(items) == 2 and brackets in ("[)", "(]", "[]"):
                low, high = (_expression(p) for p in items)
                return sympy.Interval(low, high, left_open=brackets[0] == "(", right_open=brackets[1] == ")")
            return Sequence(tuple(parse_answer(p) for p in items), brackets)
    items = split_top_level(text, ",")
    if len(items) > 1:
        return Sequence(_flatten(parse_answer(p) for p in items if p.strip()), "")
    return None


def _flatten(values) -> tuple:
    """Items of a set or list, with "a \\pm b" expanded into its two values."""
    flat = []
    for value in values:
        flat.extend(value.items if isinstance(value, Sequence) and value.brackets == "{}" else [value])
    return tuple(flat)


def _interval_or_set(value):
    if isinstance(value, Sequence) and value.brackets == "()" and len(value.items) == 2:
        return sympy.Interval.open(*value.items)
    if isinstance(value, Sequence):
        return sympy.FiniteSet(*value.items)
    return value


def _numbers_close(a: complex, b: complex, rel_tol: float) -> bool:
    if not (cmath.isfinite(a) and cmath.isfinite(b)):
        return a == b
    return abs(a - b) <= rel_tol * max(1.0, abs(a), abs(b))


def _undefined(value) -> bool:
    return bool(value.has(sympy.zoo, sympy.nan)) if isinstance(value, sympy.Basic) else False


def _shown_decimals(value: sympy.Float) -> tuple[int, int] | None:
    """(decimals shown, significant digits) of a decimal literal such as 125.663; None for 5.0."""
    shown = format(float(value), ".15g")
    if "e" in shown or "." not in shown:
        return None
    decimals = len(shown.split(".")[1])
    significant = len(shown.lstrip("-").replace(".", "").lstrip("0"))
    return decimals, significant


def _is_approximation(exact, decimal) -> bool:
    """``decimal`` is ``exact`` rounded or truncated to the decimals it shows (4+ significant digits)."""
    if not (isinstance(decimal, sympy.Float) and not exact.atoms(sympy.Float) and not exact.free_symbols):
        return False
    shown = _shown_decimals(decimal)
    if shown is None or shown[1] < 4:
        return False
    decimals = shown[0]
    value = sympy.N(exact, 30)
    if not value.is_real:
        return False
    step = sympy.Rational(1, 10**decimals)
    target = sympy.Rational(format(float(decimal), ".15g"))
    rounded = sympy.floor(value / step + sympy.Rational(1, 2)) * step
    truncated = sympy.sign(value) * sympy.floor(abs(value) / step) * step
    return target in (rounded, truncated)


def expressions_equal(gold, pred, rel_tol: float | None = None) -> bool:
    rel_tol = _POLICY["rel_tol"] if rel_tol is None else rel_tol
    gold, pred = sympy.sympify(gold), sympy.sympify(pred)
    if _undefined(gold) or _undefined(pred):  # 1/0 equals nothing, not even 2/0
        return False
    if gold == pred:
        return True
    if _POLICY["approximate_decimals"] and (_is_approximation(gold, pred) or _is_approximation(pred, gold)):
        return True
    if isinstance(gold, sympy.Float) or isinstance(pred, sympy.Float) or not (gold.free_symbols | pred.free_symbols):
        try:
            return _numbers_close(complex(sympy.N(gold, 20)), complex(sympy.N(pred, 20)), rel_tol)
        except (TypeError, ValueError, OverflowError):
            pass
    symbols = sorted(gold.free_symbols | pred.free_symbols, key=str)
    difference = gold - pred
    if sympy.expand(difference) == 0:
        return True
    # Equal at a handful of random points is how CAS equivalence checks work in practice;
    # a single point that differs settles "not equal" without simplify's cost.
    rng = random.Random(0)
    try:
        for _ in range(4):
            point = {s: sympy.Float(rng.uniform(0.3, 2.7)) for s in symbols}
            value = complex(difference.evalf(30, subs=point))
            if abs(value) > 1e-8 * max(1.0, abs(complex(gold.evalf(30, subs=point)))):
                return False
        return True
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return sympy.simplify(difference) == 0


def _distinct(items) -> list:
    kept: list = []
    for item in items:
        if not any(equivalent(item, other) for other in kept):
            kept.append(item)
    return kept


def _items_equal(gold_items, pred_items, ordered: bool) -> bool:
    if not ordered:  # a set of solutions: a repeated solution is still the same set
        gold_items, pred_items = _distinct(gold_items), _distinct(pred_items)
    if len(gold_items) != len(pred_items):
        return False
    if ordered:
        return all(equivalent(g, p) for g, p in zip(gold_items, pred_items))
    remaining = list(pred_items)
    for g in gold_items:
        match = next((k for k, p in enumerate(remaining) if equivalent(g, p)), None)
        if match is None:
            return False
        remaining.pop(match)
    return True


def _as_items(value):
    if isinstance(value, Sequence):
        return value.items
    if isinstance(value, sympy.FiniteSet):
        return tuple(value.args)
    if isinstance(value, sympy.MatrixBase) and 1 in value.shape:
        return tuple(value)
    if isinstance(value, sympy.Tuple):
        return tuple(value.args)
    return None


def _relation_as_set(value):
    symbols = value.free_symbols
    if len(symbols) == 1:
        try:
            return value.as_set()
        except Exception:  # noqa: BLE001
            return None
    return None


def equivalent(gold, pred) -> bool:
    """Is ``pred`` the same answer as ``gold``? Gold decides how collections are compared."""
    if isinstance(gold, Text) or isinstance(pred, Text):
        return isinstance(gold, Text) and isinstance(pred, Text) and gold.value == pred.value
    if isinstance(gold, sympy.Eq) and not isinstance(pred, sympy.Rel | sympy.And):
        if _is_name(gold.lhs):  # "AB = 4", "\\frac{NO}{BO} = ...": the value is the answer
            return equivalent(gold.rhs, pred)
    if isinstance(pred, sympy.Eq) and not isinstance(gold, sympy.Rel | sympy.And):
        return equivalent(gold, pred.rhs)
    if isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq):
        return _equations_equal(gold, pred)
    if isinstance(gold, sympy.Rel | sympy.And) or isinstance(pred, sympy.Rel | sympy.And):
        left = _relation_as_set(gold) if isinstance(gold, sympy.Rel | sympy.And) else _interval_or_set(gold)
        right = _relation_as_set(pred) if isinstance(pred, sympy.Rel | sympy.And) else _interval_or_set(pred)
        if left is None or right is None:
            return gold == pred
        return equivalent(left, right)
    if isinstance(gold, sympy.Interval) or isinstance(pred, sympy.Interval):
        return _intervals_equal(_interval_or_set(gold), _interval_or_set(pred))
    if isinstance(gold, sympy.Union) or isinstance(pred, sympy.Union):
        left, right = _interval_or_set(gold), _interval_or_set(pred)
        if not isinstance(left, sympy.Set) or not isinstance(right, sympy.Set):
            return False
        return _items_equal(_union_parts(left), _union_parts(right), ordered=False)
    if isinstance(gold, sympy.MatrixBase) and isinstance(pred, sympy.MatrixBase):
        return gold.shape == pred.shape and all(equivalent(g, p) for g, p in zip(gold, pred))
    gold_items, pred_items = _as_items(gold), _as_items(pred)
    if gold_items is not None and pred_items is not None:
        ordered = not (isinstance(gold, sympy.FiniteSet) or (isinstance(gold, Sequence) and gold.unordered))
        return _items_equal(gold_items, pred_items, ordered)
    if gold_items is not None or pred_items is not None:
        return False
    if isinstance(gold, sympy.Set) or isinstance(pred, sympy.Set):
        return gold == pred
    return expressions_equal(gold, pred)


def _is_name(expr) -> bool:
    """A left-hand side that only names the answer: symbols, products and ratios of them, f(x)."""
    if not isinstance(expr, sympy.Expr) or not expr.free_symbols:
        return False
    return all(abs(number) == 1 for number in expr.atoms(sympy.Number))


def _union_parts(value: sympy.Set) -> tuple:
    return tuple(value.args) if isinstance(value, sympy.Union) else (value,)


def _intervals_equal(gold, pred) -> bool:
    if isinstance(gold, sympy.Interval) and isinstance(pred, sympy.Interval):
        return (gold.left_open == pred.left_open and gold.right_open == pred.right_open
                and equivalent(gold.start, pred.start) and equivalent(gold.end, pred.end))
    if isinstance(gold, sympy.Set) and isinstance(pred, sympy.Set):
        return gold == pred
    return False


def _equations_equal(gold: sympy.Eq, pred: sympy.Eq) -> bool:
    if isinstance(gold.lhs, sympy.Symbol) and isinstance(pred.lhs, sympy.Symbol) and gold.lhs == pred.lhs:
        return equivalent(gold.rhs, pred.rhs)
    g, p = gold.lhs - gold.rhs, pred.lhs - pred.rhs
    if expressions_equal(g, p) or expressions_equal(g, -p):
        return True
    ratio = sympy.simplify(g / p)
    return bool(ratio.is_number and ratio != 0)


def answers_equivalent(gold_text: str, pred_text: str, gold_percent: bool = False, pred_percent: bool = False,
                       policy: dict | None = None) -> bool:
    """Parse both normalised answers and compare; unparseable answers fall back to text."""
    _POLICY.update({"rel_tol": REL_TOL, "approximate_decimals": True, "unordered_lists": True}, **(policy or {}))
    try:
        gold = parse_answer(gold_text)
    except (Unparseable, RecursionError):
        return _loose_text(gold_text) == _loose_text(pred_text)
    try:
        pred = parse_answer(pred_text)
    except (Unparseable, RecursionError):
        return False
    try:
        if equivalent(gold, pred):
            return True
        if gold_percent != pred_percent:
            # 28% and 0.28 name the same quantity; accept whichever reading matches.
            scale = sympy.Rational(1, 100) if gold_percent else sympy.Integer(100)
            return _is_scalar(gold) and _is_scalar(pred) and expressions_equal(gold * scale, pred)
    except (TypeError, ValueError, AttributeError, RecursionError, Unparseable):
        return False
    return False


def _is_scalar(value) -> bool:
    return isinstance(value, sympy.Expr)


def _loose_text(text: str) -> str:
    return re.sub(r"[\s{}\\]", "", text).lower()
