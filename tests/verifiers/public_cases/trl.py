"""TRL's accuracy_reward tests (huggingface/trl, Apache-2.0): gold solution vs completion."""

SOURCE = "huggingface/trl tests/test_rewards.py TestAccuracyReward"

CASES = [
    (r"\frac{63}{400}", r"\boxed{\frac{63}{400}}", 1),
    ("63/400", r"\boxed{\frac{63}{400}}", 1),
    (r"\frac{63}{400}", r"\boxed{\frac{64}{400}}", 0),
    ("6", r"\boxed{3}", 0),
]
