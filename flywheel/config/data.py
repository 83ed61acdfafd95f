"""``decontamination``, ``mixture`` and ``dedup``: what may train, and in which proportions."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from flywheel.config.base import Domain, _Strict
from flywheel.config.prompts import SourceFormat


class EvalSet(_Strict):
    name: str
    path: Path
    fields: list[str] = Field(["prompt"], min_length=1, description="text fields compared")


class DecontaminationConfig(_Strict):
    n: int = Field(8, ge=1)
    threshold: float = Field(0.5, gt=0.0, le=1.0, description="Tulu 3: fraction of an eval instance's tokens")
    rule: Literal["tulu", "any_hit"] = "tulu"
    check_responses: bool = False
    eval_sets: list[EvalSet] = []
    processes: int | None = Field(None, ge=1, description="processes that scan batches of candidates for eval "
                                  "overlap (and sketch them for near dedup) side by side; deduplication and writing "
                                  "stay in order, so the output is the same row for row. Unset: one per usable CPU "
                                  "(a pod's CPU limit included), at most 8")


# Mixture kinds by the names they had before the pool was called the pool.
OLD_KIND_NAMES = {"selected": "pool_this_round", "pool": "pool_earlier_rounds"}
# The mix_source of the pool's rows: "pool", or "selected" in the files of a round made before it was called that.
# A file source may not take either name (flywheel.curation.mixing tells the pool's rows by it).
POOL_ROW_SOURCES = ("pool", "selected")


class MixtureSource(_Strict):
    """One source of training examples.

    kinds: ``pool_this_round`` (the pool's examples this round added: its newly accepted samples),
    ``pool_earlier_rounds`` (the pool's examples from earlier rounds, carried by selection pooling),
    ``file`` (seed, human or replay data in any collect format, each row with an answer).
    """

    name: str
    kind: Literal["pool_this_round", "pool_earlier_rounds", "file"] = "file"
    path: Path | None = None
    format: SourceFormat = "auto"
    domain: Domain | None = None
    weight: float = Field(1.0, ge=0.0, description="1.0 takes every example once, 0.5 a seeded half, 2.0 twice")
    decay: float = Field(1.0, gt=0.0, le=1.0, description="pool_earlier_rounds only: weight x decay^(rounds since the "
                         "example's round)")
    cap: int | None = Field(None, ge=0, description="at most this many distinct examples")
    epochs: int = Field(1, ge=1, description="times the drawn examples repeat in the mixture")
    quotas: dict[Domain, int] = Field({}, description="distinct examples wanted per domain (overrides weight there)")
    topic_quota: int | None = Field(None, ge=0, description="pool kinds only: at most this many examples of the "
                                    "draw from each quality topic (the round's ``quality`` table, so quality.enabled), "
                                    "a seeded choice within a topic, before cap and epochs: Llama 3.1's rebalancing "
                                    "of the mixture by topic. Topics are numbered per round, so the quota is one "
                                    "number for every topic, not a weight per topic number")

    @model_validator(mode="before")
    @classmethod
    def _kind_by_its_old_name(cls, data):
        """A config written before the pool was named (``selected``, ``pool``) reads as it did, with a warning
        that names the new kind."""
        if isinstance(data, dict) and data.get("kind") in OLD_KIND_NAMES:
            new = OLD_KIND_NAMES[data["kind"]]
            warnings.warn(f"mixture source {data.get('name')!r}: kind {data['kind']!r} is now {new!r} (the same "
                          f"examples); the old name still reads, write {new!r}", FutureWarning, stacklevel=2)
            data = {**data, "kind": new}
        return data

    @model_validator(mode="after")
    def _file_needs_path(self) -> "MixtureSource":
        if self.kind == "file" and self.path is None:
            raise ValueError(f"mixture source {self.name!r} of kind 'file' needs a path")
        if self.kind != "file" and self.path is not None:
            raise ValueError(f"mixture source {self.name!r} of kind {self.kind!r} takes no path")
        if self.kind == "file" and self.topic_quota is not None:
            raise ValueError(f"mixture source {self.name!r} of kind 'file' has no topics: topic_quota applies to the "
                             "pool kinds (quality control gives the pool's examples their topics)")
        return self


class MixtureConfig(_Strict):
    sources: list[MixtureSource] = [MixtureSource(name="new", kind="pool_this_round"),
                                    MixtureSource(name="earlier", kind="pool_earlier_rounds")]
    seed: int = 0

    @model_validator(mode="after")
    def _unique_names(self) -> "MixtureConfig":
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError(f"mixture source names must be unique, got {names}")
        for source in self.sources:
            if source.kind == "file" and source.name in POOL_ROW_SOURCES:
                raise ValueError(f"mixture source {source.name!r} of kind 'file': the name {source.name!r} marks "
                                 "the pool's own examples in the rows; name the file source something else")
        return self


class DedupConfig(_Strict):
    enabled: bool = True
    near: bool = Field(True, description="MinHash LSH near duplicates, besides exact ones")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="estimated Jaccard of word shingles")
    shingle_size: int = Field(5, ge=1)
    num_perm: int = Field(128, ge=16)
