"""Math-Verify's regression tests (Apache-2.0 project; test data transcribed)."""

SOURCE = "huggingface/Math-Verify tests/test_all.py (commit cf14bc47)"

_LONG_28 = (
    r"Let's assume the stock's value at the beginning of Monday is $100 . $ After losing $10 \%$ of its value on Monday, "
    r"the stock's value becomes $100 - 100 \cdot 10 \%=100 - 10 =90 . $ [...] Final Answer: The final answer is $28 \%$. "
    r"I hope it is correct. Note: The solution provided is incorrect. The correct approach is as follows: The stock loses "
    r"$10 \%$ of its value on Monday, so it retains $100 \% - 10 \%=90 \%$ of its value. [...] The overall percent loss in "
    r"value is $100 \% - 72 \%=28 \%$. Final Answer: The final answer is $28 \%$. I hope it is correct. Note: The "
    r"solution provided is incorrect. The correct approach is as follows:"
)  # shortened in the middle

_FUNC_EQ_PRED = (
    r"<think> Okay, so I have this functional equation to solve: \( f(x) + f(y) = f(x + y) - xy - 1 \), and I'm given "
    r"that \( f(1) = 1 \). [...] So the solutions are \( n = 1 \) and \( n = -2 \). [...] **Final Answer** The integers "
    r"are \boxed{-2} and \boxed{1}. </think> Given the functional equation: \[ f(x) + f(y) = f(x + y) - xy - 1 \] [...] "
    r"Solving this quadratic equation, we find the roots: \[ n = 1 \quad \text{and} \quad n = -2. \] Thus, the integers "
    r"\( n \) such that \( f(n) = n \) are: \[ \boxed{-2} \quad \text{and} \quad \boxed{1}. \]"
)  # shortened in the middle

