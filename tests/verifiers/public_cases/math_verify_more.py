"""Math-Verify's other test files (Apache-2.0; test data transcribed): mixed numbers, failed
LaTeX spans, the yujianll and OpenThoughts regressions, and strict variable comparison.

Tests that check parse() output rather than a verdict are written as verdicts on the same
strings: "parses to 40/9" becomes ("40/9", "4 4/9", True); "no finite value" becomes False
against every value the test lists.
"""

SOURCE = ("huggingface/Math-Verify tests/test_mixed_number_extraction.py (05aa3a67), tests/test_failed_latex_span.py "
          "and tests/test_yujianll.py (056ad625); wantbook-book/Math-Verify tests/test_open_thoughts.py (3e4fce29) and "
          "tests/test_strict.py (4551b084)")

_SUM = r"\sum_{k=0}^n\bigl(k\bigr)"
_INVALID_MIXED = [
    ("4 4/0", ("4", "0")), ("4 0/0", ("4", "0")), ("-4 0/0", ("-4", "0")), ("0 0/0", ("0",)),
    ("1 000 0/0", ("1000", "0")), ("11 6/6", ("11", "1", "12", "10")), ("11 7/6", ("11", "7/6", "73/6", "59/6")),
    ("The answer is 11 6/6.", ("11", "1", "12", "10")), ("The answer is 4 0/0.", ("4", "0")),
]
_PERCENT_SUFFIXES = ["%", " %", "percent", " percent", "percentage", " percentage", "pct", " pct"]

_LONG_143 = (
    r"<think> Alright, let me try to figure out this problem. [...] So, 428 - 285 = 143. But wait, the example given is "
    r"2016, which is 7*288. So, 288 is within the 286 to 428 range. 288-285=3, but in the total count, it's 143. So, all "
    r"multiples from 2002 up to 2996. So, 143 years. Therefore, the answer is 143. So, \boxed{143} **Final Answer** "
    r"\boxed{143} </think> To determine how many years between 2000 and 3000 inclusive can be written as the sum of two "
    r"positive integers \( p \) and \( q \) such that \( 2p = 5q \), we start by analyzing the relationship between \( p "
    r"\) and \( q \). [...] 3. **Counting the number of multiples of 7 between 2002 and 2996**: \[ \text{Number of terms} "
    r"= 428 - 286 + 1 = 143 \] Thus, the number of years between 2000 and 3000 inclusive that can be written as the sum "
    r"of two positive integers \( p \) and \( q \) such that \( 2p = 5q \) is \(\boxed{143}\)."
)  # shortened in the middle

