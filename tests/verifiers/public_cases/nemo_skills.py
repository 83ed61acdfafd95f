"""NeMo-Skills' math_equal tests (Apache-2.0). The tests assert both argument orders; both are listed."""

SOURCE = "NVIDIA/NeMo-Skills tests/test_math_equal.py (commit 583b90a2)"

_EQUAL = [
    ("5", "5"),
    ("5", "5.0"),
    ("1/2", "0.5"),
    ("\\frac{1}{2}", "0.5"),
    ("918\\frac{1}{2}", "918.5"),
    ("x^2+2x+1", "x^2 + 2*x + 1"),
    ("x^2+2x+1", "x^2 + 2*x - (-1)"),
    ("y = x^2+2x+1", "2x+ 1+x^2"),
    ("odd", "\\text{odd}"),
    ("E", "\\mathrm{E}"),
    ("A", "\\textbf{A}"),
    ("f'", "f'"),
    ("185", "185\\"),
    ("185\\", "185\\"),
    (".185", "0.185"),
    ("\\frac {1}{2}", "0.5"),
    ("17\\text{ any text}", "17"),
    ("\\$10", "10"),
    ("10%", "10"),
    ("10\\%", "10"),
    ("2.5", "\\frac{5}{2}"),  # the source writes 5 / 2
    ("\\frac{1}{3}", "\\dfrac{1}{3}"),
    ("(r+5)(r+5)", "(r+5)^2"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \\approx 0.577"),
    ("C", "C. x = 42"),
    ("\\begin{pmatrix}0&0&0\\\\0&1&0\\\\0&0&1\\end{pmatrix}",
     "\\begin{bmatrix} 0 & 0 & 0 \\\\ 0 & 1 & 0 \\\\ 0 & 0 & 1 \\end{bmatrix}"),
]
_DIFFERENT = [
    ("5", "5.001"),
    ("x^2+2x+1", "x^3+2x+1"),
    ("odd", "\\text{oddd}"),
    ("E", "\\mathrm{E}*2"),
    ("\\sqrt{67},-\\sqrt{85}", "\\sqrt{67}"),
]

CASES = ([(a, b, 1) for a, b in _EQUAL] + [(b, a, 1) for a, b in _EQUAL]
         + [(a, b, 0) for a, b in _DIFFERENT] + [(b, a, 0) for a, b in _DIFFERENT])