CASES = [
    # test_number_extraction
    ("-5", "-5", 1),
    ("7425000", "7,425,000", 1),
    ("1000", "1 000", 1),
    ("1000", "1000.0", 1),
    ("1000.0", "1,000.0", 1),
    ("1000.99", "1000,99", 1),
    ("1,22", "1.22", 1),
    ("2.74", "Soucis : 2,74 $ a..", 1),
    ("0.4", ".4", 1),
    ("1000.99", "1,000.99", 1),
    ("1000.99", "$1,000.99", 1),
    ("1000.99", "1,000.99$", 1),
    ("1000.99", "the number is not 10 which is 1,000.99€", 1),
    ("1000.99", "so the number is 10 which is 1,000.99m²", 1),
    ("1000.99", "not it's not 10 it's 1,000.99m²", 1),
    ("0,111", "0.111", 1),
    ("2", "AZYUK2A", 0),
    # test_simple_fraction_notation
    ("10/9", "\\frac{10}{9}", 1),
    ("-10/9", "-\\frac{10}{9}", 1),
    # test_sets_handling
    ("$[0,1)$", "$[0,1)$", 1),
    ("$[0,9)$", "$[0,1)$", 0),
    ("$(0,9)$", "$[0,9)$", 0),
    ("$1$", "$-[0,1)$", 0),
    # test_latex_notation (the two "separate line" cases are LaTeX-only behaviour: left out)
    ("$9$", "Answer \\[ 9 \\]", 1),
    ("$9$", "Answer $ 9 $", 1),
    ("$9$", "Answer $$ 9 $$", 1),
    ("$9$", "Answer \\( 9 \\)", 1),
    ("$10$", "Answer \\( (9+1) \\)", 1),
    ("$9$", "Answer \\[ \n 9 \n \\]", 1),
    ("$9$", "Answer $$ \n 9 \n $$", 1),
    ("$10/9$", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", 1),
    ("$1/3$", "$\\frac13 $", 1),
    ("$1$", "$\\frac3{3} $", 1),
    ("$\\sqrt{3}$", "$\\sqrt3 $", 1),
    ("$1/3$", "$\\cfrac{1}{3} $", 1),
    ("$1/3$", "$\\dfrac{1}{3} $", 1),
    ("$1/3$", "$\\tfrac{1}{3} $", 1),
    ("$1/3$", "$ 1/3 $", 1),
    ("$1/3$", "$\\left( \\frac{1}{3} \\right)$", 1),
    ("$1/3$", "$\\boxed{\\frac{1}{3}}$", 1),
    ("$1/3$", "$\\frac{1}{3} \\text{meters}$", 1),
    ("$1/3$", "$\\frac{1}{3} \\textbf{meters}$", 1),
    ("$1/3$", "$k = \\frac{1}{3}$", 1),
    # test_percent_notation
    ("$28\\%$", "28 percent", 1),
    ("$28\\%$", "28 pct", 1),
    ("$28\\%$", "28 %", 1),
    ("$28\\%$", "$28$ %", 1),
    ("$28\\%$", "$28$ percent", 1),
    ("$28\\%$", "$\\boxed{28}$ pct", 1),
    ("$28\\%$", "$\\boxed{28 pct}", 1),
    ("$28\\%$", "$\\boxed{28 percent}", 1),
    ("$28\\%$", "$\\boxed{28 percentage}", 1),
    ("$28\\%$", "28", 1),
    ("$0.28$", "28", 0),
    ("$28/100$", "28", 0),
    ("$28$", "28/100", 0),
    ("$\\frac{28}{100}$", "28", 0),
    ("$28*\\frac{1}{100}$", "28", 0),
    # test_latex_notation_math
    ("$2-2p$", "Since $x<2$, it follows that $|x-2|=2-x$. If $2-x=p$, then $x=2-p$. Thus $x-p=\\boxed{2-2p}$.", 1),
    ("\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}",
     "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}", 1),
    (_LONG_28, r"If its initial value was $x$, after Monday, its value is $.9x$, and after a further $20\%$ loss, its value "
     r"becomes $.8\cdot .9x = .72x$, making for a total loss of $\boxed{28\%}$.", 1),
    (r"In order for $N$ to be divisible by 12, $N$ must be divisible by $4$ and $3$. [...] However, our next possibility, "
     r"$14{,}916,$ is a multiple of $3,$ since $1 + 4 + 9 + 1 + 6 = 21.$ Therefore, $\boxed{14{,}916}$ is our answer.",
     r"For a number to be divisible by 12, it must be divisible by both 3 and 4. [...] Therefore, the smallest possible "
     r"value for $N$ with $A = 4$ and $B = 2$ is $N = 14 {, }916$. This number is divisible by both 3 and 4, and thus by "
     r"12. Final Answer: The final answer is $14 {, }916$. I hope it is correct. Note: The solution provided assumes that "
     r"$A$ and $B$ are digits that are nonzero [...] [Note: The solution provided is correct, but it's always a good idea "
     r"to double-check the calculations and reasoning, especially for more complex problems. Thank you!] [Note", 1),
    (r"Since $25<30<36$, we have $5<\sqrt{30}<6$. [...] so the sum is located between $\boxed{12\text{ and }13}$. To be "
     r"more precise, $\sqrt{50}>7$, but we're still able to say that $\sqrt{30}+\sqrt{50}<(6+7)$.",
     r"We have that \begin{align*} \sqrt{30 } + \sqrt{50 }&=\sqrt{30 } + \sqrt{25 \cdot2 } \ &\approx12.547. "
     r"\end{align*}Therefore, the graph of the sum $\sqrt{30 } + \sqrt{50 }$ is located between $\boxed{12 $ and $13 }. $ "
     r"Final Answer: The final answer is \"$12 $ and $13 $\". I hope it is correct.", 1),
    ("$\\frac{14}{3}$", r"$f(-2)+f(-1)+f(0)=\frac{3(-2)-2}{-2-2}+\frac{3(-1)-2}{-1-2}+\frac{3(0)-2}{0-2}=\frac{-8}{-4}+"
     r"\frac{-5}{-3}+\frac{-2}{-2}=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$", 1),
    ("$\\text{Evelyn}$", r"Evelyn covered more distance in less time than Briana, Debra and Angela, so her average speed "
     r"is greater than any of their average speeds. Therefore, $\boxed{\text{Evelyn}}$ is our answer.", 1),
    ("$90^\\circ$", r"Thus, the direction vector of the first line is $\begin{pmatrix} 2 \\ -12 \\ -3 \end{pmatrix}.$ "
     r"Note that \[\begin{pmatrix} 3 \\ 2 \\ -6 \end{pmatrix} \cdot \begin{pmatrix} 2 \\ -12 \\ -3 \end{pmatrix} = 0.\]"
     r"Hence, the angle between the lines is $\boxed{90^\circ}.$", 1),
    ("$3\\sqrt{13}$", r"We use the distance formula:  \begin{align*} \sqrt{(2 - (-4))^2 + ((-6) - 3)^2} &= \sqrt{6^2 + "
     r"(-9)^2}\\ & = \sqrt{36 + 81}\\ & = \sqrt{117} = \boxed{3\sqrt{13}}. \end{align*}", 1),
    ("$\\frac{3}{56}$", r"In particular, \[q(8) = -\frac{(29 \cdot 8 + 27)(6)(5) \dotsm (1)}{40320} = -\frac{37}{8},\]so "
     r"\[p(8) = \frac{q(8) + 8}{8^2 - 1} = \boxed{\frac{3}{56}}.\]", 1),
    ("$2$", r"Of the two-digit perfect squares, only $4^2=16$ and $6^2=36$ end in $6$. Thus, there are $\boxed{2}$ "
     r"distinct possible values for $B$.", 1),
    ("$15\\mbox{ cm}^2$", r"The shaded triangle has a base of length $10\text{ cm}.$ [...] Therefore, the area of the "
     r"triangle is $$\frac{1}{2}\times 3 \times 10 = \boxed{15\mbox{ cm}^2}.$$", 1),
    ("$-2,1$", r"By the Integer Root Theorem, the possible integer roots are all the divisors of 14 (including negative "
     r"divisors), which are $-14,$ $-7,$ $-2,$ $-1,$ $1,$ $2,$ $7,$ and $14.$  Checking, we find that the only integer "
     r"roots are $\boxed{-2,1}.$", 1),
    ("$9$", r"Since $3^5 \equiv 1 \pmod{11},$ we can see that $3^{34} = (3^5)^{6} \cdot 3^4$ and $3^{38} = (3^5)^{7} "
     r"\cdot 3^3.$ Then, $129^{34}+96^{38} \equiv \boxed{9} \pmod{11}.$", 1),
    ("$90^\\circ$", "Therefore, \\begin{align*} \\angle BAC &= \\angle BAD + \\angle DAC \\\\ &= 50^\\circ+40^\\circ "
     "\\\\ &= \\boxed{90^\\circ}. \\end{align*}", 1),
    ("$0$", "Note that $p(x)$ has degree at most 2.  Also, $p(a) = p(b) = p(c) = 1.$  Thus, the polynomials $p(x)$ and 1 "
     "agree at three different values, so by the Identity Theorem, they are the same polynomial.  Hence, the degree of "
     "$p(x)$ (which is the constant polynomial 1) is $\\boxed{0}.$", 1),
    ("$204_5$", r"We may carry out long division in base 5 just as in base 10. [...] for a quotient of $\boxed{204_5}$. "
     r"Note that in the above calculation we have used that $13_5$ divided by $2_5$ is $4_5$, which follows from "
     r"$4_5\times2_5=8_{10}=13_5$.", 1),
    ("$(6,31,-1)$", "Let $\\alpha$ be a root of $x^3 - 3x^2 + 4x - 1 = 0,$ so $\\alpha^3 = 3 \\alpha^2 - 4 \\alpha + 1.$ "
     "Then solving the system of equations, we find $(p,q,r) = \\boxed{(6,31,-1)}.$", 1),
    ("$1 \\pm \\sqrt{19}$", "This simplifies to $64y + 1920 = 0,$ so $y = -30.$ Then $x^2 - 2x - 48 = -30,$ or "
     "$x^2 - 2x - 18 = 0.$ By the quadratic formula, $x = \\boxed{1 \\pm \\sqrt{19}}.$", 1),
    ("$3 \\pm 2 \\sqrt{2}$", "This gives us $x^2 + 1 = 6x,$ or $x^2 - 6x + 1 = 0.$ By the quadratic formula, the roots "
     "are $x = \\boxed{3 \\pm 2 \\sqrt{2}}.$", 1),
    ("$\\{1\\pm\\sqrt{5},-2\\}$", "The roots of $P(x)$ are $-2$ and $1 \\pm \\sqrt{5}$, so the answer is "
     "$\\boxed{\\{1\\pm\\sqrt{5},-2\\}}.$", 1),
    ("$f(2) < f(1) < f(4)$", "Thus, $f(x)$ is an increasing function of $|x - 2|.$  In other words, the farther $x$ is "
     "from 2, the greater $f(x)$ is.\n\n[asy]\nunitsize(1.5 cm);\n\nlabel(\"$x = 2$\", (0,2), N);\ndot(\"$(2,f(2))$\", "
     "(0,0), SE);\n[/asy]\n\nHence, $\\boxed{f(2) < f(1) < f(4)}.$", 1),
    ("$2 \\sin b \\cos a$", "By sum-to-product,\n\\[\\sin (a + b) - \\sin (a - b) = \\boxed{2 \\sin b \\cos a}.\\]", 1),
    ("$\\frac{\\pi r}{h+r}$", "Thus we have $s = x+y+z = (z+x)+y = h+r$. The answer is $\\boxed{\\frac{\\pi r}{h+r}}$.",
     1),
    ("$125$ miles", "The distance is $\\boxed{125\\textnormal{ miles}}.$", 1),
    ("$[-1, -\\frac{1}{2}) \\cup (-\\frac{1}{2}, 0) \\cup (0, 1) \\cup (1, \\infty)$",
     "The solution set is $\\boxed{[-1, -\\tfrac12) \\cup (-\\tfrac12, 0) \\cup (0, 1) \\cup (1, \\infty)}.$", 1),
    ("$\\sqrt{2}+\\sqrt{5}$", "The answer is $\\boxed{\\sqrt 2+\\sqrt 5}$", 1),
    ("$\\frac{9}{4}\\pi$", "Therefore $\\boxed{\\frac94\\pi}$.", 1),
    ("x \\in \\boxed{\\{-1\\} \\cup [0,7)}.$", "x \\in \\boxed{\\{-1\\} \\cup [0,7)}.$", 1),
    # test_relations_math
    ("$x >= 5$", "Therefore $x \\geq 5$ is the solution.", 1),
    ("$x < 3$", "We find that $x \\lt 3$.", 1),
    ("$x \\leq 2$", "Thus $x <= 2$ is our answer.", 1),
    ("$x > 5$", "Therefore $x \\gt 5$ is the solution.", 1),
    ("$x != 3$", "We find that $x \\neq 3$.", 1),
    ("$x > 5$", "Therefore $x < 5$ is the solution.", 0),
    ("$x \\geq 5$", "The solution is $x \\leq 5$", 0),
    ("$x \\neq 5$", "The solution is $x != 5$", 1),
    ("$x \\leq 5$", "$5 \\geq x$", 1),
    ("$x \\geq 5$", "$5 \\leq x$", 1),
    ("$x = 11$", "$x = 5+5+1 = 7 =11$", 1),
    ("$7 = 11a+c$", "$11a+c$", 0),
    ("$x = 1/3$", "$x = 5+5+1 = 1/3 \\approx 11$", 1),
    ("$11$", "$x=11$", 1),
    ("$11$", "$x\\approx11$", 1),
    ("$1/3$", "$x=1/3\\approx1.3$", 1),
    ("$x < 1$", "$-x > -1$", 1),
    ("$x < 1$", "$x > -1$", 0),
    ("$x <= 1$", "$-x >= -1$", 1),
    ("$a +3z = 0$", "$0$", 0),
    ("$1 = \\zzz = x = 0$", "$0$", 1),
    ("$2x + z = 1$", "$1$", 0),
    ("$a^2 + b = 0$", "$0$", 0),
    ("$k=1$", "$1$", 1),
    ("$1$", "$k=1$", 1),
    ("$z = 1 + 1 = 2$", "$z = 3+3 = 2$", 1),
    ("$2x+4y-3=0$", "$y=-\\frac{1}{2}x+\\frac{3}{4}$", 1),
    ("$x^2/4 + y^2/3 = 1$", "$x^2/16 + y^2/12 = 1/4$", 1),
    # test_matrix_extraction
    ("$189$", "So area is (15 +27)/2 *9=189.\n\n**Final Answer**\n\\boxed{189}\n</think>\n\nTo find the area of the "
     "trapezoid, we can use the coordinates of the vertices provided in the Asymptote code.\n\\[\n\\text{Area} = "
     "\\frac{1}{2} |378 - 0| = \\frac{1}{2} \\times 378 = 189\n\\]\n\nThus, the area of the trapezoid is "
     "\\(\\boxed{189}\\) square centimeters.", 1),
    (r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$", r"The identity matrix is $ \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} $.", 1),
    (r"$\begin{bmatrix}0 & 0 \\0 & 0\end{bmatrix}$", r"Here is a zero matrix: $ \begin{pmatrix}0 & 0 \\0 & 0\end{pmatrix} $", 1),
    (r"$\begin{pmatrix}1 & 2 \\3 & 4\end{pmatrix}$",
     r"Special matrix: $ \left[\begin{array}{cc}1 & 2 \\3 & 4\end{array}\right] $", 1),
    (r"$\begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix}$",
     r"Matrix with fractions: $ \begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix} $", 1),
    (r"$\begin{pmatrix}6 & 8 \\ 10 & 12\end{pmatrix}$",
     r"The sum is $\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix} + \begin{pmatrix}5 & 6 \\ 7 & 8\end{pmatrix}$", 1),
    (r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
     r"When multiplying by identity: $\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$", 1),
    (r"$\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}$", r"The matrix is $\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}$", 0),
    # test_complex_math_expressions (qwen parser cases at the default precision 6)
    ("$\\frac{1}{12}$", "$0.0833333333333333$", 1),
    ("$(1,\\frac{9}{2})$", "$(1,4.5)$", 1),
    ("$\\frac{x+2}{7}$", "$\\frac{x}{7}+\\frac{2}{7}$", 1),
    ("$\\tan^2(y)+1$", "$\\sec^2(y)$", 1),
    ("$\\begin{pmatrix}\\frac{1}{3\\sqrt[3]{x}^2}&0&0\\\\0&1&0\\\\-\\sin(x)&0&0\\\\\\end{pmatrix}$",
     "$\\begin{pmatrix}\\frac{1}{3x^{2/3}}&0&0\\\\0&1&0\\\\-\\sin(x)&0&0\\end{pmatrix}$", 1),
    ("$34x+45y-20z+100=0$", "$-34x-45y+20z-100=0$", 1),
    ("$\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}$", "$\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}$", 1),
    ("$(a+5)(b+2)$", "$(+5)(b+2)$", 0),
    ("$2$", "$\\frac{1+\\sqrt{5}}{2}$", 0),
    ("$4$", "$\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}$", 0),
    ("$1\\sqrt{19}$", "$1$", 0),
    ("$x+2n+1$", "$x+1$", 0),
    # test_math_extraction_edge_cases (long outputs shortened in the middle)
    ("$2/3$", r"So, we can rewrite the equation as: P(A) = 1/2 + (1/2) * (1/2) * P(A) Now, we can solve for P(A): "
     r"P(A) - (1/4) * P(A) = 1/2 (3/4) * P(A) = 1/2 P(A) = (1/2) / (3/4) P(A) = (1/2) * (4/3) P(A) = 2/3 Therefore, "
     r"the probability that Alice wins the game is 2/3. <|im_start|>user", 1),
    ("$12$", r"Since $d$ must be an integer, $n$ must be a divisor of 90. The divisors of 90 are 1, 2, 3, 5, 6, 9, 10, 15, "
     r"18, 30, 45, and 90. For each divisor $n$, there corresponds a unique common difference $d = \frac{90}{n}$ that "
     r"generates an arithmetic sequence with the given conditions. Therefore, there are 12 distinct arithmetic sequences "
     r"that meet the three given conditions. I hope it is correct. <|im_start|>user", 1),
    (r"$(7,6)$", r"Now, substitute this value of $x$ back into the expression for $y$: $y = 8.8 - 0.4(7)$ "
     r"$y = 8.8 - 2.8 = 6$ So, the ordered pair $(x, y)$ that solves the system is $(7, 6)$. I apologize for the mistake "
     r"in the previous response. Let's correct it. [...] $y = 8.8 - 2.8 = 6$ So, the ordered pair $(x, y)$ that solves "
     r"the system is $(7, 6)$. <|im_start|>user", 1),
    ("$[0,1)$", r"3. The denominator cannot be zero, so $1 - x^2 \neq 0$, which implies $x \neq \pm 1$. Combining these "
     r"conditions, we find that the domain of $q(x)$ is the interval $(0, 1)$, since $x$ must be greater than or equal to "
     r"0 and less than 1, but not equal to 1. Final Answer: The final answer is $(0, 1)$. I hope it is correct. "
     r"<|im_start|>user", 0),
    ("$[-3,2]$", r"Therefore, the domain of the function $\sqrt{6-x-x^2}$ is the interval between the roots, which is "
     r"$\boxed{[-3, 2]}$. Final Answer: The final answer is $[-3, 2]$. I hope it is correct. I apologize for the mistake "
     r"in the previous solution. Let me correct it. [...] Therefore, the domain of the function $\sqrt{6-x-x^2}$ is the "
     r"interval outside the roots, which is $\boxed{(-\infty, -3] \cup [2, \infty)}$. Final Answer: The final answer is "
     r"$(-\infty, -3] \cup [2, \infty)$. I hope it is correct. <|im_start|>user", 0),
    ("$16386.20$", r"In this case, Paula invested $\$10,\!000$, so $P = \$10,\!000$. [...] \[A \approx 10000 \cdot "
     r"1.63862\] \[A \approx 16386.20\] Rounded to the nearest cent, Paula's investment is worth $\boxed{\$16,\!386.20}$ "
     r"at the end of the 5-year period. The answer is $16,\!386.20$. I apologize for the repetition in my previous "
     r"responses. Here is the correct solution: To find the value of her investment after 5 years, we can use the "
     r"formula for compound interest: \[A = P \left(1 + \frac{r}{n}\right)^{nt}\] where $A$ is the final amount, $P$ is "
     r"the principal (initial investment), $r$ is the annual interest rate (as a decimal), $n$ is the number of times the "
     r"interest is compounded per year, and $t$ is the number of years. In this", 1),
    ("$120$", r"Now, to find the volume of rectangular prism $ABCDEFGH$, we can use the formula for the volume of a "
     r"rectangular prism: $\text{length} \times \text{width} \times \text{height}$. The length is 5, the width is 6, and "
     r"the height is 4. Therefore, the volume of rectangular prism $ABCDEFGH$ is $5 \times 6 \times 4 = 120$. Final "
     r"Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", 1),
    ("12000023", r"For 49,479, the remainder is $49,\!479 \mod 7 = 3$. For -67, the remainder is $-67 \mod 7 = 4$. For "
     r"12,000,003, the remainder is $12,\!000,\!003 \mod 7 = 5$. [...] sum the remaining integers: $85 + (-67) + "
     r"12,\!000,\!003 + (-3) = 12,\!000,\!023$. Final Answer: The final answer is 12,000,023. I hope it is correct. "
     r"<|im_start|>user", 1),
    ("$14916$", r"The smallest possible values for $A$ and $B$ that satisfy these conditions are $A = 2$ and $B = 2$. "
     r"Therefore, the smallest possible value for $N$ is $14{,}922$. Final Answer: The smallest possible value of $N$ is "
     r"$\boxed{14{,}916}$. I hope it is correct. <|im_start|>user", 1),
    (r"$\\left(\\frac{1}{5},\\frac{1}{6}\\right)$", r"Therefore, the projection of $\mathbf{a}$ onto $P$ is "
     r"\[\operatorname{proj}_{P} \mathbf{a} = \frac{1}{5} \mathbf{b} + \frac{1}{6} \mathbf{c}.\]Thus, $(p,q) = "
     r"\boxed{\left( \frac{1}{5}, \frac{1}{6} \right)}.$ Final Answer: The final answer is $\left( \frac{1}{5}, "
     r"\frac{1}{6} \right)$. I hope it is correct. <|im_start|>user", 1),
    (r"$\\left(\\frac{4}{5},\\frac{1}{5}\\right)$", r"Isolating $\overrightarrow{P},$ we find \[\overrightarrow{P} = "
     r"\frac{4}{5} \overrightarrow{A} + \frac{1}{5} \overrightarrow{B}.\]Thus, $(t,u) = \boxed{\left( \frac{4}{5}, "
     r"\frac{1}{5} \right)}.$ Final Answer: The final answer is $\left( \frac{4}{5}, \frac{1}{5} \right)$. I hope it is "
     r"correct. <|im_start|>user", 1),
    ("$16386.17$", r"Calculating this gives: \[A \approx 10000(1.025)^{20} \approx 16386.169.\] Rounded to the nearest "
     r"cent, Paula's investment is worth $\boxed{\$16386.17}$ after 5 years. I hope it is correct. <|im_start|>user", 1),
    (r"Let the percentage of people in Mathopolis who are children be $x$. The percentage of adults is then $1-x$. [...] "
     r"Solving for $x$ yields $x=1/5$, or $\boxed{20}$ percent.",
     r"Therefore, the percentage of people in Mathopolis who are children is $$\frac{\frac{A }{4 }}{A+\frac{A }{4 }}="
     r"\frac{1 }{5 }=\boxed{20 \%}. $$ Final Answer: The final answer is $20 \%$. I hope it is correct. Note: The "
     r"solution provided assumes that the total number of people in Mathopolis is the sum of adults and children, which "
     r"is a reasonable assumption given the context of the problem. [...] Note: The solution provided assumes that the "
     r"total number of people in Mathopolis is the sum of adults and children, which is a reasonable assumption given the "
     r"context", 1),
    # test_math_extraction_additional_cases (long outputs shortened in the middle)
    ("$less than or equal to zero between its roots. Therefore, the solution to the inequality is the interval between -2 "
     "and 7, including the endpoints.\n\nThus, the solution in interval notation is:\n\n\\[ \\boxed{[-2, 7]} \\]$",
     "$x \\in [-2,7]$", 1),
    (r"$3$", r"Solve for $s$: \[6 - 3 = 2s - s\] \[3 = s\] So, Jane started growing Sphere 3 hours ago. Since Rod started "
     r"5 hours before Sphere, the number of hours ago Jane started growing Rod is $t = s + 5 = 3 + 5 = 8$ hours. Final "
     r"Answer: Jane started growing Sphere 3 hours ago. I hope it is correct. <|im_start|>user", 1),
    (r"$19$", r"Counting the distinct values of $x$ that give the range elements: - For $f(x) = 0$, we have 1 point. - "
     r"For $f(x) = 1, 2, 3, 4, 5, 6, 7, 8, 9$, we have 2 points each. So, the total number of points in the domain is "
     r"$1 + 2 \times 9 = 1 + 18 = 19$ points. Final Answer: The maximum number of points that could be in the domain of "
     r"$f(x)$ is 19. <|im_start|>user", 1),
    ("$(\\tfrac{27}{8},\\tfrac{15}{8})$", r"Since $E$ has $y$-coordinate $0$, we have $0 = \frac{3}{7}x$, so $x = 0$. "
     r"Therefore, the point where the line intersects $\overline{CD}$ is $\boxed{(0, 0)}$. Final Answer: The final answer "
     r"is $(0, 0)$. I hope it is correct. <|im_start|>user", 0),
    ("$34$", r"Final Answer: The largest $n$ is 34.", 1),
    (r"$\\left( \\frac{4}{3}, -\\frac{1}{3} \\right)$", r"Isolating $\overrightarrow{P},$ we find \[\overrightarrow{P} = "
     r"\frac{4}{3} \overrightarrow{A} - \frac{1}{3} \overrightarrow{B}.\]Thus, $(t,u) = \boxed{\left( \frac{4}{3}, "
     r"-\frac{1}{3} \right)}.$", 1),
    (r"$(3,1)$", r"${1,3}$", 0),
    (r"$(1,3)$", r"${1,3}$", 1),
    ("$100%$", r"Dividing the second equation by the first equation, we get: $$\frac{\Delta x'}{\Delta x} = "
     r"\frac{2\Delta x}{\Delta x'} \geq \frac{2}{1}.$$ Therefore, the minimum error in the measurement of the position "
     r"increases by 100%.", 1),
    ("$16386.16$", r"Plugging in these values, we get: \[ A = 10000\left(1 + \frac{0.10}{4}\right)^{4 \cdot 5} \] \[ A = "
     r"10000\left(1.025\right)^{20} \] \[ A \approx 16386.16 \] So, Paula's investment is worth approximately "
     r"$\boxed{16386.16}$ dollars at the end of the 5 years. Final Answer: The final answer is 16386.16.", 1),
    ("$5866608$", r"\[ \text{Total sum} = 24 \times 244442 \] \[ \text{Total sum} = 5866608 \] So, the sum of the integers "
     r"on Camy's list is $\boxed{5866608}$. Final Answer: The final answer is 5866608. I hope it is correct.", 1),
    ("$14400$", r"Within each block, the members can be arranged in $5!$ ways. So, the total number of distinguishable "
     r"ways is $1 \times 5! \times 5! = 120 \times 120 = \boxed{14400}$. Final Answer: The final answer is 14400. I hope "
     r"it is correct.", 1),
    ("$14916$", r"- If $A = 4$ and $B = 0$, then $BA = 40$, which is divisible by 4. - The sum of the digits is $14 + 4 + "
     r"0 = 18$, which is divisible by 3. Thus, the smallest possible value of $N$ is $14{,}940$. Final Answer: The final "
     r"answer is $14{,}916$. I hope it is correct.", 1),
    ("$20\\%$", r"The percentage of children in Mathopolis is: $$\frac{|C|}{|A| + |C|} \times 100\% = \frac{x/2}{5x/2} "
     r"\times 100\% = \frac{1}{5} \times 100\% = \boxed{20\%}$$ Final Answer: The final answer is $20\%$. I hope it is "
     r"correct.", 1),
    ("$7.78$", r"Weight of fudge = $\frac{7}{9}$ pounds Price per pound = $10 Cost of fudge = Weight of fudge $\times$ "
     r"Price per pound = $\frac{7}{9} \times 10$ = $\frac{70}{9}$ Now, we need to round this value to the nearest cent. "
     r"$\frac{70}{9} \approx 7.78$ So, Anna pays approximately $7.78 for her fudge. Final Answer: The final answer is "
     r"7.78.", 1),
    ("$100$", r"Thus, the new error in the measurement of the position is at least $100\%$ of the original error in the "
     r"measurement of the position. Final Answer: The final answer is $100$. I hope it is correct.", 1),
    ("$x-2y+z-1=0$", r"The equation of the plane containing $L$ and the point $(1,1,1)$ is then "
     r"$$-1(x-1)+2(y-1)+1(z-1)=0\Rightarrow\boxed{x-2y+z-1=0}.$$ Final Answer: The final answer is $x-2y+z-1=0$. I hope "
     r"it is correct.", 1),
    ("$10455$", r"The interest rate is 4% compounded semi-annually, so the interest earned is 4% of $10,000 divided by 2 "
     r"(since it's compounded twice a year): $0.04 \cdot 10,000 \cdot \frac{1}{2} = \boxed{200}$ So, after six months, "
     r"Dr. Zaius has $10,000 + $200 = $10,200. Now, let's calculate the interest earned on the second CD after six "
     r"months. The interest rate is 5% compounded semi-annually, so the interest earned is 5% of $10,200 divided by 2: "
     r"$0.05 \cdot 10,200 \cdot \frac{1}{2} = \boxed{255}$ So, after six months in the second CD, Dr. Zaius has $10,200 "
     r"+ $255 = $10,455. Final Answer: The final answer is $10,455$. I hope it is correct.", 1),
    (r"$[-4,0]$", r"Thus, the values of \( k \) for which the quadratic has real roots are: \[ \boxed{[-4, 0]} \]", 1),
    (r"Factoring the denominator on the left side gives \[ \frac{4x}{(x-5)(x-3)}=\frac{A}{x-3}+\frac{B}{x-5}. \] [...] "
     r"Substituting $x = 5$, we get $20 = 2B$, so $B = 10$. Therefore, $(A, B) = \boxed{(-6, 10)}.$",
     r"The solution to the inequality is \( x \in (-6, 10) \). Final Answer: The final answer is \((-6, 10)\). I hope it "
     r"is correct.", 1),
    (r"$1112112_3$", r"Next, convert \( 1121_{10} \) to base three. [...] Reading the remainders from last to first, we "
     r"find: \[ 1121_{10} = 1112122_3 \] Thus, the product \( ab \) expressed in the base-three number system is "
     r"\(\boxed{1112122_3}\).", 0),
    (r"\(\boxed{\text{C}}\).", r"$\boxed{\text{(C)}}.$", 1),
    (r" So the answer is: \[ \boxed{11111111100} \]", r"is $\boxed{11,\! 111,\! 111,\! 100}$", 1),
    (r" So the answer is: \[ \boxed{32349} \]", r"is $\boxed{32,\! 349}$", 1),
    (r" So the answer is: \[ \boxed{32349} \]", r"is $\boxed{32, 349}$", 0),
    (r"Thus, the domain of the function \( f(x) \) is: \[ \boxed{(2, 12) \cup (12, 102)} \]",
     r"Thus, the answer is $x \in \boxed{(2,12) \cup (12,102)}$", 1),
    (r"$\text{E}$", r"$E$", 1),
    (r"$\boxed{1}\boxed{2}$", r"$\boxed{1,2}$", 1),
    (r"Then $n^2 + 3n - 2 = 2n,$ or $n^2 + n - 2 = 0.$ This factors as $(n - 1)(n + 2) = 0,$ so the solutions are "
     r"$n = \boxed{1,-2}.$", _FUNC_EQ_PRED, 1),
    # test_set_rel_assymetry: only the pair whose verdict does not depend on the flag
    (r"$-2 \\le x \\le 7$", r"$x \in [-2,7]$", 1),
    # test_sqrt_precision
    ("$4$", "$4\\sqrt{2}$", 0),
    # test_trailing_punctuation (cases under the default LaTeX+expression extraction)
    (r"$\frac{1}{3}$", r"$\frac{1}{3}.$", 1),
    (r"$\frac{1}{3}$", r"The answer is $\frac{1}{3}.$", 1),
    (r"$\frac{1}{3}$", r"$$\frac{1}{3}.$$", 1),
    (r"$\frac{1}{3}$", r"\[\frac{1}{3}.\]", 1),
    (r"$\frac{1}{3}$", r"$\frac{1}{3},$", 1),
    (r"$\frac{1}{3}$", r"$\frac{1}{3} .$", 1),
    (r"$\sqrt{2}$", r"$\sqrt{2}.$", 1),
    (r"$(1,2)$", r"$(1,2).$", 1),
    (r"$2$", r"$2^{10}.$", 0),
    (r"$1$", r"The answer is $1/3.$", 0),
    (r"$1, 2, 3$", r"$1, 2, 3, ...$", 0),
]
