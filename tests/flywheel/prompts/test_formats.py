import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel.prompts.formats import PromptFormatError, load_prompts


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_three_formats_read_to_the_same_prompt(tmp_path):
    rows = [
        {"id": "a", "domain": "math", "instruction": "What is 2+2?", "input": "", "output": "4", "answer": "4"},
        {"id": "b", "domain": "math", "conversations": [{"from": "human", "value": "What is 2+2?"},
                                                         {"from": "gpt", "value": "4"}], "answer": "4"},
        {"id": "c", "domain": "math", "messages": [{"role": "user", "content": "What is 2+2?"},
                                                    {"role": "assistant", "content": "4"}], "reference": "4"},
    ]
    prompts = load_prompts(write_jsonl(tmp_path / "p.jsonl", rows))
    assert [p.id for p in prompts] == ["a", "b", "c"]
    for p in prompts:
        assert [m.model_dump() for m in p.messages] == [{"role": "user", "content": "What is 2+2?"}]
        assert p.response == "4" and p.reference == "4" and p.domain == "math"
    assert prompts[1].source.endswith("p.jsonl:2")


def test_alpaca_input_is_appended_and_default_domain_applies(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"instruction": "Summarise", "input": "Long text."}])
    (prompt,) = load_prompts(path, domain="general")
    assert prompt.messages[0].content == "Summarise\n\nLong text."
    assert prompt.id.startswith("general-")  # stable content hash when no id is given
    assert load_prompts(path, domain="general")[0].id == prompt.id


def test_parquet_is_read(tmp_path):
    table = pa.Table.from_pylist([{"id": "x", "domain": "code", "instruction": "Write f", "tests": "assert f()"}])
    pq.write_table(table, tmp_path / "p.parquet")
    (prompt,) = load_prompts(tmp_path / "p.parquet")
    assert prompt.reference == "assert f()" and prompt.source.endswith("p.parquet:1")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": 1, "domain": "math", "instruction": "ok"}\n{not json', "p.jsonl:2:2: not valid JSON"),
        # The column of an error at the end of a long line is that column, not 1 (the newline's next line).
        ('{"domain": "math", "instruction": "' + "x" * 200 + '"\n', "p.jsonl:1:237: not valid JSON (Expecting ',' delimiter at column 237 of 236)"),
        ('{"domain": "math", "messages": []}', "p.jsonl:1: 'messages' must be a non-empty list"),
        ('{"domain": "math", "conversations": [{"from": "alien", "value": "hi"}]}', "p.jsonl:1: conversations[0].from"),
        ('{"domain": "physics", "instruction": "hi"}', "p.jsonl:1: field 'domain'"),
        ('{"instruction": "hi"}', "p.jsonl:1: no 'domain'"),
        ('{"domain": "math", "text": "hi"}', "p.jsonl:1: cannot tell the format"),
        ('{"domain": "math", "messages": [{"role": "assistant", "content": "hi"}]}', "p.jsonl:1: the conversation must end"),
        ('[1, 2]', "p.jsonl:1: expected a JSON object"),
        ('{"id": "a", "domain": "math", "instruction": "x"}\n{"id": "a", "domain": "math", "instruction": "y"}',
         "p.jsonl:2: duplicate id 'a' (first at line 1)"),
    ],
)
def test_malformed_rows_fail_with_file_line_and_reason(tmp_path, line, reason):
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(PromptFormatError) as error:
        load_prompts(path)
    assert reason in str(error.value)


def test_bundled_task_set_reads():
    from tests.conftest import TASKS

    train = load_prompts(TASKS / "train.jsonl")
    heldout = load_prompts(TASKS / "heldout.jsonl")
    assert {p.domain for p in train} == {"math", "code", "general"}
    assert all(p.reference for p in heldout if p.domain != "general")
    # held-out ids are never training ids (the planted copies carry their own ids)
    assert not {p.id for p in train} & {p.id for p in heldout}


