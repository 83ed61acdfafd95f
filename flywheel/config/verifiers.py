"""``verifiers``: which verifiers judge each domain, their options, and how their verdicts combine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flywheel.config.base import Domain, _Strict


class CombineRule(_Strict):
    """How a domain's verifiers make one decision. ``all_of``: every one passed (the default); ``any_of``:
    at least one (Llama 3.1: reward model top quartile OR judge high); ``weighted``: the sum of weight x
    score over the verifiers, passing at ``threshold`` or in the round's ``top_quantile``. Selection uses
    the combined decision; the ``decisions`` table says which verifiers let a sample in or kept it out."""

    rule: Literal["all_of", "any_of", "weighted"] = "all_of"
    weights: dict[str, float] = Field({}, description="weighted: per verifier (default 1.0 each)")
    threshold: float | None = Field(None, description="weighted: pass at or above this combined score")
    top_quantile: float | None = Field(None, gt=0.0, le=1.0,
                                       description="weighted: pass in the top fraction of the round's combined scores")

    @model_validator(mode="before")
    @classmethod
    def _rule_alone(cls, value):
        return {"rule": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _weighted_needs_a_cut(self) -> "CombineRule":
        if self.rule == "weighted" and (self.threshold is None) == (self.top_quantile is None):
            raise ValueError("a weighted rule needs exactly one of threshold or top_quantile")
        if self.rule != "weighted" and (self.weights or self.threshold is not None or self.top_quantile is not None):
            raise ValueError(f"weights, threshold and top_quantile belong to the weighted rule, not {self.rule}")
        return self


class VerifiersConfig(_Strict):
    math: list[str] = ["math"]
    code: list[str] = ["unit_tests"]
    general: list[str] = []
    required: list[str] = Field([], description="verifiers whose failure fails the round")
    timeout_seconds: float = Field(600.0, gt=0, description="per verifier and chunk: one that overruns marks that "
                                   "chunk's verdicts timeout and the round goes on (unless it is required)")
    chunk_size: int = Field(4096, ge=1, description="samples judged per chunk (cut at a prompt boundary, and always "
                            "where a generation chunk ends); each chunk is written when done, so a killed verify "
                            "stage redoes at most one chunk per shard")
    overlap_generation: bool = Field(False, description="judge each generation chunk as the generate stage writes "
                                     "it, in a thread beside generation, into the chunks the verify stage keeps "
                                     "(it then judges only what is left; the verdicts are the serial path's): "
                                     "for generation that waits on GPUs or an endpoint while the CPUs would idle; "
                                     "off, verification starts when the last sample is written")
    options: dict[str, dict] = Field({}, description="keyword arguments per verifier, e.g. reward_model: {top_quantile}")
    shards: int = Field(1, ge=1, le=4096, description="split verification by prompt-id hash into this many parts; "
                        "the Dagster graph runs them in parallel (one process or pod each) and retries one alone")
    combine: dict[Domain, CombineRule] = Field({}, description="per domain: all_of (default), any_of, or weighted "
                                               "{weights, threshold | top_quantile}")

    def for_domain(self, domain: str) -> list[str]:
        return list(getattr(self, domain))

    @model_validator(mode="after")
    def _required_are_used(self) -> "VerifiersConfig":
        used = set(self.math) | set(self.code) | set(self.general)
        missing = [name for name in self.required if name not in used]
        if missing:
            raise ValueError(f"required verifiers {missing} are not listed for any domain")
        for domain, rule in self.combine.items():
            stray = sorted(set(rule.weights) - set(getattr(self, domain)))
            if stray:
                raise ValueError(f"combine.{domain}.weights names {stray}, which are not {domain} verifiers "
                                 f"({getattr(self, domain)})")
        return self

    def rule_for(self, domain: str) -> CombineRule:
        return self.combine.get(domain, CombineRule())
