"""The MATH benchmark's is_equiv tests (hendrycks/math, MIT)."""

SOURCE = "hendrycks/math modeling/math_equivalence_test.py (commit 5f3bf91d)"

CASES = [
    ("\\tfrac{1}{2} + \\frac1{72}", "\\\\frac{1}{2} + 2/3", 0),
    ("10, 4, -2", "4, 10, -2", 0),
    ("10, 4, 2", "4, 12, 2", 0),
    ("\\tfrac{1}{2} +\\! \\frac1{72}", "\\\\dfrac{1}{2} +\\frac{1}{72}", 1),
    ("10\\text{ units}", "10 ", 1),
    ("10\\text{ units}", "100 ", 0),
    ("10", "\\$10", 1),
    ("\\left(x-2\\right)\\left(x+2\\right)", "(x-2)(x+2)", 1),
    ("0.1, 4, 2", "4, .1, 2", 0),
    ("0.1", ".1", 1),
    ("10\\%", "10", 1),
    ("10\\sqrt{3} + \\sqrt4", "10\\sqrt3 + \\sqrt{4}", 1),
    ("\\frac34i", "\\frac{3}{4}i", 1),
    ("\\tfrac83", "\\frac{8}{3}", 1),
    ("5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", 0),
    ("1/2", "\\frac{1}{2}", 1),
]
