"""The slow half of the math checker, in-process (no worker, no bound): LaTeX to sympy and what counts as the same
answer. test_math.py and test_public_graders.py run it through the bounded worker against other graders' cases."""

from __future__ import annotations

import pytest
import sympy

from flywheel_verifiers.math_equivalence import (
    Sequence,
    Unparseable,
    answers_equivalent,
    latex_to_python,
    parse_answer,
)


def test_the_common_latex_subset_becomes_python():
    assert latex_to_python("\\frac{1}{2}") == "((1)/(2))"
    assert latex_to_python("\\sqrt[3]{8}") == "root(8,3)"
    assert latex_to_python("\\dbinom{5}{2}") == "binom(5,2)"
    with pytest.raises(Unparseable, match="unknown command \\\\mathrm"):
        latex_to_python("\\mathrm{kg}")


def test_structure_is_kept_apart_before_expressions_are_parsed():
    assert parse_answer("\\frac{1}{2}") == sympy.Rational(1, 2)
    assert parse_answer("x = 5 + 5 + 1 = 11") == sympy.Eq(sympy.Symbol("x"), 11)  # the chain's last link
    assert isinstance(parse_answer("1, 2, 3"), Sequence)
    assert isinstance(parse_answer("[0, 1) \\cup (2, 3]"), sympy.Union)
    assert parse_answer("3 \\pm 1").items == (4, 2)


@pytest.mark.parametrize(("gold", "prediction", "same"), [
    ("\\frac{1}{2}", "0.5", True),
    ("\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}", True),
    ("1, 2", "2, 1", True),  # an unordered list of answers
    ("(1, 2)", "(2, 1)", False),  # a point is ordered
    ("x \\le 3", "3 \\ge x", True),
    ("\\frac{1}{3}", "0.33", False),  # an approximation with too few digits
    ("28", "0.28", False),
    ("\\text{blue}", "\\text{red}", False),
])
def test_equivalence(gold, prediction, same):
    assert answers_equivalent(gold, prediction) is same


def test_percent_and_its_fraction_name_the_same_quantity():
    assert answers_equivalent("28", "0.28", gold_percent=True)
    assert not answers_equivalent("28", "0.29", gold_percent=True)
