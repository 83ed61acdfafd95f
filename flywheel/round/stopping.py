"""The stopping rule: decide after each round whether another one should run.

Self-training raises pass@1 while the diversity of what the model says shrinks
("Progress or Regress?", B-STaR). No published threshold exists, so this rule is
explicit and configurable, and every reason quotes the numbers it compared. It stops at
the round limit; when the watched diversity metric falls below a fraction of the first
measured round's, or drops faster than a threshold between two rounds; or when held-out
pass@1 gained less than a threshold over the last few rounds (round 0, the starting
model, counts as a round here).
"""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.config import StoppingConfig


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str


def _as_diversity(metric: str, value: float | None) -> float | None:
    # self-BLEU rises as diversity falls; flip it so that "lower is worse" holds for every metric.
    if value is None:
        return None
    return 1.0 - value if metric == "self_bleu" else value


def decide(round_number: int, diversity: dict[int, float | None], eval_pass_at_1: dict[int, float | None],
           config: StoppingConfig) -> StopDecision:
    """``diversity`` and ``eval_pass_at_1`` map rounds (this one included) to the watched values.

    A round without accepted samples has no diversity (None) and is skipped as a baseline.
    """
    metric = config.diversity_metric
    # Round 0's samples come from the starting model, not from a rejection-sampling round: the
    # diversity baseline is the first generation round that measured anything (normally round 1).
    series = {r: _as_diversity(metric, v) for r, v in diversity.items() if 1 <= r <= round_number and v is not None}
    current = series.get(round_number)
    reasons, notes = [], []
    if round_number >= config.max_rounds:
        reasons.append(f"round limit reached ({round_number} >= max_rounds {config.max_rounds})")
    earlier = sorted(r for r in series if r < round_number)
    if current is not None and earlier:
        first = earlier[0]
        if config.min_diversity_fraction is not None:
            floor = config.min_diversity_fraction * series[first]
            line = f"{metric} {current:.4f} vs floor {floor:.4f} ({config.min_diversity_fraction:.2f} x round {first}'s {series[first]:.4f})"
            (reasons if current < floor else notes).append(("diversity collapsed: " if current < floor else "") + line)
        previous = earlier[-1]
        if config.max_diversity_drop is not None and series[previous] > 0:
            drop = 1.0 - current / series[previous]
            line = f"{metric} fell {drop:.1%} since round {previous} ({series[previous]:.4f} -> {current:.4f}; limit {config.max_diversity_drop:.0%})"
            (reasons if drop > config.max_diversity_drop else notes).append(
                ("diversity dropping fast: " if drop > config.max_diversity_drop else "") + line)
    elif current is None:
        notes.append(f"no {metric} this round (nothing accepted)")
    else:
        notes.append(f"round {round_number} sets the {metric} baseline ({current:.4f})")
    then = round_number - config.eval_gain_window
    if config.min_eval_gain is not None and eval_pass_at_1.get(round_number) is not None:
        if eval_pass_at_1.get(then) is not None:
            gain = eval_pass_at_1[round_number] - eval_pass_at_1[then]
            line = (f"held-out pass@1 gained {gain:+.4f} over {config.eval_gain_window} round(s) "
                    f"({eval_pass_at_1[then]:.4f} at round {then} -> {eval_pass_at_1[round_number]:.4f}; "
                    f"minimum {config.min_eval_gain:+.4f})")
            (reasons if gain < config.min_eval_gain else notes).append(
                ("evaluation plateaued: " if gain < config.min_eval_gain else "") + line)
    if reasons:
        return StopDecision(True, "stop: " + "; ".join(reasons))
    return StopDecision(False, f"continue (round {round_number} of {config.max_rounds}): " + "; ".join(notes))
