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


def decide(round_number: int, distinct_2: float | None, history: dict[int, float | None],
           config: StoppingConfig) -> StopDecision:
    """``history`` maps earlier rounds to their accepted distinct-2 (None when nothing was accepted).

    The baseline is the first round that accepted anything: a round with no accepted
    samples has no diversity to compare against.
    """
    earlier = sorted((r, d) for r, d in history.items() if r < round_number and d)
    baseline_round, baseline = earlier[0] if earlier else (None, None)
    reasons = []
    if round_number >= config.max_rounds:
        reasons.append(f"round limit reached ({round_number} >= max_rounds {config.max_rounds})")
    if baseline and distinct_2 is not None:
        floor = config.min_distinct_2_fraction * baseline
        if distinct_2 < floor:
            reasons.append(f"distinct-2 collapsed: {distinct_2:.4f} < {config.min_distinct_2_fraction:.2f} x "
                           f"round {baseline_round}'s {baseline:.4f} (= {floor:.4f})")
    if reasons:
        return StopDecision(True, "; ".join(reasons))
    where = f"round {round_number} of {config.max_rounds}"
    if baseline and distinct_2 is not None:
        return StopDecision(False, f"continue ({where}): distinct-2 {distinct_2:.4f} is {distinct_2 / baseline:.2f} of "
                                   f"round {baseline_round}'s {baseline:.4f} (floor {config.min_distinct_2_fraction:.2f})")
    if distinct_2:
        return StopDecision(False, f"continue ({where}): this round sets the distinct-2 baseline ({distinct_2:.4f})")
    return StopDecision(False, f"continue ({where}): no accepted samples yet, so no diversity baseline")
