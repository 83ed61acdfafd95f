"""Inputs that must not fool the checker or hold it up: the failure classes found by review
(issue 15) and hedged or malformed answers. Written for this project."""

SOURCE = "flywheel (issue 15's failure classes, plus hedging and malformed answers)"

CASES = [
    # a Unicode minus is a minus
    ("2", "The answer is \\boxed{\u22122}.", 0),
    ("-2", "The answer is \\boxed{\u22122}.", 1),
    ("2", "\u22122", 0),
    # clock times are not divisions, and division by zero equals nothing
    ("12:00", "\\boxed{1:00}", 0),
    ("12:00", "\\boxed{12:00}", 1),
    ("0", "\\boxed{0/0}", 0),
    ("1", "\\boxed{1/0}", 0),
    ("\\frac{1}{0}", "\\boxed{\\frac{2}{0}}", 0),
    # huge or explosive numbers are refused quickly, never accepted
    ("1", "\\boxed{1e9999}", 0),
    ("1", "\\boxed{1e99999999}", 0),
    ("10", "\\boxed{10^{100}}", 0),
    ("1", "\\boxed{9^{9^{9^{9}}}}", 0),
    ("5", "\\boxed{5!}", 0),
    ("120", "\\boxed{5!}", 1),
    # code in an answer is text, never run
    ("5", "\\boxed{__import__('os').system('touch /tmp/flywheel_pwned')}", 0),
    ("5", "\\boxed{(lambda: 5)()}", 0),
    # hedging: several different final answers
    ("3", "It is \\boxed{3} or \\boxed{4}.", 0),
    ("A", "\\boxed{A} or \\boxed{B}", 0),
    ("5", "The answer is 5 or 6.", 0),
    # structure matters
    ("(1,2)", "\\boxed{(2,1)}", 0),
    ("\\{1,2\\}", "\\boxed{\\{2,1\\}}", 1),
    ("[0,1]", "\\boxed{[0,1)}", 0),
    ("\\infty", "\\boxed{-\\infty}", 0),
    ("\\infty", "\\boxed{\\infty}", 1),
    ("x", "\\boxed{y}", 0),
    # an approximation too coarse to pin the value down
    ("\\frac{1}{3}", "\\boxed{0.33}", 0),
    ("\\pi", "\\boxed{3}", 0),
    # empty or missing answers
    ("3", "\\boxed{}", 0),
    ("3", "", 0),
    ("0", "I do not know.", 0),
]
