"""verl's numeric canonicalisation tests (volcengine, Apache-2.0): boxed gold vs bare prediction."""

SOURCE = "volcengine/verl tests/utils/reward_score/test_numeric_canonicalization_on_cpu.py (commit d69068d2)"

CASES = [
    ("\\boxed{033}", "33", 1),
    ("\\boxed{+033}", "33", 1),
    ("\\boxed{-0}", "0", 1),
    ("\\boxed{000}", "0", 1),
]
