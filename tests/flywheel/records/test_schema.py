"""One definition per record: Parquet schemas and audit-table columns follow the pydantic models."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import BaseModel, ValidationError

from flywheel.records.schema import (
    EXAMPLE_SCHEMA,
    SAMPLE_SCHEMA,
    Example,
    Int32,
    JsonText,
    Message,
    Prompt,
    Sample,
    Verdict,
    arrow_schema,
    duckdb_columns,
    training_example,
)
from flywheel.store.database import TABLES


def test_a_new_field_reaches_arrow_and_duckdb_without_a_second_edit():
    class Record(BaseModel):
        name: str
        count: Int32
        total: int
        ratio: float | None = None
        ok: bool
        extra: JsonText = None
        turns: list[Message]

    schema = arrow_schema(Record)
    assert schema.names == ["name", "count", "total", "ratio", "ok", "extra", "turns"]
    assert schema.field("count").type == pa.int32() and schema.field("total").type == pa.int64()
    assert schema.field("turns").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert duckdb_columns(Record, leading={"round": "INTEGER"}, exclude=("turns",)) == {
        "round": "INTEGER", "name": "VARCHAR", "count": "INTEGER", "total": "BIGINT", "ratio": "DOUBLE",
        "ok": "BOOLEAN", "extra": "JSON"}


def test_a_field_with_no_storage_type_is_refused_by_name():
    class Record(BaseModel):
        when: complex

    with pytest.raises(TypeError, match="complex"):
        arrow_schema(Record)


@pytest.mark.parametrize("table, model", [("samples", Sample), ("verdicts", Verdict), ("eval_samples", Sample),
                                          ("eval_verdicts", Verdict)])
def test_record_tables_hold_every_field_of_their_model(table, model):
    assert set(model.model_fields) <= set(TABLES[table])
    assert list(TABLES[table])[0] == "round"


def test_prompt_table_stores_messages_as_json():
    assert TABLES["prompts"]["messages"] == "JSON"
    assert "response" not in TABLES["prompts"]  # the demonstration answer lives in the prompt's Parquet file


def test_parquet_schemas_follow_the_models():
    assert SAMPLE_SCHEMA.names == list(Sample.model_fields)
    assert SAMPLE_SCHEMA.field("seed").type == pa.int64() and SAMPLE_SCHEMA.field("round").type == pa.int32()
    assert EXAMPLE_SCHEMA.names == list(Example.model_fields)


def test_training_example_is_the_prompt_then_one_answer():
    prompt = Prompt(id="p1", domain="math", messages=[{"role": "user", "content": "1+1?"}], source="f.jsonl:3")
    row = training_example(prompt, "2", example_id="r1-p1-0", mix_source="pool", origin_round=1, score=1)
    assert row["messages"] == [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    assert row["score"] == 1.0 and isinstance(row["score"], float)
    assert pa.Table.from_pylist([row], schema=EXAMPLE_SCHEMA).num_rows == 1
    with pytest.raises(ValidationError, match="origin_round"):
        training_example(prompt, "2", example_id="x", mix_source="pool", origin_round="one", score=1.0)
