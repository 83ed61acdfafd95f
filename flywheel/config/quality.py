"""``quality``: Llama 3.1's quality control between selection and decontamination (flywheel.stages.quality)."""

from __future__ import annotations

from pydantic import Field

from flywheel.config.base import _Strict


class QualityConfig(_Strict):
    enabled: bool = Field(True, description="annotate the pool each round (topic, difficulty, quality; the "
                          "``quality`` table) and apply the rules below; off, the pool goes to decontamination as "
                          "select wrote it and the table stays empty")
    topics: int = Field(8, ge=1, description="topic clusters: k-means over the sentence embeddings of the whole "
                        "conversations (the bundled all-MiniLM-L6-v2), numbered 0.. per round")
    min_difficulty: float | None = Field(None, ge=0.0, le=1.0, description="drop an example whose prompt's "
                                         "difficulty (1 - the pass rate of its round's N samples) is below this: "
                                         "0.01 drops prompts that every sample passed (OpenThoughts' best single "
                                         "filter); unset keeps them")
    min_quality: float | None = Field(None, description="drop an example whose quality (its combined verdict "
                                      "score from select) is below this; unset keeps every score")
    semantic_dedup_threshold: float | None = Field(None, gt=0.0, le=1.0, description="within each topic, keep "
                                                   "examples greedily by quality x difficulty and drop one whose "
                                                   "embedding's cosine similarity to one kept is at least this "
                                                   "(Llama 3.1's semantic dedup); unset keeps them")
    judge_difficulty: str | None = Field(None, description="rate the difficulty of prompts no checker measured "
                                         "(no pass rate: the general domain's) with the LLM judge as "
                                         "verifiers.options.llm_judge configures it, on this rubric (a bundled "
                                         "name, 'prompt_difficulty': Llama 3.1's 3-point rating with Instag-style "
                                         "intent tags, or a rubric YAML file); the judge reads the prompt alone. "
                                         "The rating maps to 0..1 (lowest 0, highest 1); unset: such prompts have "
                                         "no difficulty")
    seed: int = Field(0, description="k-means' seed")
