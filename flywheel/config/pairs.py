"""``pairs``: the preference pairs each round writes from its judged samples (Llama 3.1's DPO data)."""

from __future__ import annotations

from pydantic import Field

from flywheel.config.base import Domain, _Strict


class PairsConfig(_Strict):
    enabled: bool = Field(True, description="write preference pairs from each round's judged samples")
    domains: list[Domain] = Field(["math", "code", "general"], description="the domains whose prompts give pairs")
    max_per_prompt: int = Field(1, ge=1, description="pairs per prompt, at most: the i-th best passed sample "
                                "against the i-th worst failed one")
    min_margin: float = Field(0.0, ge=0.0, description="chosen's combined score minus rejected's, at least (a "
                              "sample without a score counts 1 passed, 0 failed)")
    max_length_ratio: float = Field(3.0, ge=1.0, description="the longer response's tokens over the shorter's, at "
                                    "most: a pair that only teaches length is dropped")
    pool_previous_rounds: bool = Field(True, description="a prompt this round pairs fewer than max_per_prompt "
                                       "times keeps earlier rounds' pairs up to the cap, newest first (like the "
                                       "selection pool); carried pairs are decontaminated again")
    near_duplicate_threshold: float = Field(0.9, gt=0.0, le=1.0, description="a pair whose two responses' "
                                            "estimated Jaccard (dedup's word-shingle sketch) is at least this is "
                                            "dropped; identical ones always are")
