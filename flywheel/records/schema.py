"""The round's data model: prompts, samples, verdicts and training examples, and their tables.

Rows travel between stages as Parquet files and land in DuckDB for audits. Each record type is
declared once, as a pydantic model (validation at the edges); its Arrow schema (what Parquet
holds) and its DuckDB columns (what the audit table holds) are derived from that model, so a
field added to a record reaches both without a second edit. A field's storage type is set with
``Annotated`` where Python's type is not precise enough (``Int32``, ``JsonText``).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Annotated, Literal, Union

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

Status = Literal["ok", "error", "timeout"]


class DuckDBType(str):
    """A field's column type in DuckDB where the Arrow type's default mapping is not the one wanted."""


Int32 = Annotated[int, pa.int32()]
JsonText = Annotated[str | None, DuckDBType("JSON")]  # a JSON document kept as text in Parquet


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str


MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


class Prompt(BaseModel):
    """A task: the conversation up to the model's turn, and what a correct answer is checked against."""

    id: str
    domain: Literal["math", "code", "general"]
    messages: Annotated[list[Message], DuckDBType("JSON")] = Field(min_length=1)
    reference: str | None = None  # gold answer (math) or unit-test code (code)
    response: str | None = None  # a demonstration answer, when the source carries one
    source: str  # "file:line" the prompt was read from


class Sample(BaseModel):
    prompt_id: str
    sample_index: Int32
    text: str
    num_tokens: Int32
    finish_reason: Literal["stop", "length"]
    round: Int32
    checkpoint: str
    seed: int
    sampling: JsonText = None  # backend, n, temperature, top_p, max_new_tokens


class Verdict(BaseModel):
    prompt_id: str
    sample_index: Int32
    round: Int32
    verifier: str
    passed: bool
    score: float
    status: Status
    reason: str
    cost_seconds: float
    details: JsonText = None  # from the verifier, e.g. per-test outcomes
    sample_hash: str | None = None  # sample_text_hash of the text judged: a verdict never outlives its sample


class Example(BaseModel):
    """A training example: a full conversation, with where it came from."""

    example_id: str
    prompt_id: str
    domain: str
    messages: list[Message]
    source: str  # "file:line" of the prompt
    mix_source: str  # "pool" for the pool's examples (this project's samples), else the mixture source's name
    origin_round: Int32  # the round whose checkpoint wrote the answer (0 for outside data)
    score: float


class PreferencePair(BaseModel):
    """One prompt's passed sample (chosen) over a failed or lower-scored one (rejected), both of one round; the
    samples' keys are (origin_round, prompt_id, chosen_index / rejected_index), so their verdicts are a join away."""

    pair_id: str
    prompt_id: str
    domain: str
    source: str  # "file:line" of the prompt
    origin_round: Int32  # the round whose checkpoint wrote both responses
    prompt: list[Message]  # the conversation the responses answer
    chosen: str
    rejected: str
    chosen_index: Int32
    rejected_index: Int32
    chosen_score: float
    rejected_score: float
    margin: float
    chosen_tokens: Int32
    rejected_tokens: Int32


def training_example(prompt: Prompt, response: str, *, example_id: str, mix_source: str, origin_round: int,
                     score: float) -> dict:
    """The one place a training row is built: the prompt's turns and one assistant answer."""
    return Example(example_id=example_id, prompt_id=prompt.id, domain=prompt.domain,
                   messages=conversation(prompt, response), source=prompt.source, mix_source=mix_source,
                   origin_round=origin_round, score=score).model_dump()


# --- derived schemas ------------------------------------------------------------------------

_ARROW_OF_PYTHON = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
_DUCKDB_OF_ARROW = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
                    pa.bool_(): "BOOLEAN", pa.timestamp("us"): "TIMESTAMP", pa.list_(pa.string()): "VARCHAR[]"}


