"""``evaluation`` and ``stopping``: the held-out measurement and the rule that ends the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from flywheel.config.base import _Strict


class GeneralHeldoutConfig(_Strict):
    """Held-out prompts that no checker can prove (general questions), each with a reference answer, scored by a
    verifier that no training domain uses: a measure the rounds cannot learn to please. Their own split
    (``heldout_general``), so the held-out ``all`` figures and the stopping rule read what they always read."""

    path: Path = Field(description="prompts with a reference answer (``reference``, or the last assistant turn)")
    verifier: str = Field("reference_match", description="the verifier that scores them; refused when a training "
                          "domain lists it (verifiers.math/code/general)")
    max_prompts: int | None = Field(None, ge=1)


class EvaluationConfig(_Strict):
    path: Path
    n: int = Field(1, ge=1)
    k: int = Field(4, ge=1, description="pass@k is reported for this k (capped at n)")
    train_prompts: int = Field(0, ge=0, description="also score this many of the round's training prompts: the train/test gap")
    temperature: float = Field(0.0, ge=0.0)
    max_new_tokens: int | None = None
    max_prompts: int | None = Field(None, ge=1)
    general: GeneralHeldoutConfig | None = Field(None, description="a held-out general split scored apart from the "
                                                 "training verifiers (unset: none)")


class StoppingConfig(_Strict):
    """When the loop stops. Every enabled condition is checked after each round; any one stops it."""

    max_rounds: int = Field(8, ge=1)
    diversity_metric: Literal["distinct_1", "distinct_2", "distinct_3", "self_bleu", "gzip_ratio",
                               "embedding_vendi", "embedding_cosine_distance"] = Field(
        "distinct_2", description="the diversity column the rule watches (self_bleu counts as diversity 1 - self_bleu)")
    diversity_population: Literal["accepted", "evaluation"] = "accepted"
    min_diversity_fraction: float | None = Field(
        0.5, gt=0.0, le=1.0, description="stop when diversity falls below this fraction of the first measured round's")
    max_diversity_drop: float | None = Field(
        0.3, gt=0.0, le=1.0, description="stop when diversity falls by more than this fraction from one round to the next")
    eval_gain_window: int = Field(2, ge=1, description="rounds over which the held-out pass@1 gain is measured")
    min_eval_gain: float | None = Field(
        0.01, description="stop when held-out pass@1 gained less than this over the last eval_gain_window rounds")
    loop_interval_seconds: int = Field(30, ge=1, description="how often next_round_sensor, once turned on, looks for "
                                       "a finished round and this rule's decision (Dagster's minimum_interval_seconds)")
    stop_on_zero_yield: bool = Field(True, description="stop when a round accepted no sample in any domain: the next "
                                     "round would train on nothing new (round_metrics.warnings says why)")