CASES = [
    # test_mixed_number_extraction
    ("40/9", "4 4/9", 1),
    ("-40/9", "-4 4/9", 1),
    ("71/6", "11 5/6", 1),
    ("71/6", "+11 5/6", 1),
    ("40/9", "The answer is 4 4/9.", 1),
    ("4", "The answer is 4 4/9.", 0),
    ("4/9", "0 4/9", 1),
    ("4", "4 0/9", 1),
    ("9004/9", "1 000 4/9", 1),
    *[(value, prediction, 0) for prediction, values in _INVALID_MIXED for value in values],
    ("139/90", "11/10 4/9", 0),
    ("103/9", "11.0 4/9", 0),
    ("103/9", "(11) 4/9", 0),
    ("139/90", "11/10\n4/9", 0),
    ("71/6", "11\n5/6", 0),
    ("71/6", "11\r\n5/6", 0),
    ("11 + 4/9", "11 - 4/9", 0),
    *[("40/900", f"4 4/9{suffix}", 1) for suffix in _PERCENT_SUFFIXES],
    ("40/9", "4 + 4/9", 1),
    ("5", "10/2", 1),
    ("1000", "1 000", 1),
    ("5", "$5.00", 1),
    ("7/25", "28%", 1),
    ("4/9", "There are 4 objects and 4/9 remain.", 1),
    ("2", "4 4/9 2", 1),
    # test_failed_latex_span
    ("0", f"${_SUM}$", 0),
    ("0", f"Final answer is ${_SUM}$. I hope.", 0),
    ("42", f"Final answer is ${_SUM}$. I hope. 42", 1),
    ("42", f"Final answer is ${_SUM}$. I hope. $42$", 1),
    ("1/2", f"Final answer is ${_SUM}$. I hope. 1/2", 1),
    ("42", f"${_SUM}$ and $42$", 1),
    ("42", f"$42$ and ${_SUM}$", 1),
    # test_yujianll
    ("$n=1, 2, 3$", "$n=1, 2, 3$", 1),
    ("$n=2, 3, 4$", "$n=1, 2, 3$", 0),
    ("$D = (0, 1)$", "$D = (0, 1)$", 1),
    ("$D = (0, 1)$", "$D = (0, 1.5)$", 0),
    ("$F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}$", "$F_n = \\sum_{k=0}^{n-2} F_k F_{n-k-2}$", 0),
    ("$F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}$", "$F_n = \\sum_{k=0}^{n-1} F_{n-k-1} F_k$", 1),
    ("$19, 46, and 82$", "$19, 46, \\text{ and } 82$", 1),
    ("$19, 46, and 82$", "$21, 36, and 82$", 0),
    ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 - \\frac{1}{\\mathrm{e}}$", 1),
    ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$", 0),
    ("$\\pm 2021$", "$2021$", 0),
    ("$\\pm 2021$", "${-2021, 2021}$", 1),
    ("$12:00$", "$1:00$", 0),
    ("$12:00$", "$12:00$", 1),
    # test_open_thoughts
    (r"$$\boxed{2}, \boxed{3}, \boxed{5}, \boxed{7}, \boxed{13}$$", r"$${2, 3, 5, 7, 13}$$", 1),
    (r"$$f(y) = y$$", r"$$f(y) = y$$", 1),
    (r"$$-793 < a < 10$$", r"$$(-793, 10)$$", 1),
    (r"$$\text{The midpoints form a regular hexagon}$$", r"$$\text{The midpoints form a regular hexagon}$$", 1),
    (r"$$a_3 = 2, a_{37} = 19$$", r"$$\boxed{a_{37} = 19, \quad a_3 = 2}$$", 1),
    (r"$$(2, 2), (1, 3), (3, 3)$$", r"$$\boxed{(2, 2), (1, 3), (3, 3)}$$", 1),
    (r"$$(1, +\infty)$$", r"$$(1, +\infty)$$", 1),
    (r"$$x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}$$", r"$$\boxed{x = \frac{1}{2}, x = \frac{-1 \pm \sqrt{13}}{4}}$$", 1),
    (r"$$0.06 \text{ yuan}$$", r"$$\boxed{0.06 \text{ yuan}}$$", 1),
    (r"$$(5, 8), (8, 5)$$", r"$$\boxed{(x, y) = (5, 8) \quad \text{and} \quad (8, 5)}$$", 1),
    (r"$$667$$", r"$$\boxed{667}$$", 1),
    (r"$$6 \text{ and } 8$$", r"$$\boxed{6 \text{ and } 8}$$", 1),
    (r"$$(2, 2), (6, 2)$$", r"$$\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}$$", 1),
    (r"$$(98, 2), (99, 503)$$", r"$$\boxed{(98, 2)} \quad \text{and} \quad \boxed{(99, 503)}$$", 1),
    (r"$$(3, 3), (1, 1)$$", r"$$\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}$$", 1),
    (r"$$k \ge 2$$", r"$$\boxed{k \ge 2}$$", 1),
    (r"$$k = 45, n = 2$$", r"$$\boxed{k = 45} \quad \text{and} \quad \boxed{n = 2}$$", 1),
    (r"$143$", _LONG_143, 1),
    (r"$$143$$", r"$$\boxed{20}$$ \boxed{143}", 1),
    (r"$${1,2,3}$$", r"\boxed{1} and \boxed{2} and \boxed{3}", 1),
    (r"$${1,2,3}$$", r"\boxed{1},\boxed{2},\boxed{3}", 1),
    # test_strict (the default, strict=True)
    (r"$f(x)$", r"$f(y)$", 0),
]