def _arrow_type(annotation, metadata: list) -> pa.DataType:
    for item in metadata:
        if isinstance(item, pa.DataType):
            return item
    if typing.get_origin(annotation) is Annotated:
        return _arrow_type(typing.get_args(annotation)[0], list(annotation.__metadata__))
    if typing.get_origin(annotation) in (Union, types.UnionType):  # Optional[X]: X, nullable anyway
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner, [])
    if typing.get_origin(annotation) is Literal:
        return _ARROW_OF_PYTHON[type(typing.get_args(annotation)[0])]
    if typing.get_origin(annotation) is list and typing.get_args(annotation) == (Message,):
        return MESSAGE_TYPE
    if annotation in _ARROW_OF_PYTHON:
        return _ARROW_OF_PYTHON[annotation]
    raise TypeError(f"no Arrow type for {annotation!r}: annotate the field with one")


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The Parquet schema of a record: one column per field, in the model's order."""
    return pa.schema([pa.field(name, _arrow_type(info.annotation, info.metadata))
                      for name, info in model.model_fields.items()])


def duckdb_columns(model: type[BaseModel], *, leading: dict[str, str] | None = None,
                   exclude: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> dict[str, str]:
    """A record's audit-table columns: ``leading`` ones first (the round, the split), then the
    model's fields (``only`` those, in that order, when given) with their DuckDB types."""
    fields = model.model_fields
    names = only if only is not None else [n for n in fields if n not in exclude]
    columns = dict(leading or {})
    for name in names:
        if name in columns:
            continue
        info = fields[name]
        declared = [m for m in info.metadata if isinstance(m, DuckDBType)]
        if not declared and typing.get_origin(info.annotation) is Annotated:
            declared = [m for m in info.annotation.__metadata__ if isinstance(m, DuckDBType)]
        columns[name] = str(declared[0]) if declared else _DUCKDB_OF_ARROW[_arrow_type(info.annotation, info.metadata)]
    return columns


PROMPT_SCHEMA = arrow_schema(Prompt)
SAMPLE_SCHEMA = arrow_schema(Sample)
VERDICT_SCHEMA = arrow_schema(Verdict)
# The evaluation's rows of every split in one file: the samples with their split and domain, the verdicts with their split.
EVAL_SAMPLE_SCHEMA = pa.schema([pa.field("split", pa.string()), pa.field("domain", pa.string()), *SAMPLE_SCHEMA])
EVAL_VERDICT_SCHEMA = pa.schema([pa.field("split", pa.string()), *VERDICT_SCHEMA])
EXAMPLE_SCHEMA = arrow_schema(Example)
PAIR_SCHEMA = arrow_schema(PreferencePair)


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

# select's audit rows (flywheel.curation.selection writes them; the store's prompt_difficulty, accepted_samples and
# decisions tables take their columns from these, see arrow_duckdb_columns).
DIFFICULTY_SCHEMA = pa.schema([("prompt_id", pa.string()), ("domain", pa.string()), ("n_samples", pa.int32()),
                               ("n_passed", pa.int32()), ("pass_rate", pa.float64()), ("status", pa.string())])
ACCEPTED_SCHEMA = pa.schema([("prompt_id", pa.string()), ("sample_index", pa.int32()), ("domain", pa.string())])
DECISION_SCHEMA = pa.schema([("prompt_id", pa.string()), ("sample_index", pa.int32()), ("domain", pa.string()),
                             ("rule", pa.string()), ("passed", pa.bool_()), ("finished", pa.bool_()),
                             ("score", pa.float64()), ("passed_by", pa.list_(pa.string())),
                             ("failed_by", pa.list_(pa.string()))])


def arrow_duckdb_columns(schema: pa.Schema, *, leading: dict[str, str] | None = None) -> dict[str, str]:
    """An Arrow schema's audit-table columns, ``leading`` ones first, with their DuckDB types."""
    return {**(leading or {}), **{f.name: _DUCKDB_OF_ARROW[f.type] for f in schema}}
