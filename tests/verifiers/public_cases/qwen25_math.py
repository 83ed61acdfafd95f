"""Qwen2.5-Math's grader examples (QwenLM, Apache-2.0): the pairs its ``_test_math_equal`` lists.

The source prints verdicts rather than asserting them (its commented pairs are the ones
Math-Verify's suite later asserts); ``expected`` here is the mathematically right verdict. Pairs
that only pass under that grader's lenient tolerances (``5.51`` vs ``11/2``, ``6+9.2i`` vs
``6.0+9.1i``) are kept as *different*.
"""

SOURCE = "QwenLM/Qwen2.5-Math evaluation/grader.py _test_math_equal (commit e3564205)"

CASES = [
    ("\\frac{1}{12}", "0.0833333333333333", 1),
    ("(1,\\frac{9}{2})", "(1,4.5)", 1),
    ("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", 1),
    ("\\tan^2(y)+1", "\\sec^2(y)", 1),
    ("(\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix})",
     "\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}", 1),
    ("(\\begin{pmatrix}\\frac{1}{3\\sqrt[3]{x}^2}&0&0\\\\0&1&0\\\\-\\sin(x)&0&0\\\\\\end{pmatrix})",
     "\\begin{pmatrix}\\frac{1}{3x^{2/3}}&0&0\\\\0&1&0\\\\-\\sin(x)&0&0\\end{pmatrix}", 1),
    ("-\\frac{2(x^2+6)}{9(x^2-2)\\sqrt[3]{x^2-2}^2}", "-\\frac{8x^2}{9(x^2-2)^{5/3}}+\\frac{2}{3(x^2-2)^{2/3}}", 1),
    ("34x+45y-20z+100=0", "-34x-45y+20z-100=0", 1),
    ("\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}", "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}", 1),
    ("(a+5)(b+2)", "(+5)(b+2)", 0),
    ("2", "\\frac{1+\\sqrt{5}}{2}", 0),
    ("4", "\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}", 0),
    ("1\\sqrt{19}", "1", 0),
    ("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.6667]", 1),
    ("\\frac{1}{12}", "1/12", 1),
    ("$16.0$", "16", 1),
    ("(1,\\frac{9}{2})", "(1.0,4.5)", 1),
    ("3s^2", "3*s**2", 1),
    ("2x(15x^2-4x+10)", "2*x*(15*x**2 - 4*x + 10)", 1),
    ("7*(x - 3)*(x + 3)", "7(x+3)(x-3)", 1),
    ("20", "10 - 10*i**2", 1),
    ("\\frac{11}{2}", "5.51", 0),
    ("6+9.2i", "(6.0+9.1i)", 0),
    ("2,3,4", "*** We can get the question's Final Answer: \\boxed{2}, \\boxed{3}, \\boxed{4}.", 1),
]
