"""The stopping rule: decide after each round whether another one should run.

Self-training raises pass@1 while the diversity of what the model says shrinks
("Progress or Regress?", B-STaR). No published threshold exists, so this rule is
explicit and configurable, and its reason always quotes the numbers it compared.
First version: stop at the round limit, or when the accepted samples' distinct-2 falls
below ``min_distinct_2_fraction`` of round 1's.
"""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.config import StoppingConfig


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str


def decide(round_number: int, distinct_2: float, history: dict[int, float], config: StoppingConfig) -> StopDecision:
    """``history`` maps earlier rounds to their accepted distinct-2."""
    reasons = []
    if round_number >= config.max_rounds:
        reasons.append(f"round limit reached ({round_number} >= max_rounds {config.max_rounds})")
    first = history.get(1, distinct_2 if round_number == 1 else None)
    if first and round_number > 1:
        floor = config.min_distinct_2_fraction * first
        if distinct_2 < floor:
            reasons.append(f"distinct-2 collapsed: {distinct_2:.4f} < {config.min_distinct_2_fraction:.2f} x "
                           f"round 1's {first:.4f} (= {floor:.4f})")
    if reasons:
        return StopDecision(True, "; ".join(reasons))
    if first and round_number > 1:
        return StopDecision(False, f"continue: distinct-2 {distinct_2:.4f} is {distinct_2 / first:.2f} of round 1's "
                                   f"{first:.4f} (floor {config.min_distinct_2_fraction:.2f}); round {round_number} of "
                                   f"{config.max_rounds}")
    return StopDecision(False, f"continue: round {round_number} of {config.max_rounds}; round 1 sets the distinct-2 "
                               f"baseline ({distinct_2:.4f})")
