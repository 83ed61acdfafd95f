"""The round's data model: prompts, samples and verdicts, and their Parquet schemas.

Rows travel between stages as Parquet files, so each record type has one pydantic model
(validation at the edges) and one Arrow schema (what is written). Keeping both here
means a column added to one is visibly missing from the other.
"""

from __future__ import annotations

import json
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

Status = Literal["ok", "error", "timeout"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class Prompt(BaseModel):
    """A task: the conversation up to the model's turn, and what a correct answer is checked against."""

    id: str
    domain: Literal["math", "code", "general"]
    messages: list[Message] = Field(min_length=1)
    reference: str | None = None  # gold answer (math) or unit-test code (code)
    response: str | None = None  # a demonstration answer, when the source carries one
    source: str  # "file:line" the prompt was read from


class Sample(BaseModel):
    prompt_id: str
    sample_index: int
    text: str
    num_tokens: int
    finish_reason: Literal["stop", "length"]
    round: int
    checkpoint: str
    seed: int
    sampling: str | None = None  # JSON: backend, n, temperature, top_p, max_new_tokens


class Verdict(BaseModel):
    prompt_id: str
    sample_index: int
    round: int
    verifier: str
    passed: bool
    score: float
    status: Status
    reason: str
    cost_seconds: float
    details: str | None = None  # JSON from the verifier, e.g. per-test outcomes
    sample_hash: str | None = None  # sample_text_hash of the text judged: a verdict never outlives its sample


MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

PROMPT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("domain", pa.string()),
        ("messages", MESSAGE_TYPE),
        ("reference", pa.string()),
        ("response", pa.string()),
        ("source", pa.string()),
    ]
)

SAMPLE_SCHEMA = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("sample_index", pa.int32()),
        ("text", pa.string()),
        ("num_tokens", pa.int32()),
        ("finish_reason", pa.string()),
        ("round", pa.int32()),
        ("checkpoint", pa.string()),
        ("seed", pa.int64()),
        ("sampling", pa.string()),
    ]
)

VERDICT_SCHEMA = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("sample_index", pa.int32()),
        ("round", pa.int32()),
        ("verifier", pa.string()),
        ("passed", pa.bool_()),
        ("score", pa.float64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("cost_seconds", pa.float64()),
        ("details", pa.string()),
        ("sample_hash", pa.string()),
    ]
)

# A training example: a full conversation, with where it came from.
EXAMPLE_SCHEMA = pa.schema(
    [
        ("example_id", pa.string()),
        ("prompt_id", pa.string()),
        ("domain", pa.string()),
        ("messages", MESSAGE_TYPE),
        ("source", pa.string()),
        ("mix_source", pa.string()),
        ("origin_round", pa.int32()),
        ("score", pa.float64()),
    ]
)


def prompts_to_table(prompts: list[Prompt]) -> pa.Table:
    return pa.Table.from_pylist([p.model_dump() for p in prompts], schema=PROMPT_SCHEMA)


def table_to_prompts(table: pa.Table) -> list[Prompt]:
    return [Prompt.model_validate(row) for row in table.to_pylist()]


def samples_to_table(samples: list[Sample]) -> pa.Table:
    return pa.Table.from_pylist([s.model_dump() for s in samples], schema=SAMPLE_SCHEMA)


def table_to_samples(table: pa.Table) -> list[Sample]:
    return [Sample.model_validate(row) for row in table.to_pylist()]


def verdicts_to_table(verdicts: list[Verdict]) -> pa.Table:
    return pa.Table.from_pylist([v.model_dump() for v in verdicts], schema=VERDICT_SCHEMA)


def table_to_verdicts(table: pa.Table) -> list[Verdict]:
    return [Verdict.model_validate(row) for row in table.to_pylist()]


def examples_to_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EXAMPLE_SCHEMA)


def conversation(prompt: Prompt, response: str) -> list[dict]:
    """The prompt's turns followed by one assistant answer, as plain dicts."""
    return [m.model_dump() for m in prompt.messages] + [{"role": "assistant", "content": response}]


def messages_json(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False, sort_keys=True)


def sample_text_hash(text: str) -> str:
    """What a verdict records of the text it judged (sha256, 16 hex digits)."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]
