"""``selection``: how the best samples per prompt are chosen and pooled with earlier rounds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flywheel.config.base import Domain, _Strict


class SelectionConfig(_Strict):
    policies: dict[Domain, Literal["all_correct", "best_of_n", "unfiltered"]] = Field(
        {"math": "all_correct", "code": "all_correct", "general": "best_of_n"},
        description="all_correct: every passing sample up to k; best_of_n: the reward model's best per prompt; "
        "unfiltered: every finished sample up to k, whatever the verifiers say (no rejection: the baseline an "
        "ablation measures a filter against)")
    k: int = Field(2, ge=1, description="samples kept per prompt")
    reward_verifier: str = Field("reward_model", description="the verifier whose score ranks best_of_n")
    best_of_n_requires_checker: bool = Field(True, description="best_of_n only among samples the other verifiers passed")
    near_duplicate_threshold: float | None = Field(0.8, gt=0.0, le=1.0,
                                                   description="MinHash Jaccard above which a prompt's samples are duplicates")
    all_pass_keep: int | None = Field(1, ge=1, description="prompts that every sample passed keep at most this many")
    pool_previous_rounds: bool = Field(True, description="pool with the best of earlier rounds (Llama 2)")
    processes: int | None = Field(None, ge=1, description="processes that judge and choose chunks of prompts side "
                                  "by side (per prompt the choice depends on nothing else, so the pool and the "
                                  "audit tables are the same row for row); unset: one per usable CPU (a pod's "
                                  "CPU limit included), at most 8")