def test_non_utf8_and_binary_files_are_located(tmp_path):
    from flywheel.prompts.formats import PromptFormatError, load_prompts

    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"id": "a", "domain": "math", "messages": [{"role": "user", "content": "1+1"}]}\n'
                      b'{"id": "b", "domain": "math", "messages": [{"role": "user", "content": "caf\xe9"}]}\n')
    with pytest.raises(PromptFormatError, match=r"latin\.jsonl:2: not UTF-8 text \(byte 0xe9 at column"):
        load_prompts(latin)
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 20)
    with pytest.raises(PromptFormatError, match=r"blob\.jsonl:1: a NUL byte"):
        load_prompts(binary)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(PromptFormatError, match=r"broken\.parquet: not a readable Parquet file"):
        load_prompts(broken)


def test_an_empty_source_is_an_error_unless_allowed(tmp_path):
    from flywheel.prompts.formats import PromptFormatError, collect_prompts
    from flywheel.config import PromptSource

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(PromptFormatError, match=r"empty\.jsonl: no prompts in this source .*allow_empty"):
        collect_prompts([PromptSource(path=empty)])
    assert collect_prompts([PromptSource(path=empty)], allow_empty=True) == []


def test_a_checked_prompt_without_a_reference_is_caught_at_collect(tmp_path):
    from flywheel.prompts.formats import PromptFormatError, collect_prompts
    from flywheel.config import PromptSource

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "ok", "domain": "math", "messages": [{"role": "user", "content": "1+1"}], "reference": "2"}\n'
                    '{"id": "bad", "domain": "math", "messages": [{"role": "user", "content": "2+2"}]}\n')
    with pytest.raises(PromptFormatError, match=r"rows\.jsonl:2: math prompt 'bad' has no reference"):
        collect_prompts([PromptSource(path=rows)], needs_reference={"math"})
    assert len(collect_prompts([PromptSource(path=rows)])) == 2  # no checker asks for one: fine


def test_max_prompts_per_source_takes_the_first_n_of_each_and_still_reads_every_row(tmp_path):
    from flywheel.prompts.formats import collect_prompts
    from flywheel.config import PromptSource

    for name, count in (("a", 5), ("b", 3)):
        (tmp_path / f"{name}.jsonl").write_text("".join(
            json.dumps({"id": f"{name}{i}", "instruction": f"q{i}", "domain": "general"}) + "\n" for i in range(count)))
    prompts = collect_prompts([PromptSource(path=tmp_path / "a.jsonl", max_prompts=2),
                               PromptSource(path=tmp_path / "b.jsonl")])
    assert [p.id for p in prompts] == ["a0", "a1", "b0", "b1", "b2"]
    with (tmp_path / "a.jsonl").open("a") as handle:
        handle.write("{not json\n")  # past the cap, still found
    with pytest.raises(PromptFormatError, match=r"a\.jsonl:6"):
        collect_prompts([PromptSource(path=tmp_path / "a.jsonl", max_prompts=2)])


def test_a_source_language_is_written_into_json_references_and_a_row_field_wins(tmp_path):
    from flywheel.prompts.formats import collect_prompts
    from flywheel.config import PromptSource

    io = {"io": [["1 2\n", "3"]]}
    rows = [{"id": "a", "domain": "code", "messages": [{"role": "user", "content": "sum"}], "reference": io},
            {"id": "b", "domain": "code", "messages": [{"role": "user", "content": "sum"}], "reference": io,
             "language": "Rust"},
            {"id": "c", "domain": "code", "messages": [{"role": "user", "content": "sum"}],
             "reference": {**io, "language": "go"}},
            {"id": "d", "domain": "math", "messages": [{"role": "user", "content": "1+2"}], "reference": "3"}]
    source = PromptSource(path=write_jsonl(tmp_path / "p.jsonl", rows), language="cpp")
    prompts = {p.id: p for p in collect_prompts([source])}
    assert json.loads(prompts["a"].reference)["language"] == "cpp"
    assert json.loads(prompts["b"].reference)["language"] == "rust"  # the row's own
    assert json.loads(prompts["c"].reference)["language"] == "go"  # the reference's own
    assert prompts["d"].reference == "3"  # not code
    python_tests = [{"id": "e", "domain": "code", "messages": [{"role": "user", "content": "f"}],
                     "reference": "assert f() == 1"}]
    source = PromptSource(path=write_jsonl(tmp_path / "q.jsonl", python_tests), language="java")
    with pytest.raises(PromptFormatError, match=r"q.jsonl:1: language 'java'.*Python tests"):
        collect_prompts([source])
