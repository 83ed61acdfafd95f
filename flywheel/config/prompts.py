"""``prompts``: the sources a round collects, in chat formats or the public sets' own fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from flywheel.config.base import Domain, _Strict

# A chat format, or a public data set in its own published fields (flywheel/prompts/public_datasets.py).
SourceFormat = Literal["auto", "alpaca", "sharegpt", "openai", "humaneval", "mbpp", "apps", "livecodebench", "gsm8k",
                       "math", "numina"]


class PromptSource(_Strict):
    path: Path | None = Field(None, description="a .jsonl or .parquet file, or a Hugging Face datasets folder "
                              "(save_to_disk)")
    hub: str | None = Field(None, description="instead of path, a hub data set name such as openai/gsm8k, read "
                            "through the datasets library and its cache (needs the package, and the network or a "
                            "cached copy)")
    format: SourceFormat = Field("auto", description="a chat format, or a public data set read in its "
                                              "own published fields (flywheel/prompts/public_datasets.py); auto tells "
                                              "them apart by their fields")
    domain: Domain | None = Field(None, description="domain for rows that do not name one")
    name: str | None = None
    language: str | None = Field(None, description="the programming language this source's code prompts are "
                                 "answered and judged in (python, cpp, c, java, javascript, typescript, rust, go, "
                                 "bash), where a row's own 'language' field names none; written into each JSON "
                                 "reference, where the unit_tests verifier reads it")
    split: str | None = Field(None, description="the split of a DatasetDict folder or hub data set (default train)")
    fields: dict[str, str] = Field({}, description="the format's field name -> this file's column, for a copy of a "
                                   "data set whose columns were renamed (e.g. {question: query})")
    max_prompts: int | None = Field(None, ge=1, description="the first N prompts of this source (every row is still "
                                    "read and checked); prompts.max_prompts caps all sources together")

    @model_validator(mode="after")
    def _one_place(self) -> "PromptSource":
        if (self.path is None) == (self.hub is None):
            raise ValueError("set exactly one of path (a file or datasets folder) and hub (a hub data set name)")
        return self


class PromptsConfig(_Strict):
    sources: list[PromptSource] = Field(min_length=1)
    max_prompts: int | None = Field(None, ge=1)
    allow_empty: bool = Field(False, description="an empty prompt source is an error unless this is true")
